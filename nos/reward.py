"""Rewards for the search: a rule's score on a child task, normalised against a baseline rule.

A rule's score s is, at its best learning rate of the grid (mean over seeds):
  - ``val_loss``: the validation loss at the end of training, or
  - ``auc``: the mean training loss over the run (the area under the loss curve: speed).
With the baseline rule's score b measured on the same task, grid and seeds,

    reward = b / (b + s)

which is 0.5 for a rule as good as the baseline, tends to 1 as s → 0 and to 0 as s → ∞.
A rule that diverges at every learning rate, is invalid, or *failed* (its worker crashed, raised
or timed out: see `nos.executors`) gets reward 0; a failure is recorded with its reason and is
never cached, so the rule is trained again if it is proposed again. Validation
*accuracy* is not used: on mlp_digits it is 0.97–0.98 for SGD, Adam, PowerSign and AddSign
alike, so it cannot tell rules apart, while their validation losses differ by 2×.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from nos.config import RewardConfig
from nos.errors import NosError
from nos.executors import Failure, make_executor


@dataclass
class Scored:
    """The outcome of training one rule."""

    status: str
    reward: float
    score: float | None
    best_lr: float | None
    reason: str | None
    metrics: dict
    seconds: float


def signal_per_lr(record: dict, signal: str) -> np.ndarray:
    """The score of each learning rate of a `nos.executors.chunk.record` (mean over seeds; inf
    where any seed diverged)."""
    if signal == "auc":
        per_lane = np.nanmean(record["curves"], axis=-1)
    else:
        per_lane = record["val_loss"]
    per_lane = np.where(record["diverged"] | ~np.isfinite(per_lane), np.inf, per_lane)
    return per_lane.mean(axis=1)


def reward_of(score: float, baseline: float) -> float:
    if not math.isfinite(score) or score < 0:
        return 0.0
    return float(baseline / (baseline + score)) if baseline + score > 0 else 1.0


class Scorer:
    """Trains rules on the configured task through an executor (default: local) and rewards them."""

    def __init__(self, config: RewardConfig, baseline_score: float | None = None, executor=None):
        self.config = config
        self.baseline_score = baseline_score
        self.executor = executor if executor is not None else make_executor()
        self.rules_trained = 0

    def child(self) -> dict:
        """Keyword arguments of `nos.evaluation.evaluate` for the configured task. The kernel's
        row table is the whole grammar's and its shape is reused by smaller steps, so a search
        compiles a loop or two, not one per new rule or step size (`nos bench`, end to end)."""
        return {
            "task": self.config.task,
            "task_config": self.config.task_config,
            "learning_rates": self.config.learning_rates,
            "seeds": self.config.seeds,
            "steps": self.config.steps,
            "rows": "grammar",
            "reuse_shapes": True,
        }

    def evaluate(self, rules, deadline: float | None = None) -> list:
        """One record (see `nos.executors.chunk.record`) or `Failure` per rule, text or Rule; with
        a `deadline`, for the prefix of `rules` trained before it (see `Executor.run`)."""
        texts = [rule if isinstance(rule, str) else str(rule) for rule in rules]
        results = self.executor.run(texts, self.child(), deadline)
        self.rules_trained += len(results)
        return results

    def measure_baseline(self) -> float:
        """The baseline rule's score (computed once; stored with the run)."""
        if self.baseline_score is None:
            (result,) = self.evaluate([self.config.baseline])
            if isinstance(result, Failure):
                raise NosError(f"could not measure the baseline {self.config.baseline}: {result.reason}")
            score = float(np.min(signal_per_lr(result, self.config.signal)))
            if not math.isfinite(score):
                raise ValueError(f"baseline {self.config.baseline} diverged at every learning rate")
            self.baseline_score = score
        return self.baseline_score

    def score(self, rules, deadline: float | None = None) -> list[Scored]:
        """The `Scored` outcome of each rule (of a prefix of them with a `deadline`)."""
        baseline = self.measure_baseline()
        outcomes = []
        for result in self.evaluate(rules, deadline) if rules else []:
            if isinstance(result, Failure):
                attempts = {"attempts": result.attempts}
                outcomes.append(Scored("failed", 0.0, None, None, result.reason, attempts, result.seconds))
                continue
            metrics = {
                "learning_rates": list(map(float, result["learning_rates"])),
                "val_loss": _listed(result["val_loss"]),
                "diverged": np.asarray(result["diverged"]).tolist(),
                **{name: _listed(values) for name, values in result["val_metrics"].items() if name != "loss"},
            }
            if result["status"] == "invalid":
                invalid = Scored("invalid", 0.0, None, None, result["reason"], metrics, result["seconds"])
                outcomes.append(invalid)
                continue
            per_lr = signal_per_lr(result, self.config.signal)
            best = int(np.argmin(per_lr))
            score = float(per_lr[best])
            status = "ok" if math.isfinite(score) else "diverged"
            outcomes.append(
                Scored(
                    status,
                    reward_of(score, baseline),
                    score if status == "ok" else None,
                    float(result["learning_rates"][best]) if status == "ok" else None,
                    result["reason"],
                    metrics,
                    result["seconds"],
                )
            )
        return outcomes


def _listed(values) -> list:
    array = np.asarray(values, dtype=float)
    return np.where(np.isfinite(array), array, None).tolist()
