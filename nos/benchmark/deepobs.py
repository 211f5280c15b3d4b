"""The benchmark protocol of `nos evaluate`, after DeepOBS (Schneider et al., ICLR 2019).

For every task and rule:
  1. tune: train with each learning rate of a log-spaced grid on the first seed;
  2. pick the learning rate with the lowest validation loss (diverged settings excluded);
  3. rerun that setting on every seed and report mean ± std of the validation loss (and
     accuracy where the task has it), the training-loss curve with its spread, and how many
     runs diverged in tuning and in the reruns;
  4. with a baseline rule: a Student-t interval of each rule's mean loss, and a paired t-test
     of each rule against the baseline on the same task over the same seeds (`nos.benchmark.statistics`).
Rules that are invalid or diverge at every learning rate are reported as such, not dropped.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from nos.benchmark import statistics

BASELINES = ("sgd", "momentum", "adam", "rmsprop", "powersign", "addsign")
DEFAULT_GRID = tuple(float(x) for x in np.logspace(-4, 0, 9))
DEFAULT_SEEDS = 5
"""Seeds of the rerun (0..N-1): enough for a t-interval and a paired test to say something."""
DEFAULT_STEPS = {"rosenbrock": 4000, "quadratic": 300, "logreg": 300, "mlp_digits": 300, "conv_digits": 300,
                 "mlp_diabetes": 300, "matrix_factorization": 300, "cifar10_conv": 400, "char_lm": 300}
"""Training steps per task; cifar10_conv's 400 are about 5 epochs of its default 5,000 images at batch 64,
the paper's child budget; char_lm's 300 read 300 x 32 windows of 24 characters, 3.8 passes over its text."""
SUITES = {
    "small": ("quadratic", "logreg", "mlp_digits"),
    "all": ("rosenbrock", "quadratic", "logreg", "mlp_digits", "conv_digits", "mlp_diabetes", "matrix_factorization",
            "char_lm"),
    "images": ("mlp_digits", "conv_digits"),
    "cifar": ("cifar10_conv",),
}
"""Task lists of `nos evaluate --suite`; "cifar" needs CIFAR-10 on disk (`nos.engine.tasks.cifar10`)."""


@dataclass
class Outcome:
    """One rule on one task under the protocol."""

    task: str
    label: str
    rule: str
    origin: str
    status: str
    best_lr: float | None = None
    tuning: list = field(default_factory=list)
    seeds: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    mean: float = float("nan")
    std: float = float("nan")
    accuracy: float | None = None
    diverged: int = 0
    runs: int = 0
    curve_steps: list = field(default_factory=list)
    curve_mean: list = field(default_factory=list)
    curve_std: list = field(default_factory=list)
    ci_low: float | None = None
    ci_high: float | None = None
    baseline: str | None = None
    diff_mean: float | None = None
    diff_ci_low: float | None = None
    diff_ci_high: float | None = None
    p_value: float | None = None
    n_paired: int | None = None
    verdict: str | None = None

    def record(self) -> dict:
        data = asdict(self)
        return {k: _jsonable(v) for k, v in data.items()}


def _jsonable(value):
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    return value


def run_protocol(refs, tasks, *, learning_rates=DEFAULT_GRID, seeds=tuple(range(DEFAULT_SEEDS)), steps=None,
                 task_config=None, progress=None, baseline=None) -> list[Outcome]:
    """Tune, pick and rerun every rule of `refs` (RuleRefs) on every task.

    `baseline`, a rule of `refs`, is the one every rule is compared with (`compare_with_baseline`).
    """
    from nos.engine.grid import evaluate

    if baseline is not None and baseline not in [r.rule for r in refs]:
        raise ValueError(f"the baseline {baseline} is not among the evaluated rules")
    outcomes = []
    for task in tasks:
        task_steps = steps or DEFAULT_STEPS.get(task, 300)
        if progress:
            progress(f"{task}: tuning {len(refs)} rules over {len(learning_rates)} learning rates")
        tuned = evaluate([r.rule for r in refs], task=task, task_config=task_config or {},
                         learning_rates=list(learning_rates), seeds=[seeds[0]], steps=task_steps).results
        by_lr: dict[float, list[int]] = {}
        for i, result in enumerate(tuned):
            if result.best_lr is not None:
                by_lr.setdefault(float(result.best_lr), []).append(i)
        reruns = {}
        for lr, indices in by_lr.items():
            if progress:
                progress(f"{task}: rerunning {len(indices)} rules at lr {lr:g} on {len(seeds)} seeds")
            results = evaluate([refs[i].rule for i in indices], task=task, task_config=task_config or {},
                               learning_rates=[lr], seeds=list(seeds), steps=task_steps).results
            reruns.update(zip(indices, results))
        task_outcomes = [_outcome(task, ref, result, reruns.get(i))
                         for i, (ref, result) in enumerate(zip(refs, tuned))]
        if baseline is not None:
            compare_with_baseline(task_outcomes, str(baseline))
        outcomes += task_outcomes
    return outcomes


def compare_with_baseline(outcomes: list[Outcome], baseline_rule: str) -> None:
    """Fill each outcome's paired comparison with the outcome of rule text `baseline_rule` on its task."""
    base = {o.task: o for o in outcomes if o.rule == baseline_rule}
    for o in outcomes:
        b = base.get(o.task)
        if b is None:
            continue
        o.baseline = b.label
        if o is b:
            o.verdict = statistics.IS_BASELINE
            continue
        c = statistics.paired(dict(zip(o.seeds, o.val_loss)), dict(zip(b.seeds, b.val_loss)))
        o.diff_mean, o.diff_ci_low, o.diff_ci_high = c.diff_mean, c.diff_low, c.diff_high
        o.p_value, o.n_paired, o.verdict = c.p_value, c.n, c.verdict


