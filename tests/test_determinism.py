"""Same seed and config, same search: two fresh processes sample the same rules and store the
same rewards and metrics, bit for bit (local executor, one machine). A different seed differs.

What is outside this promise (timings, timeouts, other CPUs, other TensorFlow versions) is
listed in the README's determinism section.
"""

import json
import os
import sqlite3
import subprocess
import sys

import pytest

from nos.search.config import from_dict
from nos.search.loop import search
from nos.search.store import STORE_NAME
from tests.test_search import SMALL, write_toml

CONFIG = {**SMALL, "budget": 12, "batch_size": 4, "controller": {"name": "rnn"}}
DECIDED = "batch, position, tokens, text, key, fingerprint, source, status, reason, reward, score, best_lr, metrics"


def _store(run_dir):
    """Every column a search decides (not timings), row by row, and the baseline score."""
    db = sqlite3.connect(f"file:{run_dir / STORE_NAME}?mode=ro", uri=True)
    rows = db.execute(f"SELECT {DECIDED} FROM samples ORDER BY batch, position").fetchall()
    baseline = db.execute("SELECT value FROM meta WHERE name = 'baseline_score'").fetchone()
    db.close()
    return rows, baseline


def _fresh_process_search(config_file, run_dir):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    command = [sys.executable, "-m", "nos", "search", "--config", str(config_file), "--out", str(run_dir),
               "--no-progress"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300, check=False)
    assert done.returncode == 0, done.stderr


def test_two_fresh_processes_make_the_same_store_with_the_rewards_recorded_before_the_refactor(tmp_path):
    config = write_toml(CONFIG, tmp_path / "config.toml")
    _fresh_process_search(config, tmp_path / "first")
    _fresh_process_search(config, tmp_path / "second")
    first, second = _store(tmp_path / "first"), _store(tmp_path / "second")
    assert first == second
    assert_pinned(tmp_path / "first")
    rows, _ = first
    assert len(rows) == 12 and any(row[6] == "evaluated" for row in rows)

    search(from_dict({**CONFIG, "seed": CONFIG["seed"] + 1}), tmp_path / "other-seed", progress=False,
           log=lambda *_: None)
    other, baseline = _store(tmp_path / "other-seed")
    assert baseline == first[1]  # the baseline does not depend on the controller's seed
    assert [row[3] for row in other] != [row[3] for row in rows]


PINNED = [  # CONFIG's search as recorded before the outcome refactor (#9): rule, source, status, reward, best lr
    ("g*sign(g)", "evaluated", "ok", 5.2052333747294495e-11, 0.003),
    ("-(sign(g) - exp(g))*m", "evaluated", "diverged", 0.0, None),
    ("g*sign(m)", "evaluated", "ok", 5.2052333747294495e-11, 0.003),
    ("sign(g - exp(1))*sign(sign(g))", "evaluated", "ok", 0.008816829059224074, 0.003),
    ("exp(2)*sign(g)", "evaluated", "ok", 0.7884982682708676, 0.003),
    ("exp(-1 + -m) - sign(-1 + -m)", "evaluated", "diverged", 0.0, None),
    ("exp(m)", "evaluated", "diverged", 0.0, None),
    ("-m*-g", "evaluated", "diverged", 0.0, None),
    ("sign(sign(m))*-m", "evaluated", "ok", 6.06559959827167e-10, 0.003),
    ("sign(2*2)*sign(2*2)", "invalid", "invalid", 0.0, None),
    ("-1", "invalid", "invalid", 0.0, None),
    ("-2", "invalid", "invalid", 0.0, None),
]
PINNED_BASELINE = 1.3355454206466675


def assert_pinned(run_dir):
    """Refactors of the engine-to-store path must not change what a search decides (this machine)."""
    db = sqlite3.connect(f"file:{run_dir / STORE_NAME}?mode=ro", uri=True)
    rows = db.execute("SELECT text, source, status, reward, best_lr FROM samples ORDER BY batch, position").fetchall()
    baseline = float(json.loads(db.execute("SELECT value FROM meta WHERE name = 'baseline_score'").fetchone()[0]))
    db.close()
    assert [row[:3] for row in rows] == [row[:3] for row in PINNED]
    assert [row[3:] for row in rows] == [pytest.approx(row[3:], rel=1e-6) for row in PINNED]
    assert baseline == pytest.approx(PINNED_BASELINE, rel=1e-6)
