"""`evaluate`: score update rules on a child task over a learning-rate grid and seeds.

The protocol (DeepOBS-style): every rule is trained with every learning rate of a log-spaced
grid and every seed, all as lanes of the batched interpreter (`nos.engine.interpreter`). Lanes that
share a seed share every minibatch, so on the supervised tasks the interpreter runs each seed's
lanes in chunks of their own on its shared-batch path (`nos.engine.interpreter.lanes`); results come
back per rule, learning rate and seed whatever the chunking. A rule's
*best learning rate* is the one with the lowest seed-mean `signal` among the rates at which no
seed diverged — ``"val_loss"``, the validation loss at the end (default), or ``"auc"``, the mean
training loss over the run (speed) — its *score* is that mean (lower is better) and
``score_std`` the standard deviation over seeds there. A search keeps each rule's
`RuleResult.outcome` (`nos.engine.outcome`), and its reward reads the score as it is
(`nos.search.reward`). Invalid rules (`search_space.rule_problem`: identically
zero, or independent of the gradient) are reported without being trained.

    from nos import evaluate
    ev = evaluate(["powersign", "adam", "exp(g3)*g"], task="mlp_digits", seeds=(0, 1))
    print(ev.table())
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from nos.engine.interpreter.lanes import resolve_task, run_lanes
from nos.engine.outcome import Outcome
from nos.limits import LANES_PER_CHUNK, MAX_STEPS, check_lanes
from nos.text_tables import text_table
from search_space import Rule, resolve_rule, rule_problem

SIGNALS = ("val_loss", "auc")
"""What a score measures: the final validation loss, or the mean training loss (area under the curve)."""
DEFAULT_LEARNING_RATES = tuple(float(x) for x in np.logspace(-4, 0, 10))
"""Ten log-spaced learning rates from 1e-4 to 1 (ratio 10^(4/9) ≈ 2.78 between neighbours)."""

__all__ = ["DEFAULT_LEARNING_RATES", "Evaluation", "RuleResult", "evaluate", "run_lanes"]


@dataclass
class RuleResult:
    """One rule's results over L learning rates × S seeds (C curve points).

    status: "ok"; "diverged" when every learning rate and seed diverged; "invalid" (not
        trained; `reason` says why).
    val_loss, val_metrics[name], diverged, final_loss: [L, S]; validation values are nan where
        the lane diverged. curves: [L, S, C] training loss, nan from divergence on.
    best_lr: the learning rate minimising the seed-mean signal (`evaluate`) among rates with no
        diverged seed (None if there is none); score: that mean (inf if none); score_std: the
        standard deviation over seeds there (nan if none).
    seconds: this rule's share of the evaluation's wall time (by lanes).
    """

    rule: Rule
    text: str
    status: str
    reason: str
    learning_rates: np.ndarray
    seeds: np.ndarray
    val_loss: np.ndarray
    val_metrics: dict
    diverged: np.ndarray
    curves: np.ndarray
    curve_steps: np.ndarray
    final_loss: np.ndarray
    best_lr: float | None
    score: float
    score_std: float
    seconds: float

    def metric_at_best(self, name: str) -> float:
        """Seed-mean validation metric `name` at the best learning rate (nan if none)."""
        if self.best_lr is None or name not in self.val_metrics:
            return math.nan
        row = int(np.flatnonzero(self.learning_rates == self.best_lr)[0])
        return float(np.mean(self.val_metrics[name][row]))

    def outcome(self) -> Outcome:
        """What a search keeps of this result (`nos.engine.outcome`): "ok" only with a best
        learning rate, else "diverged" (or "invalid"); per-rate metrics as JSON lists."""
        ok = self.status == "ok" and self.best_lr is not None
        metrics = {
            "learning_rates": [float(lr) for lr in self.learning_rates],
            "val_loss": _finite_list(self.val_loss),
            "diverged": np.asarray(self.diverged).tolist(),
            **{name: _finite_list(values) for name, values in self.val_metrics.items() if name != "loss"},
        }
        return Outcome(
            status="ok" if ok else "invalid" if self.status == "invalid" else "diverged",
            reason=self.reason,
            score=self.score if ok else None,
            best_lr=self.best_lr if ok else None,
            metrics=metrics,
            seconds=self.seconds,
        )

    def to_record(self) -> dict:
        """A JSON-serializable dict (nan and inf become None)."""
        return {
            "rule": self.text,
            "status": self.status,
            "reason": self.reason,
            "best_lr": self.best_lr,
            "score": _finite(self.score),
            "score_std": _finite(self.score_std),
            "metrics_at_best_lr": {k: _finite(self.metric_at_best(k)) for k in self.val_metrics},
            "diverged": int(self.diverged.sum()),
            "lanes": int(self.diverged.size),
            "seconds": self.seconds,
            "learning_rates": self.learning_rates.tolist(),
            "seeds": self.seeds.tolist(),
            "val_loss": _finite_list(self.val_loss),
            "val_metrics": {k: _finite_list(v) for k, v in self.val_metrics.items()},
            "final_loss": _finite_list(self.final_loss),
            "curve_steps": self.curve_steps.tolist(),
        }


@dataclass
class Evaluation:
    """The results of `evaluate`: one `RuleResult` per rule, in the order given."""

    results: list
    task: str
    learning_rates: tuple
    seeds: tuple
    steps: int
    curve_points: int
    seconds: float
    settings: dict = field(default_factory=dict)

    def __getitem__(self, key) -> RuleResult:
        """A result by position, or by the rule's text as given or canonical."""
        if isinstance(key, int):
            return self.results[key]
        for result in self.results:
            if key in (result.text, str(result.rule)):
                return result
        raise KeyError(f"no rule {key!r} in this evaluation")

    def __len__(self) -> int:
        return len(self.results)

    def table(self) -> str:
        """A text table: rule, status, best lr, score ± std, accuracy, diverged lanes, seconds."""
        accuracy = any("accuracy" in r.val_metrics for r in self.results)
        headers = ["rule", "status", "best lr", "score (val loss)"]
        headers += ["accuracy"] if accuracy else []
        headers += ["diverged", "seconds"]
        rows = []
        for r in self.results:
            row = [r.text, r.status if not r.reason else f"{r.status}: {r.reason}"]
            row.append("-" if r.best_lr is None else f"{r.best_lr:.3g}")
            row.append("-" if not math.isfinite(r.score) else f"{r.score:.4f} ± {r.score_std:.4f}")
            if accuracy:
                value = r.metric_at_best("accuracy")
                row.append("-" if math.isnan(value) else f"{value:.4f}")
            row += [f"{int(r.diverged.sum())}/{r.diverged.size}", f"{r.seconds:.2f}"]
            rows.append(row)
        title = (f"task {self.task}, {self.steps} steps, {len(self.learning_rates)} learning rates × "
                 f"{len(self.seeds)} seeds, {self.seconds:.1f} s")
        return title + "\n" + text_table(headers, rows)

    def to_records(self) -> list:
        """One JSON-serializable dict per rule (see `RuleResult.to_record`), with the task."""
        return [{"task": self.task, "steps": self.steps, **r.to_record()} for r in self.results]


