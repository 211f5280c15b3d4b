"""The search loop end to end on a cheap task: store, cache, resume, determinism, reward."""

import json
import sqlite3

import numpy as np
import pytest

from nos.errors import NosError
from nos.search.config import from_dict
from nos.search.loop import search

SMALL = {
    "seed": 3,
    "budget": 12,
    "batch_size": 4,
    "space": {
        "units": 2,
        "operands": ["g", "m", "sign(g)", "sign(m)", "1", "2"],
        "unary": ["id", "exp", "neg", "sign"],
        "binary": ["add", "mul", "sub", "keep"],
    },
    "reward": {"task": "quadratic", "steps": 60, "learning_rates": [0.003, 0.03], "baseline": "sgd"},
    "controller": {"name": "random"},
}


def _config(**changes):
    data = {**SMALL, **changes}
    return from_dict(data)


def rows_of(run_dir):
    """(batch, position, text, key, source, reward) of every sample, in order: what a search decided."""
    db = sqlite3.connect(f"file:{run_dir / 'store.sqlite'}?mode=ro", uri=True)
    rows = db.execute("SELECT batch, position, text, key, source, reward FROM samples ORDER BY id").fetchall()
    db.close()
    return rows


_rows = rows_of


def write_toml(data: dict, path):
    """`data` (top-level values, then one table per dict) as a TOML file; enough for configs."""

    def value(v):
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + "}"
        return repr(v)

    lines = [f"{k} = {value(v)}" for k, v in data.items() if not isinstance(v, dict)]
    for table, entries in ((k, v) for k, v in data.items() if isinstance(v, dict)):
        lines += [f"[{table}]"] + [f"{k} = {value(v)}" for k, v in entries.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("controller", ["random", "evolution", "rnn"])
def test_a_search_fills_the_store_and_never_trains_a_rule_twice(tmp_path, controller):
    config = _config(controller={"name": controller})
    summary = search(config, tmp_path / "run", progress=False, log=lambda *_: None)
    rows = _rows(tmp_path / "run")
    assert len(rows) == 12 == summary.samples
    assert len({(b, p) for b, p, *_ in rows}) == 12
    evaluated = [key for _, _, _, key, source, _ in rows if source == "evaluated"]
    assert len(evaluated) == len(set(evaluated)) == summary.rules_trained
    assert all(0.0 <= reward <= 1.0 for *_, reward in rows)
    assert (tmp_path / "run" / "leaderboard.md").read_text().startswith("| rank")
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents*"))
    assert summary.leaderboard and summary.leaderboard[0]["reward"] == max(r[-1] for r in rows)


def test_resume_finishes_the_budget_with_the_same_rows_as_an_uninterrupted_run(tmp_path):
    search(_config(budget=12), tmp_path / "whole", progress=False, log=lambda *_: None)
    search(_config(budget=8), tmp_path / "split", progress=False, log=lambda *_: None)
    search(_config(budget=12), tmp_path / "split", resume=True, progress=False, log=lambda *_: None)
    assert _rows(tmp_path / "split") == _rows(tmp_path / "whole")


def test_resume_with_a_different_config_is_refused(tmp_path):
    search(_config(budget=4), tmp_path / "run", progress=False, log=lambda *_: None)
    changed = _config(budget=8, reward={**SMALL["reward"], "steps": 61})
    with pytest.raises(NosError, match="different config"):
        search(changed, tmp_path / "run", resume=True, progress=False)


def test_the_default_reward_ranks_clearly_different_rules_apart():
    """On mlp_digits, accuracy ties these rules; the default reward must not."""
    from nos.search.config import load_preset
    from nos.search.reward import Scorer

    scorer = Scorer(load_preset("quick").reward)
    texts = ["adam", "g", "sign(g)", "g3", "-g"]
    scored = dict(zip(texts, scorer.score(texts)))
    rewards = {t: s.reward for t, s in scored.items()}
    assert rewards["adam"] > rewards["g3"] + 0.05
    assert rewards["g"] > rewards["g3"]
    assert rewards["-g"] < 0.1
    good = [rewards[t] for t in ("adam", "g", "sign(g)")]
    assert max(good) - min(good) > 0.005, rewards
    assert np.isclose(rewards["adam"], 0.5, atol=1e-6)  # the baseline rule scores exactly b/(b + b)


MULTI = {**SMALL, "reward": {"tasks": ["quadratic", "logreg"], "steps": 60, "learning_rates": [0.003, 0.03],
                             "baseline": "sgd"}}


def test_a_search_on_several_tasks_rewards_the_geometric_mean_of_per_task_rewards(tmp_path):
    search(from_dict({**MULTI, "budget": 8}), tmp_path / "split", progress=False, log=lambda *_: None)
    search(from_dict(MULTI), tmp_path / "split", resume=True, progress=False, log=lambda *_: None)
    search(from_dict(MULTI), tmp_path / "whole", progress=False, log=lambda *_: None)
    assert _rows(tmp_path / "split") == _rows(tmp_path / "whole")
    db = sqlite3.connect(tmp_path / "whole" / "store.sqlite")
    baseline = json.loads(db.execute("SELECT value FROM meta WHERE name = 'baseline_score'").fetchone()[0])
    assert set(baseline) == {"quadratic", "logreg"} and all(b > 0 for b in baseline.values())
    trained = db.execute("SELECT reward, metrics, status FROM samples WHERE source = 'evaluated'").fetchall()
    assert trained
    for reward, metrics, status in trained:
        metrics = json.loads(metrics)
        if status in ("ok", "diverged"):
            per_task = metrics["rewards"]
            assert set(per_task) == set(metrics["tasks"]) == {"quadratic", "logreg"}
            assert reward == pytest.approx(np.sqrt(per_task["quadratic"] * per_task["logreg"]))
    assert any(json.loads(m)["rewards"]["quadratic"] != json.loads(m)["rewards"]["logreg"]
               for _, m, s in trained if s == "ok")


@pytest.mark.parametrize("aggregate, expected", [("geometric", 0.4), ("arithmetic", 0.5), ("min", 0.2)])
def test_per_task_rewards_combine_as_configured(aggregate, expected):
    from nos.engine.outcome import Outcome
    from nos.search.reward import Scorer

    scorer = Scorer(from_dict({**MULTI, "reward": {**MULTI["reward"], "aggregate": aggregate}}).reward)
    ok = {"quadratic": Outcome("ok", "", 1.0, 0.03, {}, 1.0, reward=0.8),
          "logreg": Outcome("ok", "", 2.0, 0.003, {}, 2.0, reward=0.2)}
    combined = scorer._combine(ok)
    assert combined.reward == pytest.approx(expected) and combined.status == "ok" and combined.seconds == 3.0
    assert (combined.score, combined.best_lr) == (1.0, 0.03)  # the first task's
    failed = {**ok, "logreg": Outcome("failed", "timeout after 1s", metrics={}, seconds=0.5)}
    assert (scorer._combine(failed).status, scorer._combine(failed).reason) == ("failed", "logreg: timeout after 1s")
    diverged = {name: Outcome("diverged", "every learning rate and seed diverged", metrics={}, seconds=1.0) for name in ok}
    assert scorer._combine(diverged).status == "diverged" and scorer._combine(diverged).reward == 0.0


def test_the_worker_neither_parses_nor_checks_a_rule_the_driver_sent(monkeypatch):
    """A search checks its rules once; a chunk carries each rule's program, not text to parse."""
    import nos.engine.grid
    import search_space.catalog
    from nos.engine.outcome import Outcome
    from nos.search.executors.worker import evaluate_chunk, work_item
    from search_space import parse

    items = [work_item(parse(text)) for text in ("g", "sign(g)*m")]

    def again(*_):
        raise AssertionError("the worker parsed or checked a rule again")

    monkeypatch.setattr(search_space.catalog, "parse", again)
    monkeypatch.setattr(nos.engine.grid, "rule_problem", again)
    child = {"task": "quadratic", "learning_rates": [0.01], "seeds": [0], "steps": 20, "check": False}
    outcomes = [Outcome.from_dict(data) for data in evaluate_chunk(items, child)]
    assert [o.status for o in outcomes] == ["ok", "ok"] and all(o.best_lr == 0.01 for o in outcomes)


def test_every_step_runs_in_one_loop_at_the_space_units_and_the_baseline_on_its_own_rows(tmp_path):
    """Seed 2's first step holds rules of one unit only; later steps have rules of two. Steps are
    padded to the space's units, so the first step builds the loop every later step runs, and
    the baseline trains on the rows of its one rule (a small, quick loop)."""
    from nos.engine.interpreter import TRACES, RowTable

    steps = 37  # no other test trains for 37 steps: the loops below are this search's
    config = {**SMALL, "seed": 2, "budget": 24, "reward": {**SMALL["reward"], "steps": steps}}
    summary = search(from_dict(config), tmp_path / "run", progress=False, log=lambda *_: None)
    assert summary.rules_trained > 4
    loops = [key for key in TRACES if key[4] == steps]
    assert all(TRACES[key] == 1 for key in loops)
    step_loops = [key[-1] for key in loops if key[3] == 8]  # 4 rules × 2 learning rates
    (table,) = step_loops
    assert table == RowTable.full(table.grammar, 2)
    (baseline,) = [key[-1] for key in loops if key[3] == 2]  # sgd × 2 learning rates
    assert baseline.units == 1 and baseline.size < table.size
