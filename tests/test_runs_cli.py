"""``nos runs`` and ``nos show``: each run's status, one-line errors, and not a byte of a run changed."""

import fcntl
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import nos.search.log
from nos.cli import main
from nos.search.config import from_dict
from nos.search.loop import format_summary, search
from nos.search.store import LOCK_NAME, STORE_NAME, RunStore
from tests.test_search import SMALL

STAGE = {"top": 2, "task": "quadratic", "steps": 60, "learning_rates": [0.003, 0.03], "seeds": [0, 1], "baseline": "sgd"}
CONFIG = {**SMALL, "budget": 8, "batch_size": 4, "funnel": [STAGE]}


def _interrupt_after_first_step(*args, **kwargs):
    raise KeyboardInterrupt  # what Ctrl-C raises; the search keeps the step it just committed


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A directory of runs: finished, interrupted, to be held (running), changed, truncated and
    garbage stores, a directory that is no run and a plain file. Returns (root, finished summary)."""
    root = tmp_path_factory.mktemp("runs")
    quiet = {"progress": False, "log": lambda *_: None}
    summary = search(from_dict(CONFIG), root / "done", **quiet)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(nos.search.log.SearchLog, "batch", _interrupt_after_first_step)
        search(from_dict(CONFIG), root / "part", **quiet)
    shutil.copytree(root / "part", root / "busy")
    shutil.copytree(root / "done", root / "changed")
    db = sqlite3.connect(root / "changed" / STORE_NAME)
    db.execute("UPDATE samples SET reward = reward + 0.5 WHERE batch = 1 AND position = 0")
    db.commit()
    db.close()
    shutil.copytree(root / "done", root / "truncated")
    data = (root / "truncated" / STORE_NAME).read_bytes()
    (root / "truncated" / STORE_NAME).write_bytes(data[: len(data) // 2])
    (root / "garbage").mkdir()
    (root / "garbage" / STORE_NAME).write_bytes(os.urandom(4096))
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_bytes(os.urandom(100))
    (root / "readme.txt").write_text("not a run\n")
    return root, summary


def _nos(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _state(root: Path) -> dict:
    """Every path under `root`: its bytes' SHA-256 (files) and mtime, directories included."""
    state = {}
    for path in [root, *root.rglob("*")]:
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        state[str(path.relative_to(root))] = (digest, path.stat().st_mtime_ns)
    return state


class _Held:
    """Hold RUN_DIR/lock the way `RunStore.lock` does (an exclusive flock) while in the block."""

    def __init__(self, run_dir):
        self.path = run_dir / LOCK_NAME

    def __enter__(self):
        self.file = open(self.path, "a")
        fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def __exit__(self, *exc):
        self.file.close()


def _rows(out: str) -> dict:
    """The table `nos runs` printed, by run name: the whole line."""
    return {line.split()[0]: line for line in out.splitlines()[2:]}


def test_each_run_has_its_status_and_other_directories_are_skipped(runs, capsys):
    root, _ = runs
    with _Held(root / "busy"):
        code, out, err = _nos(["runs", root], capsys)
    assert code == 0 and err == "", err
    assert out.splitlines()[0].split() == ["run", "task", "controller", "samples", "changed", "best", "rule", "status"]
    rows = _rows(out)
    assert sorted(rows) == ["busy", "changed", "done", "garbage", "part", "truncated"]
    assert re.match(r"done +quadratic +random +8/8 +\d{4}-\d\d-\d\d \d\d:\d\d +0\.\d{4} +\S.* finished$", rows["done"])
    assert re.search(r" 4/8 .* interrupted$", rows["part"]), rows["part"]
    assert re.search(r" 4/8 .* running$", rows["busy"]), rows["busy"]
    assert re.search(r" corrupt: .*step 1 differs from what was committed", rows["changed"]), rows["changed"]
    assert re.search(r" corrupt: (corrupted|unreadable|damaged): \S", rows["truncated"]), rows["truncated"]
    assert re.search(r" corrupt: .*(not a database|unreadable|cannot open)", rows["garbage"]), rows["garbage"]
    code, out, _ = _nos(["runs", root], capsys)  # the lock is free again
    assert re.search(r" 4/8 .* interrupted$", _rows(out)["busy"])


