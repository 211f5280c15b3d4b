"""`nos.evaluate` (protocol, statuses, best learning rate, tables, records) and `nos bench`."""

import dataclasses
import json
import math

import numpy as np
import pytest

import nos
from nos.cli import main
from nos.engine.grid import DEFAULT_LEARNING_RATES, Evaluation, RuleResult, best_learning_rate, evaluate
from search_space import KNOWN_RULES, ParseError

LRS = (1e-3, 3e-3, 1e-2, 3e-2)
STEPS = 30


@pytest.fixture(scope="module")
def quadratic():
    rules = ["sgd", "exp(sign(g)*sign(m))*g", "g - g", "exp(exp(g2))*g", KNOWN_RULES["adam"]]
    return nos.evaluate(rules, task="quadratic", learning_rates=LRS, seeds=(0, 1, 2), steps=STEPS, curve_points=5)


def test_default_grid_is_ten_log_spaced_rates_from_1e_4_to_1():
    assert len(DEFAULT_LEARNING_RATES) == 10
    np.testing.assert_allclose(DEFAULT_LEARNING_RATES, np.logspace(-4, 0, 10))


def test_statuses_shapes_and_reasons(quadratic):
    assert isinstance(quadratic, Evaluation) and len(quadratic) == 5
    sgd, powersign, zero, bomb, adam = quadratic.results
    assert [r.status for r in quadratic.results] == ["ok", "ok", "invalid", "diverged", "ok"]
    assert "zero" in zero.reason and np.isnan(zero.val_loss).all() and zero.best_lr is None
    assert "every" in bomb.reason and bomb.diverged.all() and bomb.score == math.inf
    for r in (sgd, powersign, adam):
        assert isinstance(r, RuleResult)
        assert r.val_loss.shape == r.diverged.shape == r.final_loss.shape == (4, 3)
        assert r.curves.shape == (4, 3, 5) and r.curve_steps.tolist() == [6, 12, 18, 24, 30]
        assert set(r.val_metrics) == {"loss"}
    assert powersign.text == "exp(sign(g)*sign(m))*g" and str(powersign.rule) == str(KNOWN_RULES["powersign"])
    assert adam.text == "adam"
    assert quadratic["sgd"] is sgd and quadratic[1] is powersign


def test_diverged_lanes_are_nan_and_the_rest_are_finite(quadratic):
    for r in quadratic.results:
        if r.status == "invalid":
            continue
        assert np.array_equal(np.isnan(r.val_loss), r.diverged)
        assert np.isnan(r.final_loss[r.diverged]).all() and np.isfinite(r.final_loss[~r.diverged]).all()


def test_the_best_rate_has_the_lowest_mean_loss_of_the_rates_with_no_divergence(quadratic):
    for r in quadratic.results:
        if r.status != "ok":
            continue
        best = LRS.index(r.best_lr)
        assert not r.diverged[best].any()
        assert r.score == pytest.approx(r.val_loss[best].mean()) and r.score_std == pytest.approx(r.val_loss[best].std())
        for row, diverged in zip(r.val_loss, r.diverged):
            assert diverged.any() or r.score <= row.mean() + 1e-12


@pytest.mark.parametrize("val_loss, diverged, expected", [
    ([[3.0, 1.0], [2.5, 2.5]], [[False, False], [False, False]], (1.0, 2.0, 1.0)),
    ([[1.0, 1.0], [0.5, np.nan]], [[False, False], [False, True]], (1.0, 1.0, 0.0)),  # a diverged seed rules out
    ([[np.nan, 1.0], [np.nan, np.nan]], [[True, False], [True, True]], (None, math.inf, math.nan)),
    ([[np.inf, 1.0], [4.0, 2.0]], [[False, False], [False, False]], (2.0, 3.0, 1.0)),  # inf loss never best
])
def test_best_learning_rate_table(val_loss, diverged, expected):
    best, score, std = best_learning_rate(np.array([1.0, 2.0]), np.array(val_loss), np.array(diverged))
    assert best == expected[0]
    assert score == expected[1] or (math.isinf(score) and math.isinf(expected[1]))
    assert std == pytest.approx(expected[2], nan_ok=True)


def test_table_and_records(quadratic):
    table = quadratic.table()
    for piece in ("sgd", "invalid", "diverged", "best lr", "12/12", "quadratic_d10_cond100"):
        assert piece in table
    records = quadratic.to_records()
    text = json.dumps(records, allow_nan=False)
    assert json.loads(text)[0]["rule"] == "sgd" and records[0]["task"] == "quadratic_d10_cond100"
    assert records[3]["score"] is None and records[3]["diverged"] == 12


