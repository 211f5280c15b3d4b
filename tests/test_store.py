"""The run store: atomic batches, no duplicates, clear errors for files that are not runs."""

import sqlite3

import pytest

from nos.engine.outcome import Outcome
from nos.errors import NosError
from nos.search.store import STORE_NAME, RunStore, Sample


def _sample(i, reward=0.5, source="evaluated"):
    return Sample([i, 1, 2, 3, 4], f"rule{i}", f"key{i}", f"fp{i}", source, Outcome("ok", score=1.0 - reward, reward=reward))


def test_batches_commit_atomically_and_reopen(tmp_path):
    store = RunStore.create(tmp_path, {"budget": 4})
    store.commit_batch(0, [_sample(0), _sample(1, 0.9)], {"checkpoint": "ckpt-000000", "stats": {"x": 1.0}})
    store.close()
    store = RunStore.open(tmp_path)
    assert store.sample_count() == 2 and store.batches_done() == 1
    assert store.last_checkpoint() == "ckpt-000000"
    assert [row["text"] for row in store.top(5)] == ["rule1", "rule0"]
    by_key, by_fingerprint = store.known_outcomes()
    assert set(by_key) == {"key0", "key1"} and by_fingerprint["fp1"].reward == 0.9
    assert by_key["key1"] == Sample.from_row(store.samples()[1]).outcome == _sample(1, 0.9).outcome


def test_a_failing_batch_leaves_nothing_behind(tmp_path):
    store = RunStore.create(tmp_path, {})
    store.commit_batch(0, [_sample(0)], {})
    with pytest.raises(sqlite3.IntegrityError):
        store.commit_batch(0, [_sample(5)], {})  # the same batch twice: rolled back whole
    assert store.sample_count() == 1 and store.batches_done() == 1


def test_creating_over_an_existing_run_is_refused(tmp_path):
    RunStore.create(tmp_path, {}).close()
    with pytest.raises(NosError, match="already holds a run"):
        RunStore.create(tmp_path, {})


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda d: None, "not a NOS run"),
        (lambda d: (d / STORE_NAME).write_bytes(b"this is not sqlite" * 100), "unreadable|not a database"),
        (lambda d: sqlite3.connect(d / STORE_NAME).execute("CREATE TABLE t (x)").connection.commit(), "not a NOS store"),
    ],
)
def test_directories_that_are_not_runs_are_clear_errors(tmp_path, make, message):
    make(tmp_path)
    with pytest.raises(NosError, match=message):
        RunStore.open(tmp_path)


def test_a_new_store_appears_whole_and_leaves_no_temporaries(tmp_path):
    (tmp_path / f".{STORE_NAME}.new").write_bytes(b"left by a killed process")
    store = RunStore.create(tmp_path, {"budget": 4}, files={"config.json": "{}"})
    store.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", STORE_NAME]
    assert RunStore.open(tmp_path).meta("config") == {"budget": 4}


def test_failed_samples_are_stored_but_never_known(tmp_path):
    store = RunStore.create(tmp_path, {})
    failed = Sample([7, 1, 2, 3, 4], "rule7", "key7", "fp7", "failed", Outcome("failed", "worker died (2 attempts)"))
    store.commit_batch(0, [_sample(0), failed], {})
    by_key, by_fingerprint = store.known_outcomes()
    assert set(by_key) == {"key0"} and set(by_fingerprint) == {"fp0"}
    assert store.samples()[1]["reason"] == "worker died (2 attempts)"
    assert [row["text"] for row in store.top(5)] == ["rule0"]


def test_opening_a_file_that_is_not_a_run_never_changes_it(tmp_path):
    path = tmp_path / STORE_NAME
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    before = path.read_bytes()
    with pytest.raises(NosError, match="not a NOS store"):
        RunStore.open(tmp_path)
    assert path.read_bytes() == before  # in particular, not switched to WAL


def test_a_truncated_store_is_detected(tmp_path):
    store = RunStore.create(tmp_path, {})
    store.commit_batch(0, [_sample(i) for i in range(200)], {})
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    path = tmp_path / STORE_NAME
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(NosError):
        store = RunStore.open(tmp_path)
        store.samples()


def test_an_unwritable_directory_is_a_clear_error(tmp_path):
    target = tmp_path / "file-not-dir"
    target.write_text("")
    with pytest.raises(NosError, match="cannot write"):
        RunStore.create(target / "run", {})