def test_a_run_a_search_has_open_reads_through_its_wal_as_running(runs, capsys):
    root, _ = runs
    run_dir = root / "busy"
    store = RunStore.open(run_dir)  # a search's connection: WAL files beside the store
    store.lock()
    try:
        assert (run_dir / f"{STORE_NAME}-wal").exists() and (run_dir / f"{STORE_NAME}-shm").exists()
        before = _state(run_dir)
        code, out, _ = _nos(["runs", root], capsys)
        assert re.search(r" 4/8 .* running$", _rows(out)["busy"])
        code, out, err = _nos(["show", run_dir], capsys)
        assert code == 0 and "running: 4/8 samples in 1 step" in out, err
        assert _state(run_dir) == before
    finally:
        store.close()


def test_show_prints_the_config_status_and_what_nos_search_ends_with(runs, capsys):
    root, summary = runs
    code, out, err = _nos(["show", root / "done"], capsys)
    assert code == 0 and err == "", err
    head = out.split("\n\n")[0]
    for expected in ["status:     finished: 8/8 samples in 2 steps", "search:     seed 3, budget 8, batch size 4",
                     "task:       quadratic", "training:   60 steps, learning rates 0.003, 0.03",
                     "baseline:   sgd, score ", "controller: random", "funnel:     top 2 on quadratic, 60 steps, 2 seeds"]:
        assert expected in head, head
    assert summary.funnel and out.endswith(format_summary(summary) + "\n")  # stage columns and lines included
    code, out, _ = _nos(["show", root / "part"], capsys)
    assert "interrupted: 4/8 samples in 1 step; continue with: nos search --resume" in out


@pytest.mark.parametrize("name, message", [
    ("changed", r"step 1 differs from what was committed"),
    ("truncated", r"run store .*truncated"),
    ("garbage", r"run store .*garbage"),
    ("notes", r"is not a NOS run \(no store.sqlite\)"),
    ("absent", r"absent is not a directory"),
    ("readme.txt", r"readme.txt is not a directory"),
])
def test_show_of_a_corrupt_or_foreign_directory_is_one_line_and_exit_2(runs, capsys, name, message):
    root, _ = runs
    code, out, err = _nos(["show", root / name], capsys)
    assert code == 2 and out == "" and err.count("\n") == 1, err
    assert err.startswith("nos show: error: ") and re.search(message, err), err


@pytest.mark.parametrize("name, message", [("absent", "does not exist"), ("readme.txt", "is not a directory")])
def test_runs_of_a_missing_directory_or_a_file_is_one_line_and_exit_2(runs, capsys, name, message):
    root, _ = runs
    code, out, err = _nos(["runs", root / name], capsys)
    assert code == 2 and out == "" and err == f"nos runs: error: {root / name} {message}\n"


def test_a_directory_without_runs_says_so(runs, capsys):
    root, _ = runs
    assert _nos(["runs", root / "notes"], capsys)[:2] == (0, f"no runs in {root / 'notes'}\n")


def test_listing_and_showing_change_no_byte_and_make_no_file(runs, capsys):
    root, _ = runs
    before = _state(root)
    with _Held(root / "busy"):
        _nos(["runs", root], capsys)
        for path in root.iterdir():
            _nos(["show", path], capsys)
    _nos(["runs", root], capsys)
    assert _state(root) == before


def test_no_tensorflow_is_imported(runs):
    root, _ = runs
    script = (
        "import sys; from nos.cli import main\n"
        f"assert main(['runs', {str(root)!r}]) == 0 and main(['show', {str(root / 'done')!r}]) == 0\n"
        "heavy = sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras', 'ray', 'torch'})\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=Path(__file__).parents[1], capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
