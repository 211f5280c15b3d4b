"""Rewards for the search: a rule's score on a child task, normalised against a baseline rule.

A rule's score s is, at its best learning rate of the grid (mean over seeds; both as
`nos.engine.grid` computes them, once, where the rule is trained):
  - ``val_loss``: the validation loss at the end of training, or
  - ``auc``: the mean training loss over the run (the area under the loss curve: speed).
With the baseline rule's score b measured on the same task, grid and seeds,

    reward = b / (b + s)

which is 0.5 for a rule as good as the baseline, tends to 1 as s → 0 and to 0 as s → ∞.

With several tasks (``[reward] tasks``) a rule is trained on each, rewarded r_t = b_t/(b_t + s_t)
against the baseline there, and the rewards combine by ``aggregate``: the geometric mean
(Π r_t)^(1/T) (default: a rule must do well everywhere, and diverging on one task gives 0), the
arithmetic mean, or the minimum. Its score and best learning rate are the first task's; its
metrics hold every task's under ``tasks`` and the per-task rewards under ``rewards``.
A rule that diverges at every learning rate, is invalid, or *failed* (its worker crashed, raised
or timed out: see `nos.search.executors`) gets reward 0; a failure is recorded with its reason and is
never cached, so the rule is trained again if it is proposed again. Validation
*accuracy* is not used: on mlp_digits it is 0.97–0.98 for SGD, Adam, PowerSign and AddSign
alike, so it cannot tell rules apart, while their validation losses differ by 2×.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from nos.engine.outcome import Outcome
from nos.errors import NosError
from nos.search.config import RewardConfig
from nos.search.executors import make_executor


def reward_of(score: float | None, baseline: float) -> float:
    """b / (b + s); 0 for no score (the rule did not train to one)."""
    if score is None or not math.isfinite(score) or score < 0:
        return 0.0
    return float(baseline / (baseline + score)) if baseline + score > 0 else 1.0


AGGREGATE = {
    "geometric": lambda rewards: float(np.prod(rewards) ** (1.0 / len(rewards))),
    "arithmetic": lambda rewards: float(np.mean(rewards)),
    "min": lambda rewards: float(np.min(rewards)),
}
"""How per-task rewards combine (`RewardConfig.aggregate`)."""


class Scorer:
    """Trains rules on the configured task(s) through an executor (default: local) and rewards them.

    `baseline_score` is the baseline's score: a number for one task, {task: score} for several
    (as the run store keeps it). `checked`: every rule it is given has passed `rule_problem`
    (a search checks its rules once, before training them), so the engine does not check again.
    """

    def __init__(self, config: RewardConfig, baseline_score: float | dict | None = None, executor=None,
                 checked: bool = False, units: int | None = None):
        self.config = config
        self.units = units
        self.checked = checked
        self.tasks = config.task_list()
        self.baseline_score = baseline_score
        self.executor = executor if executor is not None else make_executor()
        self.rules_trained = 0

    def child(self, task: str | None = None, task_config: dict | None = None, rows="grammar") -> dict:
        """Keyword arguments of `nos.engine.grid.evaluate` for a configured task (the first by
        default). The kernel's row table (`rows`) is the whole grammar's at `units` units (the
        search space's, when given) and its shape is reused by smaller steps, so a search compiles
        one loop for its steps, not one per new rule, rule length or step size (`nos bench`, end
        to end)."""
        if task is None:
            task, task_config = self.tasks[0]
        return {
            "task": task,
            "task_config": task_config,
            "learning_rates": self.config.learning_rates,
            "seeds": self.config.seeds,
            "steps": self.config.steps,
            "signal": self.config.signal,
            "rows": rows,
            "reuse_shapes": True,
            "units": self.units if rows == "grammar" else None,
            "check": not self.checked,
        }

    def evaluate(self, rules, deadline: float | None = None, task: tuple[str, dict] | None = None,
                 rows="grammar") -> list:
        """One `Outcome` per rule, text or Rule (without its reward), on
        `task` (name, config; default the first); with a `deadline`, for the prefix of `rules`
        trained before it (see `Executor.run`)."""
        results = self.executor.run(list(rules), self.child(*(task or self.tasks[0]), rows=rows), deadline)
        self.rules_trained += len(results)
        return results

    def measure_baseline(self) -> float | dict:
        """The baseline rule's score, per task when there are several (computed once; stored with
        the run)."""
        if self.baseline_score is None:
            scores = {name: self._baseline_on((name, task_config)) for name, task_config in self.tasks}
            self.baseline_score = scores if self.config.tasks else scores[self.tasks[0][0]]
        return self.baseline_score

    def _baseline_on(self, task) -> float:
        """The baseline's score on `task`, trained on the rows of its one rule: a small loop, quick
        to compile, with the numbers of the whole grammar's (the row table selects, it does not
        compute: `tests/test_interpreter.py::test_the_row_table_does_not_change_the_numbers`)."""
        (result,) = self.evaluate([self.config.baseline], task=task, rows="exact")
        if result.status == "failed":
            raise NosError(f"could not measure the baseline {self.config.baseline} on {task[0]}: {result.reason}")
        if result.score is None:
            raise ValueError(f"baseline {self.config.baseline} diverged at every learning rate on {task[0]}")
        return result.score

    def score(self, rules, deadline: float | None = None) -> list[Outcome]:
        """The `Outcome` of each rule with its reward (of a prefix of them with a `deadline`)."""
        baseline = self.measure_baseline()
        if not self.config.tasks:
            return self._score_on(rules, self.tasks[0], baseline, deadline)
        per_task = {}
        for task in self.tasks:
            per_task[task[0]] = self._score_on(rules, task, baseline[task[0]], deadline)
            rules = rules[: len(per_task[task[0]])]
        return [self._combine({name: scored[i] for name, scored in per_task.items()}) for i in range(len(rules))]

    def _combine(self, by_task: dict[str, Outcome]) -> Outcome:
        """One rule's outcome on several tasks: failed or invalid if it was on any, else the
        `AGGREGATE` of its rewards (status "diverged" when it diverged on every task)."""
        first = next(iter(by_task.values()))
        seconds = sum(o.seconds for o in by_task.values())
        for status in ("failed", "invalid"):
            broken = {name: o for name, o in by_task.items() if o.status == status}
            if broken:
                name, outcome = next(iter(broken.items()))
                return Outcome(status, f"{name}: {outcome.reason}", metrics=outcome.metrics, seconds=seconds)
        rewards = {name: o.reward for name, o in by_task.items()}
        every_diverged = all(o.status == "diverged" for o in by_task.values())
        return Outcome(
            "diverged" if every_diverged else "ok",
            "; ".join(f"{name}: {o.reason}" for name, o in by_task.items() if o.reason) or None,
            first.score,
            first.best_lr,
            {"tasks": {name: o.metrics for name, o in by_task.items()}, "rewards": rewards},
            seconds,
            AGGREGATE[self.config.aggregate](list(rewards.values())),
        )

    def _score_on(self, rules, task, baseline: float, deadline) -> list[Outcome]:
        """Each rule's outcome on `task` with its reward against `baseline` (0 unless "ok")."""
        outcomes = self.evaluate(rules, deadline, task) if rules else []
        return [dataclasses.replace(o, reward=reward_of(o.score, baseline)) for o in outcomes]
