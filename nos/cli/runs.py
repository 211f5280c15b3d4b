"""``nos runs``: one line per run directory under DIR: what it searches, how far it got, its best rule.

Read-only: not a byte of a run directory changes (the store is opened with
`RunStore.open(..., readonly=True)`), and no TensorFlow is imported. Also home of what
``nos show`` shares with it: `open_run` and `status`.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path

RULE_WIDTH = 48
"""Longer rules are cut in the table (``nos show RUN_DIR`` prints them whole)."""


def register(subparsers):
    parser = subparsers.add_parser(
        "runs",
        help="list the runs in a directory: task, progress, best rule, status",
        description="One row per run directory directly under DIR (a directory holding store.sqlite; "
        "others are skipped): task, controller, samples done / budget, when the store last changed, "
        "the best reward and its rule, and the status: finished (the budget is sampled), running "
        "(a search holds the run's lock), interrupted (continue with nos search --resume RUN_DIR) or "
        "corrupt (with the reason; nos verify RUN_DIR says the same). Reads the stores without "
        "changing them.",
    )
    parser.add_argument("dir", metavar="DIR", nargs="?", default="runs", help="a directory of runs (default: runs)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from nos.errors import NosError
    from nos.search.store import STORE_NAME
    from nos.text_tables import text_table

    root = Path(args.dir)
    if not root.is_dir():
        raise NosError(f"{root} {'is not a directory' if root.exists() else 'does not exist'}")
    runs = sorted(d for d in root.iterdir() if (d / STORE_NAME).is_file())
    if not runs:
        print(f"no runs in {root}")
        return 0
    headers = ["run", "task", "controller", "samples", "changed", "best", "rule", "status"]
    print(text_table(headers, [row(run_dir) for run_dir in runs]))
    return 0


def row(run_dir: Path) -> list[str]:
    """The table row of `run_dir`; a store that cannot be read is a row saying why, not an error."""
    from nos.errors import NosError
    from nos.search.loop import leaderboard

    changed = time.strftime("%Y-%m-%d %H:%M", time.localtime(last_change(run_dir)))
    try:
        with open_run(run_dir) as (store, config):
            samples = store.sample_count()
            best = leaderboard(store, 1)
            state = status(run_dir, samples, config.budget)
    except (NosError, ValueError, OSError) as error:  # ValueError: a stored text or JSON that does not parse
        from nos.cli import one_line
        from nos.search.store import STORE_NAME

        reason = one_line(error).removeprefix(f"run store {run_dir / STORE_NAME} ").removeprefix("is ")
        return [run_dir.name, "-", "-", "-", changed, "-", "-", f"corrupt: {reason}"]
    rule = best[0]["rule"] if best else "-"
    if len(rule) > RULE_WIDTH:
        rule = rule[: RULE_WIDTH - 1] + "…"
    return [
        run_dir.name,
        ", ".join(name for name, _ in config.reward.task_list()),
        config.controller.name,
        f"{samples}/{config.budget}",
        changed,
        f"{best[0]['reward']:.4f}" if best else "-",
        rule,
        state,
    ]


@contextmanager
def open_run(run_dir: Path):
    """(store, config) of the run in `run_dir`, opened read-only and verified; NosError naming the
    problem if it is not an intact NOS run. The store is closed on leaving."""
    import sqlite3

    from nos.errors import NosError
    from nos.search.loop import stored_config
    from nos.search.store import RunStore

    store = RunStore.open(run_dir, readonly=True)
    try:
        yield store, stored_config(store, None)
    except sqlite3.Error as error:  # damage the quick check and the integrity chain did not reach
        raise NosError(f"run store {store.path} is unreadable: {error}") from None
    finally:
        store.close()


def status(run_dir: Path, samples: int, budget: int) -> str:
    """running (a search holds the lock), finished (`samples` reached `budget`) or interrupted."""
    if in_use(run_dir):
        return "running"
    return "finished" if samples >= budget else "interrupted"


def in_use(run_dir: Path) -> bool:
    """True while a process holds the lock of `run_dir` (`RunStore.lock`). Probed with the same
    non-blocking flock and released at once; the lock file is never created."""
    try:
        import fcntl
    except ImportError:  # not POSIX: searches take no lock either
        return False
    from nos.search.store import LOCK_NAME

    try:
        lock = open(Path(run_dir) / LOCK_NAME)  # noqa: SIM115 — read-only: never creates it
    except FileNotFoundError:
        return False
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def last_change(run_dir: Path) -> float:
    """When the store last changed: its file's mtime, or its WAL's while a search writes there."""
    from nos.search.store import STORE_NAME

    paths = [run_dir / STORE_NAME, run_dir / f"{STORE_NAME}-wal"]
    return max(p.stat().st_mtime for p in paths if p.exists())