def _outcome(task, ref, tuned, rerun) -> Outcome:
    tuning = [
        (float(lr), float(loss) if np.isfinite(loss) else None, bool(div))
        for lr, loss, div in zip(tuned.learning_rates, tuned.val_loss[:, 0], tuned.diverged[:, 0])
    ]
    outcome = Outcome(task, ref.label, str(ref.rule), ref.origin, tuned.status, tuning=tuning,
                      diverged=int(np.sum(tuned.diverged)), runs=int(np.size(tuned.diverged)))
    if rerun is None:
        return outcome
    losses = rerun.val_loss[0]
    finite = np.isfinite(losses) & ~rerun.diverged[0]
    outcome.best_lr = float(tuned.best_lr)
    outcome.seeds = [int(s) for s in rerun.seeds]
    outcome.val_loss = [float(x) if ok else None for x, ok in zip(losses, finite)]
    outcome.diverged += int(np.sum(rerun.diverged))
    outcome.runs += int(np.size(rerun.diverged))
    if finite.any():
        outcome.mean = float(np.mean(losses[finite]))
        outcome.std = float(np.std(losses[finite]))
        interval = statistics.mean_interval(losses[finite])
        outcome.ci_low, outcome.ci_high = interval.low, interval.high
        outcome.status = "ok" if finite.all() else "partly diverged"
    else:
        outcome.status = "diverged"
    accuracy = rerun.val_metrics.get("accuracy")
    if accuracy is not None and finite.any():
        outcome.accuracy = float(np.mean(np.asarray(accuracy)[0][finite]))
    curves = np.asarray(rerun.curves[0], dtype=float)[finite]
    if len(curves):
        outcome.curve_steps = [int(s) for s in rerun.curve_steps]
        outcome.curve_mean = np.nanmean(curves, axis=0).tolist()
        outcome.curve_std = np.nanstd(curves, axis=0).tolist()
    return outcome


_CI = f"{statistics.CONFIDENCE:.0%} CI"
HEADERS = ["task", "rule", "best lr", "val loss (mean ± std)", _CI, f"vs baseline (Δ mean [{_CI}], p, n)",
           "verdict", "accuracy", "diverged", "status"]


def table_rows(outcomes: list[Outcome]) -> list[list]:
    rows = []
    for o in sorted(outcomes, key=lambda o: (o.task, o.mean if np.isfinite(o.mean) else np.inf)):
        rows.append([
            o.task,
            o.label if o.label == o.rule else f"{o.label}: {o.rule}",
            f"{o.best_lr:g}" if o.best_lr else "-",
            f"{o.mean:.4g} ± {o.std:.2g}" if np.isfinite(o.mean) else "-",
            f"[{o.ci_low:.4g}, {o.ci_high:.4g}]" if o.ci_low is not None else "-",
            _versus(o),
            o.verdict or "-",
            f"{o.accuracy:.4f}" if o.accuracy is not None else "-",
            f"{o.diverged}/{o.runs}",
            o.status,
        ])
    return rows


def _versus(o: Outcome) -> str:
    """Δ mean [CI], p, n of the paired comparison; what is undefined is left out."""
    if o.verdict == statistics.IS_BASELINE:
        return "(the baseline)"
    if o.diff_mean is None:
        return "-" if o.n_paired is None else "no paired seeds"
    if o.p_value is None:
        return f"{o.diff_mean:+.3g}, n={o.n_paired}"
    interval = f"[{o.diff_ci_low:+.3g}, {o.diff_ci_high:+.3g}]"
    return f"{o.diff_mean:+.3g} {interval}, p={o.p_value:.2g}, n={o.n_paired}"
