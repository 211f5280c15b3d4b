"""`nos.benchmark.statistics` and its columns in `nos evaluate`: t-intervals, the paired t-test, verdicts."""

import csv
import json
import math
import warnings

import numpy as np
import pytest
from scipy import stats

from nos.benchmark.deepobs import HEADERS, Outcome, compare_with_baseline, table_rows
from nos.benchmark.statistics import CONFIDENCE, LEVEL, mean_interval, paired
from nos.cli import main

T_975_DF3 = 3.182446305284263  # t_{0.975, 3}, as printed in any Student-t table (3.182)
T_975_DF4 = 2.7764451051977987  # t_{0.975, 4} (2.776)


def interval_by_formula(values):
    """mean ± t_{0.975, n−1} · s / √n, with s the sample standard deviation."""
    x = np.asarray(values, dtype=float)
    half = stats.t.ppf(0.975, len(x) - 1) * np.std(x, ddof=1) / math.sqrt(len(x))
    return x.mean() - half, x.mean() + half


def test_the_level_and_the_confidence_are_one_fact():
    assert LEVEL == 0.05 and CONFIDENCE == pytest.approx(0.95)
    assert "95% CI" in HEADERS and "vs baseline (Δ mean [95% CI], p, n)" in HEADERS and "verdict" in HEADERS


def test_mean_interval_is_the_student_t_interval():
    values = [1.0, 2.0, 4.0, 7.0]
    interval = mean_interval(values)
    s = math.sqrt(((1 - 3.5) ** 2 + (2 - 3.5) ** 2 + (4 - 3.5) ** 2 + (7 - 3.5) ** 2) / 3)
    assert interval.n == 4 and interval.mean == 3.5 and interval.std == pytest.approx(s)
    assert (interval.low, interval.high) == pytest.approx((3.5 - T_975_DF3 * s / 2, 3.5 + T_975_DF3 * s / 2))
    assert (interval.low, interval.high) == pytest.approx(interval_by_formula(values))
    assert (interval.low, interval.high) == pytest.approx(
        stats.t.interval(0.95, 3, loc=3.5, scale=stats.sem(values)))


def test_mean_interval_leaves_out_diverged_seeds_and_is_undefined_for_one_seed():
    assert mean_interval([1.0, None, 2.0, float("nan"), 4.0, float("inf"), 7.0]) == mean_interval([1.0, 2.0, 4.0, 7.0])
    one = mean_interval([0.25, None])
    # one value has n − 1 = 0 degrees of freedom: no spread can be estimated, so no interval
    assert (one.n, one.mean, one.std, one.low, one.high) == (1, 0.25, None, None, None)
    assert mean_interval([None]).mean is None


def seeds(values):
    return dict(enumerate(values))


RULE = [1.0, 1.2, 0.9, 1.1, 1.05]
BASE = [1.3, 1.25, 1.4, 1.2, 1.5]


def test_paired_comparison_is_scipys_paired_t_test_on_the_differences():
    c = paired(seeds(RULE), seeds(BASE))
    d = np.subtract(RULE, BASE)
    t = d.mean() / (np.std(d, ddof=1) / math.sqrt(5))
    assert c.n == 5 and c.diff_mean == pytest.approx(d.mean())
    assert (c.diff_low, c.diff_high) == pytest.approx(interval_by_formula(d))
    assert c.diff_high - c.diff_mean == pytest.approx(T_975_DF4 * np.std(d, ddof=1) / math.sqrt(5))
    assert c.p_value == pytest.approx(stats.ttest_rel(RULE, BASE).pvalue)
    assert c.p_value == pytest.approx(2 * stats.t.sf(abs(t), 4))
    assert c.p_value < LEVEL and c.diff_high < 0 and c.verdict == "better"
    worse = paired(seeds(BASE), seeds(RULE))
    assert worse.verdict == "worse" and worse.p_value == pytest.approx(c.p_value)
    assert (worse.diff_low, worse.diff_high) == pytest.approx((-c.diff_high, -c.diff_low))


def test_a_lower_mean_within_the_noise_is_not_distinguishable():
    c = paired(seeds([1.0, 2.0, 3.0]), seeds([1.5, 2.2, 3.9]))
    assert c.diff_mean < 0 and c.p_value == pytest.approx(0.1192289878989114)  # ttest_rel's value
    assert c.diff_low < 0 < c.diff_high and c.verdict == "not distinguishable"


def test_zero_variance_of_the_differences_gives_no_nan_and_no_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same = paired(seeds([0.3, 0.1, 0.7]), seeds([0.3, 0.1, 0.7]))
        shifted = paired(seeds([1.5, 2.5, 3.5]), seeds([1.0, 2.0, 3.0]))  # exactly +0.5 on every seed
        below = paired(seeds([0.5, 1.5, 2.5]), seeds([1.0, 2.0, 3.0]))
    assert (same.n, same.diff_mean, same.diff_low, same.diff_high, same.p_value) == (3, 0, 0, 0, 1)
    assert same.verdict == "not distinguishable"
    assert (shifted.diff_mean, shifted.diff_low, shifted.diff_high, shifted.p_value) == (0.5, 0.5, 0.5, 0)
    assert shifted.verdict == "worse" and below.verdict == "better"