def evaluate(rules, task="mlp_digits", learning_rates=None, seeds=(0,), steps: int = 300, *,
             task_config=None, curve_points: int = 30, lanes_per_chunk: int = LANES_PER_CHUNK,
             progress: bool = False, rows="auto", reuse_shapes: bool = False, units: int | None = None,
             signal: str = "val_loss", check: bool = True) -> Evaluation:
    """Train every rule at every learning rate and seed on `task`; see the module docstring.

    rules: Rules, catalog names (``"powersign"``) or texts (``"exp(sign(g)*sign(m))*g"``); a
        single one may be given alone. Text that does not parse raises ParseError.
    task: a registered task name (built with `task_config`) or a Task.
    learning_rates: the grid; None means `DEFAULT_LEARNING_RATES` (10 points, 1e-4 … 1).
    seeds: the seeds of every learning rate (initialisation and minibatches).
    steps: training steps per lane; the decay operands use D = steps.
    curve_points: windows of the training-loss curve (each point is the mean training loss of
        ``steps // curve_points`` steps); lanes_per_chunk: lanes per compiled call (at most; a
        chunk holds one seed's lanes on the supervised tasks).
    progress: show a tqdm bar over lanes. rows: the kernel's row table policy, as `run_lanes`
        (``"grammar"`` for a search: later batches of other rules never retrace). reuse_shapes:
        as `run_lanes` (True for a search: steps of any size share a compiled loop). units: pad
        every program to at least this many units, as `run_lanes` (a search: its space's units, so
        that its first step builds the loop every later step runs).
    signal: what the best learning rate and score minimise, one of `SIGNALS`.
    check: test every rule with `rule_problem` first; False when the caller did (a search
        checks its rules once, before they are sent to train).
    """
    if isinstance(rules, (str, Rule)):
        rules = [rules]
    items = list(rules)
    if not items:
        raise ValueError("evaluate needs at least one rule")
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or not 1 <= steps <= MAX_STEPS:
        raise ValueError(f"steps must be an int in 1..{MAX_STEPS:,}, got {steps!r}")
    lrs = np.asarray(DEFAULT_LEARNING_RATES if learning_rates is None else learning_rates, np.float64)
    seeds = np.asarray(seeds, np.int64)
    if lrs.ndim != 1 or lrs.size == 0 or not np.all(np.isfinite(lrs)) or np.any(lrs <= 0):
        raise ValueError(f"learning_rates must be a non-empty sequence of positive numbers, got {learning_rates!r}")
    if seeds.ndim != 1 or seeds.size == 0:
        raise ValueError(f"seeds must be a non-empty sequence of ints, got {seeds!r}")
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {', '.join(SIGNALS)}, got {signal!r}")
    check_lanes(len(items), lrs.size, seeds.size)
    parsed = [resolve_rule(item) for item in items]
    texts = [item if isinstance(item, str) else str(item) for item in items]
    task = resolve_task(task, task_config)

    problems = [rule_problem(rule) if check else None for rule in parsed]
    valid = [i for i, problem in enumerate(problems) if problem is None]
    started = time.perf_counter()
    lanes = None
    if valid:
        grid_lr, grid_seed = np.meshgrid(lrs, seeds, indexing="ij")
        per_rule = grid_lr.size
        lanes = run_lanes(
            task,
            [parsed[i] for i in valid for _ in range(per_rule)],
            np.tile(grid_lr.ravel(), len(valid)),
            np.tile(grid_seed.ravel(), len(valid)),
            steps,
            curve_points=curve_points,
            lanes_per_chunk=lanes_per_chunk,
            progress=progress,
            rows=rows,
            reuse_shapes=reuse_shapes,
            units=units,
        )
    seconds = time.perf_counter() - started

    shape = (lrs.size, seeds.size)
    results = []
    for i, (rule, text, problem) in enumerate(zip(parsed, texts, problems)):
        if problem is not None:
            results.append(_invalid(rule, text, problem, lrs, seeds))
            continue
        k = valid.index(i)
        block = slice(k * lrs.size * seeds.size, (k + 1) * lrs.size * seeds.size)
        results.append(
            _result(rule, text, lrs, seeds, shape, lanes, block, seconds / len(valid), signal)
        )
    return Evaluation(
        results=results,
        task=task.name,
        learning_rates=tuple(lrs.tolist()),
        seeds=tuple(seeds.tolist()),
        steps=steps,
        curve_points=curve_points,
        seconds=seconds,
        settings={"lanes_per_chunk": lanes_per_chunk, "task_config": dict(task.config)},
    )


