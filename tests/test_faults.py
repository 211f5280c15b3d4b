"""Faults never lose work: a rule whose evaluation raises, hangs or diverges is a recorded event,
and a search killed at any moment (SIGKILL, SIGTERM) resumes to the store of an uninterrupted run.

Ray's crashed and hung workers are tested in test_ray.py.
"""

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

import nos.search.executors.base
import nos.search.loop
from nos.errors import NosError
from nos.search.config import ExecutorConfig, from_dict
from nos.search.executors import LocalExecutor, faults
from nos.search.loop import search
from nos.search.store import STORE_NAME, RunStore
from search_space import parse
from tests.test_search import SMALL, rows_of, write_toml

CHILD = {"task": "quadratic", "learning_rates": [0.01], "seeds": [0], "steps": 20}
QUIET = {"progress": False, "log": lambda *_: None}


def _fault(rule: str, action: str, **options) -> str:
    return json.dumps({"rule": str(parse(rule)), "action": action, **options})


def _failed(outcomes) -> list[bool]:
    return [o.status == "failed" for o in outcomes]


# --- the local executor: exceptions and time budget --------------------------------------------


def test_an_exception_in_a_chunk_is_retried_then_its_rules_fail(monkeypatch):
    texts = ["g", "m", "sign(g)", "adam"]
    executor = LocalExecutor(ExecutorConfig(chunk_size=2, retries=2))
    clean = executor.run(texts, CHILD)
    assert _failed(clean) == [False] * 4

    monkeypatch.setenv(faults.VARIABLE, _fault("sign(g)", "raise"))
    outcomes = executor.run(texts, CHILD)
    assert _failed(outcomes) == [False, False, True, True]  # the chunk [sign(g), adam] failed
    assert outcomes[2].reason == "RuntimeError: injected fault on sign(g) (3 attempts)"
    assert outcomes[3].metrics == {"attempts": 3}
    assert outcomes[1].metrics["val_loss"] == clean[1].metrics["val_loss"]

    monkeypatch.setenv(faults.VARIABLE, _fault("sign(g)", "raise", attempts=2))  # the third attempt works
    recovered = executor.run(texts, CHILD)
    assert _failed(recovered) == [False] * 4
    for got, want in zip(recovered, clean):
        assert got.metrics["val_loss"] == want.metrics["val_loss"]


def test_a_local_chunk_over_its_time_budget_is_failed_when_it_returns(monkeypatch):
    executor = LocalExecutor(ExecutorConfig(chunk_size=1, timeout_seconds=1.5))
    executor.run(["g"], CHILD)  # compile first, so that the healthy chunk is fast
    monkeypatch.setenv(faults.VARIABLE, _fault("m", "sleep", seconds=2.5))
    outcomes = executor.run(["g", "m"], CHILD)
    assert _failed(outcomes) == [False, True]
    assert outcomes[1].reason == "timeout after 1.5s" and outcomes[1].metrics == {"attempts": 1}


class _Clock:
    """time.perf_counter, moved forward `jump` seconds when told: a deadline that runs out on cue."""

    def __init__(self):
        self.real, self.offset = time.perf_counter, 0.0

    def __call__(self):
        return self.real() + self.offset


def _jump_after_call(monkeypatch, clock: _Clock, call: int, jump: float) -> list:
    """Make `LocalExecutor.run_chunks` move `clock` forward after its `call`-th call (0-based);
    returns the rules each call trained."""
    calls, original = [], LocalExecutor.run_chunks

    def run_chunks(self, chunks, child, fault):
        outcomes = original(self, chunks, child, fault)
        calls.append([text for chunk in chunks for text, _ in chunk])
        if len(calls) == call + 1:
            clock.offset += jump
        return outcomes

    monkeypatch.setattr(LocalExecutor, "run_chunks", run_chunks)
    monkeypatch.setattr(time, "perf_counter", clock)
    return calls


def test_with_a_deadline_no_chunk_starts_after_it(monkeypatch):
    texts = ["g", "m", "sign(g)", "sign(m)", "adam", "sgd"]
    monkeypatch.setattr(nos.search.executors.base, "LANES_PER_CHUNK", 2)  # chunks of 2 rules of 1 lane each
    executor = LocalExecutor(ExecutorConfig())
    calls = _jump_after_call(monkeypatch, clock := _Clock(), call=0, jump=100.0)
    outcomes = executor.run(texts, CHILD, deadline=clock() + 50.0)
    assert calls == [["g", "m"]] and len(outcomes) == 2 and _failed(outcomes) == [False, False]
    assert executor.run(texts, CHILD, deadline=clock() - 1.0) == []
    assert len(executor.run(texts, CHILD, deadline=clock() + 50.0)) == 6 and calls[-3:] == [
        ["g", "m"], ["sign(g)", "sign(m)"], ["adam", "sgd"]
    ]
    assert len(executor.run(texts, CHILD)) == 6 and calls[-1] == texts  # no deadline: one chunk


