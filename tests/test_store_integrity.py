"""Integrity records: any change to a committed step is one line and exit 2, never a silent reward."""

import random
import shutil
import sqlite3
import struct

import pytest

from nos.cli import main
from nos.engine.outcome import Outcome
from nos.errors import NosError
from nos.search.store import STORE_NAME, RunStore, Sample


def _sample(batch, i, reward):
    outcome = Outcome("ok", score=1.0 - reward, best_lr=0.01, metrics={"val_loss": [1.0 - reward]}, reward=reward)
    return Sample([i, 1, 2, 3, 4], f"rule{batch}.{i}", f"key{batch}.{i}", f"fp{i}", "evaluated", outcome)


@pytest.fixture
def run(tmp_path):
    """A finished three-step run whose data all sit in the main database file."""
    run_dir = tmp_path / "run"
    store = RunStore.create(run_dir, {"budget": 6})
    with store.transaction():
        store.set_meta("baseline_score", 0.25)
    for batch in range(3):
        store.commit_batch(batch, [_sample(batch, 0, 0.16591945), _sample(batch, 1, 0.5)],
                           {"checkpoint": f"ckpt-{batch:06d}", "stats": {"x": 1.0}})
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    return run_dir


def _edit(run_dir, statement):
    db = sqlite3.connect(run_dir / STORE_NAME)
    db.execute(statement)
    db.commit()
    db.close()


def _verify(run_dir, capsys):
    code = main(["verify", str(run_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def test_an_intact_run_verifies_step_by_step(run, capsys):
    assert _verify(run, capsys)[:2] == (0, f"{run}: 3 steps, 6 samples as committed\n")


@pytest.mark.parametrize("statement, message", [
    ("UPDATE samples SET reward = 0.16591951 WHERE batch = 1 AND position = 0", "step 1 differs from what was committed"),
    ("UPDATE samples SET reward = 'high' WHERE batch = 2 AND position = 1", "step 2 differs from what was committed"),
    ("UPDATE samples SET text = 'g' WHERE batch = 0 AND position = 1", "step 0 differs from what was committed"),
    ("DELETE FROM samples WHERE batch = 1 AND position = 1", "step 1 differs from what was committed"),
    ("DELETE FROM batches WHERE batch = 1", "step 1 is missing"),
    ("DELETE FROM batches WHERE batch = 2", "samples of step 2 have no step record"),
    ("UPDATE meta SET value = '0.3' WHERE name = 'baseline_score'", "step 0 differs from what was committed"),
    ("UPDATE chain SET digest = 'x' WHERE batch = 2", "step 2 differs from what was committed"),
])
def test_a_changed_committed_step_is_named_by_verify_resume_and_export(run, capsys, statement, message):
    _edit(run, statement)
    code, _, err = _verify(run, capsys)
    assert code == 2 and err.count("\n") == 1 and message in err, err
    with pytest.raises(NosError, match=message):
        RunStore.open(run)  # what --resume and a run reference in evaluate/export open
    code = main(["export", f"run:{run}#1", "--format", "keras", "-o", str(run.parent / "x.py")])
    assert code == 2 and message in capsys.readouterr().err


def _flip(run, tmp_path, data, offset, bit):
    flipped = tmp_path / f"flip{offset}-{bit}"
    shutil.copytree(run, flipped)
    damaged = bytearray(data)
    damaged[offset] ^= 1 << bit
    (flipped / STORE_NAME).write_bytes(bytes(damaged))
    return flipped


def test_a_flipped_bit_in_a_stored_reward_is_reported(run, tmp_path, capsys):
    """The reported case: one byte of a REAL changed 0.16591945 to 0.16591951 and nobody noticed."""
    data = (run / STORE_NAME).read_bytes()
    stored = struct.pack(">d", 0.16591945)  # SQLite keeps a REAL as 8 big-endian bytes
    offsets = [i for i in range(len(data)) if data.startswith(stored, i)]
    assert len(offsets) == 3  # one a step
    for offset in offsets:
        code, _, err = _verify(_flip(run, tmp_path, data, offset + 5, 0), capsys)
        assert code == 2 and err.count("\n") == 1 and "differs from what was committed" in err, err


def test_random_byte_flips_are_reported_or_change_nothing(run, tmp_path, capsys):
    original = RunStore.open(run)
    content = [tuple(row) for row in original.samples()], original.meta("baseline_score")
    original.close()
    data = (run / STORE_NAME).read_bytes()
    rng = random.Random(0)
    for offset in rng.sample(range(len(data)), 60):
        flipped = _flip(run, tmp_path, data, offset, rng.randrange(8))
        code, _, err = _verify(flipped, capsys)
        assert code in (0, 2) and err.count("\n") == (code == 2), (offset, err)
        if code == 0:  # the flip hit bytes that hold no data: the content is provably the same
            store = RunStore.open(flipped)
            assert ([tuple(row) for row in store.samples()], store.meta("baseline_score")) == content, offset
            store.close()