def test_seed_grouped_lanes_land_in_their_rule_rate_and_seed():
    """logreg shares minibatches per seed: lanes run in per-seed chunks, results map back."""
    from nos.engine.interpreter import run_lanes

    lrs, seeds = (0.01, 0.3), (3, 1, 2)
    ev = evaluate(["sgd", "adam"], task="logreg", learning_rates=lrs, seeds=seeds, steps=8, curve_points=2)
    for result in ev.results:
        for i, lr in enumerate(lrs):
            alone = run_lanes("logreg", [result.rule] * 3, lr, list(seeds), 8, curve_points=2).validation["loss"]
            np.testing.assert_allclose(result.val_loss[i], alone, rtol=1e-6)
    assert len({float(v) for v in ev["sgd"].val_loss.ravel()}) == 6


def test_bad_input_is_refused_before_training():
    with pytest.raises(ParseError):
        evaluate(["exp(g"], task="rosenbrock", steps=5)
    with pytest.raises(ValueError, match="learning_rates"):
        evaluate("sgd", task="rosenbrock", learning_rates=[0.1, -1.0], steps=5)
    with pytest.raises(ValueError, match="unknown task"):
        evaluate("sgd", task="no_such_task", steps=5)


def test_progress_bar_counts_lanes(capsys):
    evaluate(["sgd", "adam"], task="rosenbrock", learning_rates=[1e-4, 1e-3], steps=5, progress=True)
    assert "4/4" in capsys.readouterr().err


def test_bench_quick_json_reports_positive_figures(capsys):
    assert main(["bench", "--quick", "--json"]) == 0
    figures = json.loads(capsys.readouterr().out)
    for key in ("lanes_per_second", "matmul_gflops", "speedup", "roof_fraction", "compile_seconds",
                "peak_memory_mb", "flops_per_lane_step"):
        assert figures[key] > 0, key
    assert [f["k"] for f in figures["interpreter"]] == [4, 8]
    assert all(f["lanes_per_second"] > 0 and f["roof_fraction"] > 0 for f in figures["interpreter"])
    assert figures["naive"]["lanes_per_second"] > 0 and figures["rosenbrock"]["lanes_per_second"] > 0
    assert figures["search_kernel"]["lanes_per_second"] > 0 and figures["mixed_seeds"]["lanes_per_second"] > 0
    assert figures["flops_per_lane_step"] == 6 * 128 * (64 * 32 + 32 * 10)
    same_units = figures["search_kernel_same_units"]
    assert (same_units["units"], same_units["steps"], same_units["k"]) == (2, 200, 8)
    warm = figures["end_to_end"]
    for whole in (warm, warm["cold"]):
        assert whole["samples"] == 32 == whole["rules_trained"] + whole["cache_hits"] + whole["invalid"]
        assert whole["lanes"] == 4 * whole["rules_trained"] > 0 and whole["invalid_fraction"] == whole["invalid"] / 32
        assert whole["lanes_per_second"] > 0 and whole["kernel_fraction"] > 0 and whole["same_units_kernel_fraction"] > 0
        assert set(whole["split_seconds"]) == {"propose", "evaluate", "update", "store", "baseline", "other"}
        assert sum(whole["split_seconds"].values()) == pytest.approx(whole["seconds"])
    assert warm["rules_trained"] == warm["cold"]["rules_trained"]  # the same search, twice


def test_the_engine_makes_the_outcome_a_search_keeps(quadratic):
    """`RuleResult.outcome`: the best learning rate and score as the engine chose them, "ok" only
    with a best learning rate, per-rate metrics as JSON; unchanged through to_dict/from_dict."""
    from nos.engine.outcome import Outcome

    outcomes = [r.outcome() for r in quadratic.results]
    assert [o.status for o in outcomes] == ["ok", "ok", "invalid", "diverged", "ok"]
    for r, o in zip(quadratic.results, outcomes):
        assert Outcome.from_dict(json.loads(json.dumps(o.to_dict(), allow_nan=False))) == o
        assert (o.best_lr, o.score) == ((r.best_lr, r.score) if o.status == "ok" else (None, None))
        assert o.reason == r.reason and o.seconds == r.seconds and o.reward == 0.0
        assert o.metrics["learning_rates"] == list(LRS) and len(o.metrics["val_loss"]) == len(LRS)
        assert o.metrics["diverged"] == r.diverged.tolist()
    sgd = quadratic.results[0]
    no_rate = dataclasses.replace(sgd, best_lr=None, score=math.inf, reason="no learning rate ran without divergence")
    assert (no_rate.outcome().status, no_rate.outcome().score) == ("diverged", None)
