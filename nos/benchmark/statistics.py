"""Comparing a rule with the baseline over seeds: Student-t intervals and a paired t-test (scipy.stats).

`nos evaluate` reruns every rule at its tuned learning rate on seeds 0..N-1, each seed with the
same initialization and data order for every rule, so a rule's and the baseline's validation
losses on one seed form a pair. For losses x_1..x_n of one rule (diverged seeds left out):

    mean  x̄ = Σ x_i / n,    s = sqrt(Σ (x_i − x̄)² / (n − 1)),
    CI    x̄ ± t_{1−α/2, n−1} · s / √n        (Student t with n − 1 degrees of freedom).

For the pairs, d_i = x_i(rule) − x_i(baseline) over the seeds where neither diverged (n used):

    Δ = d̄ ± t_{1−α/2, n−1} · s_d / √n,   T = d̄ / (s_d / √n),   p = 2 · P(t_{n−1} > |T|)

(`scipy.stats.ttest_rel`, two-sided). At level α = `LEVEL` the verdict is "better" when p < α
and Δ < 0 (lower loss is better), "worse" when p < α and Δ > 0, else "not distinguishable";
p < α is the same as the interval of Δ excluding 0. Edge cases, where the t statistic is 0/0
or x/0: with n < 2 there is no estimate of the spread, so no interval and no test (the
verdict is "not distinguishable"); when every d_i is exactly 0 the rules agree on every seed
(Δ = 0, p = 1: "not distinguishable"); when every d_i is the same nonzero number the
difference is certain (interval [d, d], p = 0: "better" or "worse").
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

LEVEL = 0.05
"""Significance level of the paired test; the intervals' confidence is 1 − LEVEL."""
CONFIDENCE = 1 - LEVEL

BETTER, WORSE, NOT_DISTINGUISHABLE = "better", "worse", "not distinguishable"
IS_BASELINE = "-"
"""The verdict of the baseline rule itself."""


@dataclass(frozen=True)
class MeanInterval:
    """A rule's losses over seeds: n finite values, their mean, sample std (n − 1) and t-interval.

    std, low and high are None when n < 2 (no spread can be estimated from one value); mean is
    None when n = 0.
    """

    n: int
    mean: float | None
    std: float | None
    low: float | None
    high: float | None


@dataclass(frozen=True)
class Comparison:
    """A rule against the baseline over paired seeds: Δ = mean of (rule − baseline) and its test.

    diff_mean is None when n = 0; diff_low, diff_high and p_value are None when n < 2.
    """

    n: int
    diff_mean: float | None
    diff_low: float | None
    diff_high: float | None
    p_value: float | None
    verdict: str


def _finite(values: Iterable[float | None]) -> np.ndarray:
    array = np.array([np.nan if v is None else v for v in values], dtype=float)
    return array[np.isfinite(array)]


def _half_width(std: float, n: int) -> float:
    """t_{1−α/2, n−1} · s / √n."""
    from scipy import stats  # here, not at import: the CLI reads this module's constants at startup

    return float(stats.t.ppf(1 - LEVEL / 2, n - 1)) * std / math.sqrt(n)


def mean_interval(values: Iterable[float | None]) -> MeanInterval:
    """Mean and `CONFIDENCE` Student-t interval of the finite values (None and NaN/inf are left out)."""
    x = _finite(values)
    n = len(x)
    if n == 0:
        return MeanInterval(0, None, None, None, None)
    mean = float(np.mean(x))
    if n < 2:
        return MeanInterval(1, mean, None, None, None)
    std = float(np.std(x, ddof=1))
    half = _half_width(std, n)
    return MeanInterval(n, mean, std, mean - half, mean + half)


def paired(rule: Mapping[int, float | None], baseline: Mapping[int, float | None]) -> Comparison:
    """Paired t-test of rule − baseline over the seeds both have with finite losses (seed → loss)."""
    seeds = [s for s in rule if s in baseline and _finite([rule[s], baseline[s]]).size == 2]
    d = np.array([rule[s] - baseline[s] for s in seeds], dtype=float)
    n = len(d)
    if n == 0:
        return Comparison(0, None, None, None, None, NOT_DISTINGUISHABLE)
    diff = float(np.mean(d))
    if n < 2:
        return Comparison(1, diff, None, None, None, NOT_DISTINGUISHABLE)
    if np.all(d == d[0]):  # s_d = 0: T is 0/0 (all zero) or ±d/0 (certain), not a NaN
        diff = float(d[0])
        p = 1.0 if diff == 0 else 0.0
        return Comparison(n, diff, diff, diff, p, _verdict(diff, p))
    from scipy import stats

    test = stats.ttest_rel([rule[s] for s in seeds], [baseline[s] for s in seeds])
    interval = test.confidence_interval(CONFIDENCE)
    p = float(test.pvalue)
    return Comparison(n, diff, float(interval.low), float(interval.high), p, _verdict(diff, p))


def _verdict(diff: float, p: float) -> str:
    if p < LEVEL and diff != 0:
        return BETTER if diff < 0 else WORSE
    return NOT_DISTINGUISHABLE