def test_a_step_in_flight_when_max_seconds_runs_out_keeps_what_it_trained(tmp_path, monkeypatch):
    """The first step's first chunk trains, then the clock passes `max_seconds`: the step keeps its
    samples up to the first untrained rule, the search stops, and resume completes the budget."""
    config = from_dict({**SMALL, "budget": 64, "batch_size": 64, "max_seconds": 1000})
    monkeypatch.setattr(nos.search.executors.base, "LANES_PER_CHUNK", 8)  # chunks of 4 rules of 2 lanes
    logged = []
    calls = _jump_after_call(monkeypatch, _Clock(), call=1, jump=2000.0)  # call 0: the baseline
    summary = search(config, tmp_path / "run", progress=False, log=logged.append)
    assert len(calls) == 2 and len(calls[1]) == 4
    trained = [text for _, _, text, _, source, _ in rows_of(tmp_path / "run") if source == "evaluated"]
    assert trained == calls[1] and summary.rules_trained == 4
    assert 4 <= summary.samples < 64 and summary.samples == len(rows_of(tmp_path / "run"))
    assert logged[-1] == "stopping: the time budget of 1000s is spent"
    RunStore.open(tmp_path / "run").close()  # its integrity chain holds

    monkeypatch.undo()
    resumed = search(from_dict({**SMALL, "budget": 64, "batch_size": 64}), tmp_path / "run", resume=True, **QUIET)
    assert resumed.samples == 64


def test_a_malformed_fault_variable_is_a_clear_error(monkeypatch):
    monkeypatch.setenv(faults.VARIABLE, '{"rule": "g", "action": "explode"}')
    with pytest.raises(ValueError, match="NOS_INJECT_FAULT must be"):
        LocalExecutor(ExecutorConfig()).run(["g"], CHILD)


# --- the search with a scripted controller --------------------------------------------------------


class Scripted:
    """A controller proposing given rule texts, batch after batch; before batch i it sets the
    fault variable to ``fault_per_batch[i]`` (None: unset). It remembers what it was told."""

    def __init__(self, batches, monkeypatch=None, fault_per_batch=None):
        self.batches, self.monkeypatch = batches, monkeypatch
        self.faults = fault_per_batch or [None] * len(batches)
        self.told = []

    def propose(self, n):
        batch = len(self.told)
        if self.faults[batch] is None:
            os.environ.pop(faults.VARIABLE, None)
        else:
            self.monkeypatch.setenv(faults.VARIABLE, self.faults[batch])
        assert len(self.batches[batch]) == n
        return [parse(text) for text in self.batches[batch]]

    def update(self, rules, rewards):
        self.told.append([(str(rule), reward) for rule, reward in zip(rules, rewards)])
        return {}

    def save(self, directory):
        Path(directory, "controller.json").write_text("{}")

    def restore(self, directory):
        raise AssertionError("a scripted search is never resumed")


def _scripted_search(tmp_path, monkeypatch, name, controller, executor=None):
    budget = sum(map(len, controller.batches))
    config = from_dict({**SMALL, "budget": budget, "batch_size": len(controller.batches[0]),
                        "executor": executor or {}})
    monkeypatch.setattr(nos.search.loop, "_make_controller", lambda config: controller)
    summary = search(config, tmp_path / name, **QUIET)
    db = sqlite3.connect(tmp_path / name / STORE_NAME)
    db.row_factory = sqlite3.Row
    rows = db.execute("SELECT * FROM samples ORDER BY id").fetchall()
    db.close()
    return summary, rows


