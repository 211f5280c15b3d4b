"""`nos evaluate`: the protocol's numbers, its files and plots, and rule references."""

import json

import numpy as np
import pytest

from nos.benchmark.deepobs import run_protocol
from nos.cli import main
from nos.errors import NosError
from nos.rule_references import resolve, resolve_all
from nos.search.config import from_dict
from nos.search.loop import search
from search_space import KNOWN_RULES, parse

GRID = [0.003, 0.03, 0.3]


def test_the_protocol_tunes_then_reruns_the_best_learning_rate_on_every_seed():
    refs = resolve_all(["sgd", "sign(g)", "exp(exp(g3))*g"])
    outcomes = run_protocol(refs, ["quadratic"], learning_rates=GRID, seeds=(0, 1, 2), steps=40)
    by_label = {o.label: o for o in outcomes}
    sgd = by_label["sgd"]
    tuned = {lr: loss for lr, loss, _ in sgd.tuning}
    assert sgd.best_lr == min((lr for lr in tuned if tuned[lr] is not None), key=tuned.get)
    assert sgd.seeds == [0, 1, 2] and len(sgd.val_loss) == 3
    assert np.isclose(sgd.mean, np.mean(sgd.val_loss)) and np.isclose(sgd.std, np.std(sgd.val_loss))
    assert sgd.val_loss[0] == pytest.approx(tuned[sgd.best_lr], rel=1e-6)  # seed 0 rerun = tuning run
    bomb = by_label["exp(exp(g3))*g"]
    assert bomb.status == "diverged" and bomb.best_lr is None and bomb.diverged == bomb.runs == 3


def test_nos_evaluate_writes_tables_and_plots(tmp_path, capsys):
    out = tmp_path / "eval"
    out.mkdir()
    (out / "curves_rosenbrock.png").write_bytes(b"a previous evaluation's plot")
    (out / "notes.txt").write_text("the user's own file")
    code = main(["evaluate", "powersign", "sign(m)*g", "--no-baselines", "--task", "quadratic",
                 "--learning-rates", *map(str, GRID), "--seeds", "2", "--steps", "30", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "powersign" in printed and "sign(m)*g" in printed
    records = json.loads((out / "results.json").read_text())
    assert {r["label"] for r in records} == {"powersign", "sign(m)*g", "adam"}  # adam: the default --baseline
    assert (out / "results.csv").read_text().startswith("task,rule,")
    assert (out / "results.csv").read_text().splitlines()[0] == (
        'task,rule,best lr,val loss (mean ± std),95% CI,"vs baseline (Δ mean [95% CI], p, n)",verdict,'
        "accuracy,diverged,status")
    for name in ("curves_quadratic.png", "lr_sensitivity_quadratic.png", "summary.png"):
        assert (out / name).stat().st_size > 5000
    assert sorted(p.name for p in out.iterdir()) == [  # stale outputs gone, nothing staged left
        "curves_quadratic.png", "lr_sensitivity_quadratic.png", "notes.txt", "results.csv", "results.json",
        "results.md", "summary.png"]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["evaluate", "--no-baselines"], "no rules to evaluate"),
        (["evaluate", "g +", "--no-baselines"], "expected an operand"),
        (["evaluate", "sgd", "--task", "imagenet"], "unknown task 'imagenet'"),
        (["evaluate", "sgd", "--seeds", "0"], "at least 1"),
        (["evaluate", "runs/absent#2"], "not a run directory"),
        (["evaluate", "sgd", "--baseline", "runs/absent"], "not a run directory"),
        (["evaluate", "sgd", "--baseline", "g +"], "expected an operand"),
    ],
)
def test_bad_evaluate_arguments_are_one_line_errors(argv, message, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_rule_references_resolve_text_catalog_names_and_search_results(tmp_path, capsys):
    assert resolve("powersign")[0].rule == KNOWN_RULES["powersign"]
    assert resolve("g*sign(m)")[0].rule == parse("g*sign(m)")
    config = from_dict({
        "budget": 8, "batch_size": 4, "space": {"units": 1, "operands": ["g", "m", "sign(g)", "sign(m)"]},
        "reward": {"task": "quadratic", "steps": 20, "learning_rates": [0.03], "baseline": "sgd"},
        "controller": {"name": "random"},
    })
    summary = search(config, tmp_path / "run", progress=False, log=lambda *_: None)
    top = resolve(str(tmp_path / "run"))
    assert [ref.rule for ref in top] == [parse(row["rule"]) for row in summary.leaderboard[:3]]
    second = resolve(f"{tmp_path / 'run'}#2")
    assert len(second) == 1 and second[0].rule == top[1].rule and "rank 2" in second[0].origin
    with pytest.raises(NosError, match="#99 does not exist"):
        resolve(f"{tmp_path / 'run'}#99")
    with pytest.raises(NosError, match=r"an integer in 1\.\.1000000"):
        resolve(f"{tmp_path / 'run'}#x")
    assert main(["evaluate", "sgd", "--baseline", str(tmp_path / "run")]) == 2  # its top rules: which one?
    err = capsys.readouterr().err
    assert f"names {len(top)} rules; name one, e.g. run#1" in err and err.count("\n") == 1