def signal_values(val_loss, curves, signal: str = "val_loss") -> np.ndarray:
    """[L, S]: each lane's `signal` (the validation loss, or the mean of its [L, S, C] curve)."""
    if signal == "auc":
        with np.errstate(all="ignore"):
            return np.nanmean(curves, axis=-1) if np.size(curves) else np.full(np.shape(val_loss), np.nan)
    return np.asarray(val_loss)


def best_learning_rate(lrs, val_loss, diverged, curves=None, signal: str = "val_loss"):
    """(best lr or None, score, score_std) from [L, S] validation losses, divergence flags and
    [L, S, C] curves: the seed-mean of `signal` per rate, inf where a seed diverged or a value
    is not finite; its minimum."""
    values = signal_values(val_loss, curves, signal)
    per_lane = np.where(diverged | ~np.isfinite(values), np.inf, values)
    means = per_lane.mean(axis=1)
    best = int(np.argmin(means))
    if not np.isfinite(means[best]):
        return None, math.inf, math.nan
    return float(lrs[best]), float(means[best]), float(np.std(values[best]))


def _result(rule, text, lrs, seeds, shape, lanes, block, seconds, signal) -> RuleResult:
    val_loss = lanes.validation["loss"][block].reshape(shape)
    diverged = lanes.diverged[block].reshape(shape)
    curves = lanes.curves[block].reshape(*shape, -1)
    best_lr, score, score_std = best_learning_rate(lrs, val_loss, diverged, curves, signal)
    everything_diverged = bool(diverged.all())
    return RuleResult(
        rule=rule,
        text=text,
        status="diverged" if everything_diverged else "ok",
        reason="every learning rate and seed diverged" if everything_diverged else (
            "" if best_lr is not None else "no learning rate ran without divergence on every seed"),
        learning_rates=lrs.copy(),
        seeds=seeds.copy(),
        val_loss=val_loss,
        val_metrics={name: values[block].reshape(shape) for name, values in lanes.validation.items()},
        diverged=diverged,
        curves=curves,
        curve_steps=lanes.curve_steps,
        final_loss=lanes.final_loss[block].reshape(shape),
        best_lr=best_lr,
        score=score,
        score_std=score_std,
        seconds=seconds,
    )


def _invalid(rule, text, problem, lrs, seeds) -> RuleResult:
    shape = (lrs.size, seeds.size)
    empty = np.full(shape, np.nan)
    return RuleResult(
        rule=rule, text=text, status="invalid", reason=problem, learning_rates=lrs.copy(),
        seeds=seeds.copy(), val_loss=empty, val_metrics={}, diverged=np.zeros(shape, bool),
        curves=np.full((*shape, 0), np.nan), curve_steps=np.zeros(0, np.int64), final_loss=empty.copy(),
        best_lr=None, score=math.inf, score_std=math.nan, seconds=0.0,
    )


def _finite(value):
    return float(value) if value is not None and math.isfinite(value) else None


def _finite_list(array):
    return [_finite_list(a) for a in array] if np.ndim(array) > 1 else [_finite(float(x)) for x in array]