def test_a_failed_rule_is_recorded_rewarded_zero_and_trained_again_when_proposed_again(tmp_path, monkeypatch):
    poisoned = str(parse("g + m"))
    controller = Scripted(
        [["g", "m", poisoned, "m"], [poisoned, "g", "sign(g)", "1"]],
        monkeypatch,
        [_fault(poisoned, "raise"), None],
    )
    summary, rows = _scripted_search(tmp_path, monkeypatch, "run", controller, {"chunk_size": 1, "retries": 1})
    table = [(r["batch"], r["position"], r["text"], r["source"], r["status"]) for r in rows]
    assert table == [
        (0, 0, "g", "evaluated", "ok"),
        (0, 1, "m", "evaluated", "ok"),
        (0, 2, poisoned, "failed", "failed"),
        (0, 3, "m", "cache", "ok"),
        (1, 0, poisoned, "evaluated", "ok"),  # failures are never served from the cache
        (1, 1, "g", "cache", "ok"),
        (1, 2, "sign(g)", "evaluated", "ok"),
        (1, 3, "1", "invalid", "invalid"),
    ]
    failed = rows[2]
    assert failed["reward"] == 0.0 and failed["score"] is None
    assert failed["reason"] == f"RuntimeError: injected fault on {poisoned} (2 attempts)"
    assert controller.told[0][2] == (poisoned, 0.0)
    assert rows[4]["reward"] > 0.0
    assert summary.failed == 1 and summary.samples == 8 and summary.interrupted == 0


def test_a_diverging_rule_changes_no_other_rule_of_its_batch(tmp_path, monkeypatch):
    """exp(exp(g3)) overflows at every learning rate; it shares the XLA call with the others."""
    others = ["g", "m", "adam"]
    _, alone = _scripted_search(tmp_path, monkeypatch, "alone", Scripted([others]))
    _, mixed = _scripted_search(tmp_path, monkeypatch, "mixed", Scripted([["g", "exp(exp(g3))", "m", "adam"]]))
    bad = mixed[1]
    assert (bad["text"], bad["source"], bad["status"], bad["reward"]) == ("exp(exp(g3))", "evaluated", "diverged", 0.0)
    assert all(json.loads(bad["metrics"])["diverged"][i] == [True] for i in range(2))
    assert [(r["text"], r["reward"], r["score"], r["best_lr"]) for r in alone] == [
        (r["text"], r["reward"], r["score"], r["best_lr"]) for r in mixed if r["text"] != "exp(exp(g3))"
    ]
    assert all(r["status"] == "ok" and r["reward"] > 0 for r in alone)


# --- crash states, recreated exactly ---------------------------------------------------------------


def _config(controller="random", **changes):
    return from_dict({**SMALL, "controller": {"name": controller}, **changes})


@pytest.mark.parametrize("controller", ["random", "rnn"])
def test_resume_ignores_an_uncommitted_checkpoint_and_stray_temporaries(tmp_path, controller):
    """The state a SIGKILL between checkpoint N and the transaction of step N leaves behind."""
    search(_config(controller), tmp_path / "whole", **QUIET)
    run = tmp_path / "killed"
    search(_config(controller, budget=8), run, **QUIET)
    # step 2's checkpoint was written (here: a copy of an older one), its transaction never came
    shutil.copytree(run / "controller" / "ckpt-000000", run / "controller" / "ckpt-000002")
    (run / "controller" / ".ckpt-000003.tmp").mkdir()
    (run / f".{STORE_NAME}.new").write_bytes(b"half a store")
    search(_config(controller), run, resume=True, **QUIET)
    assert rows_of(run) == rows_of(tmp_path / "whole")
    assert sorted(p.name for p in (run / "controller").iterdir()) == ["ckpt-000001", "ckpt-000002"]


def test_a_run_killed_before_its_baseline_was_stored_measures_it_on_resume(tmp_path):
    search(_config(), tmp_path / "whole", **QUIET)
    RunStore.create(tmp_path / "early", _config().to_dict()).close()
    search(None, tmp_path / "early", resume=True, **QUIET)
    assert rows_of(tmp_path / "early") == rows_of(tmp_path / "whole")


def test_a_run_killed_while_its_store_was_built_starts_afresh(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / f".{STORE_NAME}.new").write_bytes(b"SQLite format 3\x00 and then nothing")
    (run / ".config.json.tmp").write_text("{")
    with pytest.raises(NosError, match="not a NOS run"):
        search(None, run, resume=True, **QUIET)
    search(_config(budget=4), run, **QUIET)
    assert len(rows_of(run)) == 4 and json.loads((run / "config.json").read_text())["budget"] == 4