def test_one_seed_is_not_distinguishable():
    # one pair gives a difference but n − 1 = 0 degrees of freedom: no spread, no interval, no test
    c = paired({0: 1.0}, {0: 2.0})
    assert (c.n, c.diff_mean, c.diff_low, c.diff_high, c.p_value) == (1, -1.0, None, None, None)
    assert c.verdict == "not distinguishable"


def test_pairs_are_matched_by_seed_and_diverged_seeds_are_left_out():
    rule = {0: 1.0, 1: None, 2: 2.0, 3: 3.0, 5: 1.0}
    base = {0: 1.5, 1: 1.0, 2: float("nan"), 3: 3.75, 4: 1.0}
    c = paired(rule, base)
    assert c.n == 2 and c.diff_mean == pytest.approx(-0.625)
    assert c.p_value == pytest.approx(stats.ttest_rel([1.0, 3.0], [1.5, 3.75]).pvalue)
    assert paired({0: None}, {0: 1.0}).n == 0 and paired({0: None}, {0: 1.0}).verdict == "not distinguishable"


def outcome(task, label, losses):
    finite = [x for x in losses if x is not None]
    return Outcome(task, label, label, "test", "ok", best_lr=0.1, seeds=list(range(len(losses))),
                   val_loss=losses, mean=float(np.mean(finite)), std=float(np.std(finite)))


def test_each_rule_is_compared_with_the_baseline_of_its_own_task():
    outcomes = [outcome("a", "base", [1.0, 2.0, 3.0]), outcome("a", "low", [0.5, 1.5, 2.5]),
                outcome("b", "base", [5.0, 5.0, 5.0]), outcome("b", "low", [5.0, None, 5.0])]
    compare_with_baseline(outcomes, "base")
    a_base, a_low, b_base, b_low = outcomes
    assert a_base.verdict == b_base.verdict == "-" and a_base.diff_mean is None
    assert a_low.verdict == "better" and a_low.diff_mean == -0.5 and a_low.n_paired == 3
    assert b_low.verdict == "not distinguishable" and b_low.diff_mean == 0 and b_low.n_paired == 2
    assert {o.baseline for o in outcomes} == {"base"}
    record = a_low.record()
    assert {k: record[k] for k in ("diff_mean", "diff_ci_low", "diff_ci_high", "p_value", "n_paired", "verdict")} == {
        "diff_mean": -0.5, "diff_ci_low": -0.5, "diff_ci_high": -0.5, "p_value": 0.0, "n_paired": 3, "verdict": "better"}
    rows = {(row[0], row[1]): dict(zip(HEADERS, row)) for row in table_rows(outcomes)}
    assert rows["a", "low"]["vs baseline (Δ mean [95% CI], p, n)"] == "-0.5 [-0.5, -0.5], p=0, n=3"
    assert rows["a", "base"]["vs baseline (Δ mean [95% CI], p, n)"] == "(the baseline)"
    assert rows["a", "base"]["verdict"] == "-" and rows["b", "low"]["verdict"] == "not distinguishable"


EVALUATE = ["evaluate", "--no-baselines", "--task", "logreg", "--learning-rates", "0.01", "--steps", "50", "--no-plots"]


def evaluate(tmp_path, *rules):
    assert main([*EVALUATE, *rules, "--out", str(tmp_path)]) == 0
    return {r["label"]: r for r in json.loads((tmp_path / "results.json").read_text())}


def test_adam_against_itself_under_another_text_is_not_distinguishable(tmp_path, capsys):
    records = evaluate(tmp_path, "adam*1")  # adam is the default --baseline, added to the rules
    printed = capsys.readouterr().out
    adam, same = records["adam"], records["adam*1"]
    assert adam["seeds"] == same["seeds"] == [0, 1, 2, 3, 4]  # the default rerun: 5 seeds
    assert same["val_loss"] == adam["val_loss"]
    assert (same["diff_mean"], same["p_value"], same["n_paired"]) == (0, 1, 5)
    assert same["verdict"] == "not distinguishable" and same["baseline"] == "adam" and adam["verdict"] == "-"
    assert adam["ci_low"] < adam["mean"] < adam["ci_high"]
    assert "not distinguishable" in printed and "baseline: adam" in printed


def test_sgd_at_a_poor_learning_rate_is_worse_than_adam(tmp_path):
    # logreg at lr 0.01 for 50 steps: Adam's normalized steps go much further than SGD's small gradients
    sgd = evaluate(tmp_path, "sgd")["sgd"]
    assert sgd["n_paired"] == 5 and sgd["p_value"] < LEVEL
    assert 0 < sgd["diff_ci_low"] < sgd["diff_mean"] < sgd["diff_ci_high"]
    assert sgd["verdict"] == "worse"
    rows = {row["rule"]: row for row in csv.DictReader((tmp_path / "results.csv").open())}
    assert rows["sgd: g"]["verdict"] == "worse" and rows["adam"]["verdict"] == "-"
    assert rows["sgd: g"]["95% CI"] == f"[{sgd['ci_low']:.4g}, {sgd['ci_high']:.4g}]"
