"""The funnel after a search: stages of higher fidelity, distinct rules, final ranking, resume,
integrity."""

import sqlite3

import pytest

from nos.errors import NosError
from nos.search.config import from_dict
from nos.search.funnel import distinct_by_fingerprint
from nos.search.loop import leaderboard_table, search
from nos.search.store import RunStore
from search_space import KNOWN_RULES, parse
from tests.test_search import SMALL

QUIET = {"progress": False, "log": lambda *_: None}
STAGES = [
    {"top": 4, "task": "quadratic", "steps": 100, "learning_rates": [0.003, 0.03], "seeds": [0, 1], "baseline": "sgd"},
    {"top": 2, "tasks": ["quadratic", "logreg"], "steps": 60, "learning_rates": [0.003, 0.03], "seeds": [0, 1, 2],
     "baseline": "sgd"},
]
FUNNEL = {**SMALL, "budget": 16, "funnel": STAGES}


def test_distinct_by_fingerprint_keeps_the_first_of_each_function():
    ranking = [{"fingerprint": f, "key": k} for k, f in (("a", 1), ("b", 1), ("c", 2), ("d", 3), ("e", 2))]
    assert [r["key"] for r in distinct_by_fingerprint(ranking, 2)] == ["a", "c"]
    assert [r["key"] for r in distinct_by_fingerprint(ranking, 9)] == ["a", "c", "d"]


def entered_in_search_order(entered, search_best):
    return sorted(entered, key=search_best.index)


@pytest.fixture(scope="module")
def funnel_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("funnel") / "run"
    logged = []
    summary = search(from_dict(FUNNEL), run_dir, progress=False, log=logged.append)
    return run_dir, summary, logged


def test_each_stage_trains_the_best_distinct_survivors_of_the_previous_one(funnel_run):
    run_dir, summary, logged = funnel_run
    first, second = summary.funnel
    store = RunStore.open(run_dir)
    search_best = [row["fingerprint"] for row in store.top(100)]
    store.close()
    entered = [rule["fingerprint"] for rule in first.rules]
    assert len(first.rules) == 4 and len(set(entered)) == 4
    assert entered_in_search_order(entered, search_best) == list(dict.fromkeys(search_best))[:4]
    for stage in (first, second):
        assert [r["reward"] for r in stage.rules] == sorted((r["reward"] for r in stage.rules), reverse=True)
    assert {r["key"] for r in second.rules} == {r["key"] for r in first.survivors()[:2]}
    assert set(second.rules[0]["metrics"]["rewards"]) == {"quadratic", "logreg"}
    assert isinstance(second.baseline, dict) and set(second.baseline) == {"quadratic", "logreg"}
    assert first.computed and second.computed
    assert any(line.startswith("funnel stage 2: the best 2 rules on quadratic, logreg") for line in logged)


def test_the_leaderboard_ranks_by_the_last_stage_with_a_column_per_stage(funnel_run):
    run_dir, summary, _ = funnel_run
    first, second = summary.funnel
    board = summary.leaderboard
    assert [row["stage_rewards"][1] for row in board[:2]] == [r["reward"] for r in second.rules]
    assert board[2]["stage_rewards"][1] is None and board[2]["stage_rewards"][0] is not None
    headers, body = leaderboard_table(board)
    assert headers[:5] == ["rank", "rule", "reward", "stage 1", "stage 2"]
    assert "stage 2" in (run_dir / "leaderboard.md").read_text()


def test_resume_reads_stages_recomputes_what_changed_and_drops_what_was_removed(funnel_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(funnel_run[0], run_dir)
    again = search(from_dict(FUNNEL), run_dir, resume=True, **QUIET)
    assert [s.computed for s in again.funnel] == [False, False]
    assert [s.rules for s in again.funnel] == [s.rules for s in funnel_run[1].funnel]

    shorter = [STAGES[0], {**STAGES[1], "top": 1}]
    changed = search(from_dict({**FUNNEL, "funnel": shorter}), run_dir, resume=True, **QUIET)
    assert [s.computed for s in changed.funnel] == [False, True] and len(changed.funnel[1].rules) == 1

    none = search(from_dict({**FUNNEL, "funnel": []}), run_dir, resume=True, **QUIET)
    store = RunStore.open(run_dir)
    assert none.funnel == [] and store.funnel_stage_count() == 0
    assert "stage_rewards" in none.leaderboard[0] and none.leaderboard[0]["stage_rewards"] == []
    store.close()


def test_a_changed_stage_result_is_reported_as_damage(funnel_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(funnel_run[0], run_dir)
    db = sqlite3.connect(run_dir / "store.sqlite")
    db.execute("UPDATE stage_rules SET reward = reward + 1e-9 WHERE stage = 2 AND rank = 0")
    db.commit()
    db.close()
    with pytest.raises(NosError, match="funnel stage 2 differs from what was committed"):
        RunStore.open(run_dir)


def test_the_transfer_report_compares_the_survivors_with_the_baselines_per_task(funnel_run, tmp_path):
    import hashlib
    import json
    import shutil

    from nos.cli import main

    run_dir = tmp_path / "run"
    shutil.copytree(funnel_run[0], run_dir)
    before = hashlib.sha256((run_dir / "store.sqlite").read_bytes()).hexdigest()
    assert main(["report", str(run_dir), "--top", "2", "--seeds", "3", "--steps", "40"]) == 0
    assert hashlib.sha256((run_dir / "store.sqlite").read_bytes()).hexdigest() == before
    text = (run_dir / "report" / "report.md").read_text()
    second = funnel_run[1].funnel[1]
    for rank, rule in enumerate(second.rules[:2], start=1):
        assert f"| #{rank} | `{rule['text']}` |" in text
    assert "| rule | quadratic | logreg |" in text and "## quadratic" in text and "## logreg" in text
    records = json.loads((run_dir / "report" / "results.json").read_text())
    labels = {(r["task"], r["label"]) for r in records}
    survivors = {parse(rule["text"]) for rule in second.rules[:2]}
    baselines = [name for name in ("adam", "momentum", "sgd", "powersign", "addsign") if KNOWN_RULES[name] not in survivors]
    assert labels == {(t, label) for t in ("quadratic", "logreg") for label in ("#1", "#2", *baselines)}
    verdicts = {r["verdict"] for r in records if r["label"] != "adam"}
    assert verdicts <= {"better", "worse", "not distinguishable"} and all(r["n_paired"] for r in records
                                                                          if r["label"] != "adam" and r["verdict"])
    assert (run_dir / "report" / "summary.png").stat().st_size > 0