def test_a_second_search_in_the_same_run_directory_is_refused(tmp_path):
    search(_config(budget=4), tmp_path / "run", **QUIET)
    first = RunStore.open(tmp_path / "run")
    first.lock()  # as a running search holds it
    try:
        with pytest.raises(NosError, match="is in use by another search"):
            search(None, tmp_path / "run", resume=True, **QUIET)
    finally:
        first.close()
    summary = search(_config(budget=8), tmp_path / "run", resume=True, **QUIET)  # the lock died with it
    assert summary.samples == 8


# --- real processes: SIGKILL at random moments, SIGTERM ---------------------------------------------

ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
KILL_CONFIG = {**SMALL, "budget": 24, "batch_size": 4, "reward": {**SMALL["reward"], "steps": 30}}


def _nos_search(*args):
    command = [sys.executable, "-m", "nos", "search", "--no-progress", *map(str, args)]
    return subprocess.Popen(command, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _check_store(run_dir, budget):
    db = sqlite3.connect(f"file:{run_dir / STORE_NAME}?mode=ro", uri=True)
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    positions = db.execute("SELECT batch, position FROM samples").fetchall()
    batches = db.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
    db.close()
    assert len(positions) == len(set(positions)) == budget
    assert batches == -(-budget // KILL_CONFIG["batch_size"])


def _reference(tmp_path, controller):
    config = from_dict({**KILL_CONFIG, "controller": {"name": controller}})
    search(config, tmp_path / "reference", **QUIET)
    return rows_of(tmp_path / "reference")


def _committed_batches(run_dir) -> int:
    try:
        db = sqlite3.connect(f"file:{run_dir / STORE_NAME}?mode=ro", uri=True)
        try:
            return db.execute("SELECT COUNT(*) FROM batches").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return -1


@pytest.mark.parametrize("controller, seed", [("random", 11), ("rnn", 12)])
def test_sigkill_at_random_moments_then_resume_gives_the_uninterrupted_store(tmp_path, controller, seed):
    """SIGKILL four times, at moments drawn from a seeded RNG: once at a random delay after the
    start (imports, store creation, baseline), then each time at a random delay after the next
    step was committed (mid-step: training, checkpoint, transaction); `--resume` until done.
    Before the store exists the first command is simply run again."""
    config = write_toml({**KILL_CONFIG, "controller": {"name": controller}}, tmp_path / "config.toml")
    run = tmp_path / "run"
    rng = random.Random(seed)
    plan = [("after start", rng.uniform(0.2, 4.0))] + [("after a commit", rng.uniform(0.0, 0.5)) for _ in range(3)]
    killed_at = []
    while True:
        started = (run / STORE_NAME).exists()
        process = _nos_search("--resume", run) if started else _nos_search("--config", config, "--out", run)
        if plan:
            moment, delay = plan.pop(0)
            if moment == "after a commit":
                _wait_for_commit(run, process, _committed_batches(run) + 1)
            try:
                process.wait(timeout=delay)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                killed_at.append(_committed_batches(run))
                continue
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        assert "Traceback" not in err and "24 rules sampled" in out
        break
    print("steps committed at each kill:", killed_at)
    assert len(killed_at) >= 3, f"only {len(killed_at)} kills hit a running search"
    _check_store(run, 24)
    assert rows_of(run) == _reference(tmp_path, controller), f"killed with {killed_at} steps committed"
    leftovers = [p.name for p in run.rglob(".*")]
    assert leftovers == [], leftovers


def _wait_for_commit(run_dir, process, batches, seconds=90):
    deadline = time.monotonic() + seconds
    while _committed_batches(run_dir) < batches and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.parametrize("signum, status", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_sigterm_and_sigint_stop_cleanly_and_resume_completes(tmp_path, signum, status):
    config = write_toml(KILL_CONFIG, tmp_path / "config.toml")
    run = tmp_path / "run"
    process = _nos_search("--config", config, "--out", run)
    _wait_for_commit(run, process, 1)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == status, err
    lines = [line for line in err.splitlines() if "interrupted" in line]
    assert len(lines) == 1 and lines[0].startswith(f"interrupted by {signal.Signals(signum).name}: ")
    assert f"continue with: nos search --resume {run}" in lines[0]
    assert "Traceback" not in err
    saved = _committed_batches(run)
    assert 1 <= saved < 6
    if signum == signal.SIGINT:
        return  # the same path as SIGTERM from here on
    resumed = _nos_search("--resume", run)
    out, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 0, err
    assert "24 rules sampled" in out
    _check_store(run, 24)
    assert rows_of(run) == _reference(tmp_path, "random")
