"""The Ray executor on a local 2-CPU instance: cold workers warmed outside the chunks' time, the
same store as the local executor, crashed workers retried then failed, hung workers stopped.

One Ray instance serves the module; its two workers import TensorFlow once each and keep their
compiled loops, so every test after the first pays only for training.
"""

import json
import time

import pytest

ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install -e .[ray])")

from nos.search.config import ExecutorConfig, from_dict
from nos.search.executors import faults, make_executor
from nos.search.loop import search
from search_space import parse
from tests.test_search import SMALL, rows_of

CHILD = {"task": "quadratic", "learning_rates": [0.01], "seeds": [0], "steps": 20}
TEXTS = ["g", "m", "sign(g)", "adam"]
QUIET = {"progress": False, "log": lambda *_: None}


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="WARNING")
    yield
    ray.shutdown()


def _executor(**options):
    return make_executor(ExecutorConfig(name="ray", **options))


def _fault(rule, action, **options):
    return json.dumps({"rule": str(parse(rule)), "action": action, **options})


def test_a_cold_workers_start_up_is_not_counted_as_its_chunks_time(cluster, monkeypatch):
    """First in the module, so the workers are cold; their set-up is slowed past the time budget."""
    slow = {"rule": "", "action": "slow-start", "seconds": 7}
    monkeypatch.setenv(faults.VARIABLE, json.dumps(slow))
    executor = _executor(chunk_size=1, timeout_seconds=6)
    outcomes = executor.run(TEXTS[:2], CHILD)
    assert executor.workers_warmed == 2, "the workers were not cold: run this test first in its module"
    assert not any(o.status == "failed" for o in outcomes), outcomes


def test_ray_and_local_searches_fill_the_same_store(cluster, tmp_path):
    local = from_dict(SMALL)
    search(local, tmp_path / "local", **QUIET)
    chunked = from_dict({**SMALL, "executor": {"name": "ray", "chunk_size": 1}})
    search(chunked, tmp_path / "ray", **QUIET)
    split = from_dict({**SMALL, "executor": {"name": "ray"}})  # chunk_size 0: split over the 2 CPUs
    search(split, tmp_path / "ray-split", **QUIET)
    assert rows_of(tmp_path / "ray") == rows_of(tmp_path / "local") == rows_of(tmp_path / "ray-split")
    assert ray.is_initialized()  # the executor did not shut down a Ray it did not start


def test_a_worker_that_dies_is_retried(cluster, monkeypatch):
    executor = _executor(chunk_size=2, retries=1)
    clean = executor.run(TEXTS, CHILD)
    monkeypatch.setenv(faults.VARIABLE, _fault("sign(g)", "exit", attempts=1))  # dies once
    outcomes = executor.run(TEXTS, CHILD)
    assert not any(o.status == "failed" for o in outcomes)
    for got, want in zip(outcomes, clean):
        assert got.metrics["val_loss"] == want.metrics["val_loss"]


def test_a_worker_that_keeps_dying_fails_its_chunk_and_the_search_goes_on(cluster, monkeypatch, tmp_path):
    search(from_dict(SMALL), tmp_path / "local", **QUIET)
    whole = rows_of(tmp_path / "local")
    victim = next(text for _, _, text, _, source, _ in whole if source == "evaluated")
    monkeypatch.setenv(faults.VARIABLE, _fault(victim, "exit"))
    config = from_dict({**SMALL, "executor": {"name": "ray", "chunk_size": 1, "retries": 0}})
    summary = search(config, tmp_path / "ray", **QUIET)
    rows = rows_of(tmp_path / "ray")
    assert summary.samples == len(rows) == len(whole) and summary.failed >= 1
    for got, want in zip(rows, whole):
        if got[2] == victim:
            assert got[4:] == ("failed", 0.0)
        elif want[4] == "cache" and want[2] == victim:  # its duplicates are failed too, not cached
            assert got[4] == "failed"
    failed_rows = [row for row in rows if row[4] == "failed"]
    assert {row[2] for row in failed_rows} == {victim}
    # every rule before the victim's first batch is untouched
    first = min(row[0] for row in failed_rows)
    assert [r for r in rows if r[0] < first] == [r for r in whole if r[0] < first]


def test_a_hung_worker_is_stopped_at_its_time_budget(cluster, monkeypatch):
    executor = _executor(chunk_size=1, timeout_seconds=4)
    executor.run(TEXTS[:2], CHILD)  # both workers compile first
    hang = 120
    monkeypatch.setenv(faults.VARIABLE, _fault("m", "sleep", seconds=hang))
    started = time.monotonic()
    outcomes = executor.run(TEXTS[:2], CHILD)
    # not a speed claim: had the task not been cancelled, the call could not return before its sleep ended
    assert time.monotonic() - started < hang, "the hung task was not cancelled"
    assert outcomes[0].status != "failed"
    assert outcomes[1].status == "failed" and outcomes[1].reason == "timeout after 4s"


@pytest.mark.parametrize("address", ["127.0.0.1:1", "ray://127.0.0.1:1"])
def test_an_unreachable_cluster_is_a_one_line_error_and_no_run_directory(tmp_path, address):
    import os
    import subprocess
    import sys

    from tests.test_search import write_toml

    config = write_toml(SMALL, tmp_path / "config.toml")
    command = [sys.executable, "-m", "nos", "search", "--config", str(config), "--out", str(tmp_path / "run"),
               "--executor", "ray", "--ray-address", address]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""})
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        f"nos search: error: cannot reach the Ray cluster at {address}: Connection refused"
    )
    assert "Traceback" not in done.stderr and not (tmp_path / "run").exists()
