"""The run store: one SQLite file (WAL) holding every sampled rule of a search.

Each controller step is committed in one transaction together with the name of the controller
checkpoint written just before it, so after a crash the store and the checkpoint it names
always describe the same moment of the search. A new store is built under a temporary name and
renamed into place, so a run directory holds a whole store or none. Opening checks the file
read-only first (a file that is not a NOS store is never modified). Tables:

    meta     (name, value)            run config (JSON), schema version, baseline score, …
    samples  one row per sampled rule: batch, position, tokens, text, key, fingerprint,
             source (evaluated | cache | invalid | failed), and its `nos.engine.outcome.Outcome`
             as the columns `OUTCOME_COLUMNS`: status (ok | diverged | invalid | failed), reason,
             reward, score, best_lr, metrics (JSON: per learning rate and seed), seconds.
             "failed": the executor could not train the rule (reason says why); reward 0, never
             served from the cache.
    batches  one row per controller step: sizes, timings, controller stats, checkpoint
    chain    one row per controller step: its integrity record (below)
    stages, stage_rules   the funnel after the search (`nos.search.funnel`): one row per stage (the
             steps it was computed from, its config, baseline, integrity record) and its rules

Integrity: step b's record is SHA-256 over the record of step b − 1 (for step 0, over the meta
rows), the step's `batches` row and its `samples` rows, every column as stored; it is written in
the step's transaction; a funnel stage's record chains the same way from the record of the last
step it was computed from (stage 1) or the previous stage's. Opening a store (`nos verify`, `--resume`, a run reference in
`nos evaluate`/`nos export`) recomputes the chain and names the first step whose rows changed,
are missing or have no step; the run must then be fixed or discarded, never resumed, since
nothing later can be trusted. This detects corruption and accidental edits, not a deliberate
forger, who can recompute the chain. Stores made before the chain existed open unverified.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import time
from dataclasses import dataclass, fields
from pathlib import Path

from nos.engine.outcome import Outcome
from nos.errors import NosError

SCHEMA_VERSION = 1
STORE_NAME = "store.sqlite"
LOCK_NAME = "lock"
TEMPORARIES = (f".{STORE_NAME}.new", ".write-test", ".config.json.tmp", ".leaderboard.md.tmp")
"""Files a killed process may leave in a run directory; the next search there deletes them."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS samples (
    id INTEGER PRIMARY KEY,
    batch INTEGER NOT NULL,
    position INTEGER NOT NULL,
    tokens TEXT NOT NULL,
    text TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    source TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    reward REAL NOT NULL,
    score REAL,
    best_lr REAL,
    metrics TEXT,
    seconds REAL NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    UNIQUE (batch, position)
);
CREATE INDEX IF NOT EXISTS samples_key ON samples (key);
CREATE INDEX IF NOT EXISTS samples_fingerprint ON samples (fingerprint);
CREATE TABLE IF NOT EXISTS batches (
    batch INTEGER PRIMARY KEY,
    size INTEGER NOT NULL,
    evaluated INTEGER NOT NULL,
    seconds_propose REAL, seconds_evaluate REAL, seconds_update REAL, seconds_store REAL,
    stats TEXT,
    checkpoint TEXT,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chain (batch INTEGER PRIMARY KEY, digest TEXT NOT NULL);
"""
_FUNNEL_SCHEMA = """
CREATE TABLE IF NOT EXISTS stages (
    stage INTEGER PRIMARY KEY,
    steps INTEGER NOT NULL,
    config TEXT NOT NULL,
    baseline TEXT NOT NULL,
    created REAL NOT NULL,
    digest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS stage_rules (
    stage INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    text TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    reward REAL NOT NULL,
    score REAL,
    best_lr REAL,
    metrics TEXT,
    seconds REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (stage, rank)
);
"""
"""The funnel's tables (`nos.search.funnel`), made by the first stage a run commits."""


OUTCOME_COLUMNS = tuple(field.name for field in fields(Outcome))
"""The columns of `samples` and `stage_rules` that hold an `Outcome`, named as its fields."""


def outcome_values(outcome: Outcome) -> tuple:
    """`outcome` as the values of `OUTCOME_COLUMNS` (metrics as JSON, a non-finite score as NULL)."""
    data = outcome.to_dict()
    data["score"] = _finite_or_none(data["score"])
    data["metrics"] = json.dumps(data["metrics"]) if data["metrics"] is not None else None
    return tuple(data[name] for name in OUTCOME_COLUMNS)


def outcome_of(row) -> Outcome:
    """The `Outcome` a `samples` or `stage_rules` row holds."""
    data = {name: row[name] for name in OUTCOME_COLUMNS}
    data["metrics"] = json.loads(data["metrics"]) if data["metrics"] is not None else None
    return Outcome.from_dict(data)


@dataclass(frozen=True)
class Sample:
    """One sampled rule: its tokens, text and keys, where its outcome came from (`source`:
    evaluated, cache, invalid or failed) and the outcome."""

    tokens: list[int]
    text: str
    key: str
    fingerprint: str
    source: str
    outcome: Outcome

    @classmethod
    def of(cls, rule, source: str, outcome: Outcome) -> Sample:
        """A sample of `rule` (a `search_space.Rule`)."""
        return cls(list(rule.tokens), str(rule), rule.key, rule.fingerprint, source, outcome)

    @classmethod
    def from_row(cls, row) -> Sample:
        """A stored `samples` row as a Sample."""
        return cls(json.loads(row["tokens"]), row["text"], row["key"], row["fingerprint"], row["source"],
                   outcome_of(row))


class RunStore:
    """Open with `RunStore.create(run_dir, config)` or `RunStore.open(run_dir)`."""

    def __init__(self, path: Path, readonly: bool = False):
        self.path = path
        try:
            self.db = sqlite3.connect(readonly_uri(path) if readonly else path, uri=readonly,
                                      isolation_level=None, timeout=30)
            self.db.row_factory = sqlite3.Row
            if not readonly:
                self.db.execute("PRAGMA journal_mode=WAL")
                self.db.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as error:
            raise NosError(f"cannot open run store {path}: {error}") from None

    @classmethod
    def create(cls, run_dir: Path, config: dict, files: dict[str, str] | None = None) -> RunStore:
        """A new run in `run_dir` (made if missing) with `config`; `files` (name -> text) are written
        beside the store first. NosError if `run_dir` holds a run or cannot be written."""
        run_dir = Path(run_dir)
        path = run_dir / STORE_NAME
        if path.exists():
            raise NosError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            probe = run_dir / ".write-test"
            probe.write_text("")
            probe.unlink()
            for name, text in (files or {}).items():
                temporary = run_dir / f".{name}.tmp"
                temporary.write_text(text)
                os.replace(temporary, run_dir / name)
        except OSError as error:
            raise NosError(f"cannot write to {run_dir}: {error.strerror or error}") from None
        building = run_dir / f".{STORE_NAME}.new"
        for stale in (building, building.with_name(building.name + "-journal")):
            stale.unlink(missing_ok=True)
        db = sqlite3.connect(building, isolation_level=None)
        try:
            db.execute("PRAGMA synchronous=FULL")
            with _Transaction(db):
                for statement in filter(str.strip, _SCHEMA.split(";")):
                    db.execute(statement)
                meta = {"schema_version": SCHEMA_VERSION, "config": config, "created": time.time()}
                for name, value in meta.items():
                    db.execute("INSERT INTO meta VALUES (?, ?)", (name, json.dumps(value)))
        finally:
            db.close()
        try:
            os.link(building, path)  # unlike a rename, never replaces a store another process just made
        except FileExistsError:
            raise NosError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out") from None
        finally:
            building.unlink(missing_ok=True)
        return cls(path)

    @classmethod
    def open(cls, run_dir: Path, readonly: bool = False) -> RunStore:
        """The run in `run_dir`; NosError naming the problem if it is not a readable NOS store.
        `readonly`: for looking only (`nos runs`, `nos show`); not a byte of `run_dir` changes."""
        run_dir = Path(run_dir)
        path = run_dir / STORE_NAME
        if not run_dir.is_dir():
            raise NosError(f"{run_dir} is not a directory")
        if not path.is_file():
            raise NosError(f"{run_dir} is not a NOS run (no {STORE_NAME})")
        _check_readonly(path)
        store = cls(path, readonly=readonly)
        try:
            store.steps_verified = store.verify()
        except NosError:
            store.close()
            raise
        return store

    def lock(self):
        """Hold `LOCK_NAME` beside the store until `close` (or the process's death, SIGKILL
        included); NosError if another process holds it. One search per run directory."""
        try:
            import fcntl
        except ImportError:  # not POSIX: no lock
            return
        self._lock = open(self.path.parent / LOCK_NAME, "a")  # noqa: SIM115 — held until close()
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise NosError(f"{self.path.parent} is in use by another search (it holds {LOCK_NAME})") from None

    def close(self):
        self.db.close()
        if getattr(self, "_lock", None) is not None:
            self._lock.close()

    def transaction(self):
        return _Transaction(self.db)

    def meta(self, name: str, default=None):
        try:
            row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        except sqlite3.OperationalError as error:
            raise NosError(f"run store {self.path} is not a NOS store: {error}") from None
        return json.loads(row[0]) if row else default

    def set_meta(self, name: str, value):
        self.db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (name, json.dumps(value)))

    def batches_done(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM batches").fetchone()[0]

    def sample_count(self) -> int:
        return self.db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]

    def last_checkpoint(self) -> str | None:
        row = self.db.execute("SELECT checkpoint FROM batches ORDER BY batch DESC LIMIT 1").fetchone()
        return row[0] if row else None

    def commit_batch(self, batch: int, samples: list[Sample], info: dict):
        """Write a controller step's samples and bookkeeping atomically."""
        now = time.time()
        with self.transaction():
            for position, s in enumerate(samples):
                self.db.execute(
                    f"INSERT INTO samples (batch, position, tokens, text, key, fingerprint, source,"
                    f" {', '.join(OUTCOME_COLUMNS)}, created) VALUES ({', '.join('?' * (len(OUTCOME_COLUMNS) + 8))})",
                    (batch, position, json.dumps(s.tokens), s.text, s.key, s.fingerprint, s.source,
                     *outcome_values(s.outcome), now),
                )
            self.db.execute(
                "INSERT INTO batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    batch, len(samples), sum(s.source == "evaluated" for s in samples),
                    info.get("seconds_propose"), info.get("seconds_evaluate"), info.get("seconds_update"),
                    info.get("seconds_store"), json.dumps(info.get("stats", {})), info.get("checkpoint"), now,
                ),
            )
            if self.chained:
                row = self.db.execute("SELECT digest FROM chain WHERE batch = ?", (batch - 1,)).fetchone()
                self.db.execute("INSERT INTO chain VALUES (?, ?)", (batch, self._digest(batch, row[0] if row else None)))

    @property
    def chained(self) -> bool:
        """True when the store keeps integrity records (every store made since they exist)."""
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'chain'").fetchone() is not None

    def _digest(self, batch: int, previous: str | None) -> str:
        """The integrity record of step `batch` given step batch − 1's (None for step 0)."""
        if previous is None:
            previous = _sha256([tuple(row) for row in self.db.execute("SELECT name, value FROM meta ORDER BY name")])
        step = self.db.execute("SELECT * FROM batches WHERE batch = ?", (batch,)).fetchone()
        rows = self.db.execute("SELECT * FROM samples WHERE batch = ? ORDER BY position", (batch,)).fetchall()
        return _sha256([previous, tuple(step), [tuple(row) for row in rows]])

    def verify(self) -> int:
        """Recompute the integrity chain; the number of steps verified (0 for a store made before
        the chain existed). NosError naming the first step that does not match."""
        where = f"run store {self.path}"
        try:
            if not self.chained:
                return 0
            steps = [b for (b,) in self.db.execute("SELECT batch FROM batches ORDER BY batch")]
            records = dict(self.db.execute("SELECT batch, digest FROM chain").fetchall())
            for expected, batch in enumerate(steps):
                if batch != expected:
                    raise NosError(f"{where} is damaged: step {expected} is missing")
            stray = self.db.execute("SELECT MIN(batch) FROM samples WHERE batch NOT IN (SELECT batch FROM batches)").fetchone()[0]
            if stray is not None:
                raise NosError(f"{where} is damaged: samples of step {stray} have no step record")
            previous = None
            for batch in steps:
                previous = self._digest(batch, previous)
                if records.get(batch) != previous:
                    raise NosError(f"{where} is damaged: step {batch} differs from what was committed "
                                   "(integrity record mismatch)")
            self._verify_stages(where, len(steps))
        except sqlite3.Error as error:
            raise NosError(f"{where} is unreadable: {error}") from None
        return len(steps)

    def known_outcomes(self) -> tuple[dict, dict]:
        """The stored `Outcome`s of evaluated rules (the first of each), by canonical key and by
        fingerprint."""
        by_key, by_fingerprint = {}, {}
        for row in self.db.execute("SELECT * FROM samples WHERE source = 'evaluated' ORDER BY id"):
            outcome = outcome_of(row)
            by_key.setdefault(row["key"], outcome)
            by_fingerprint.setdefault(row["fingerprint"], outcome)
        return by_key, by_fingerprint

    def samples(self):
        return self.db.execute("SELECT * FROM samples ORDER BY batch, position").fetchall()

    def sample_texts(self) -> set[str]:
        """The distinct rule texts sampled so far."""
        return {text for (text,) in self.db.execute("SELECT DISTINCT text FROM samples")}

    def top(self, k: int):
        """The best `k` distinct rules (by key), highest reward first."""
        return self.db.execute(
            "SELECT *, MAX(reward) AS best FROM samples WHERE status = 'ok'"
            " GROUP BY key ORDER BY best DESC, id LIMIT ?",
            (k,),
        ).fetchall()

    def timings(self) -> dict:
        row = self.db.execute(
            "SELECT SUM(seconds_propose), SUM(seconds_evaluate), SUM(seconds_update), SUM(seconds_store)"
            " FROM batches"
        ).fetchone()
        return dict(zip(("propose", "evaluate", "update", "store"), (v or 0.0 for v in row)))

    # --- the funnel (nos.search.funnel): one transaction and integrity record per stage ------------------

    def funnel_stage_count(self) -> int:
        if not self._has_table("stages"):
            return 0
        return self.db.execute("SELECT COUNT(*) FROM stages").fetchone()[0]

    def funnel_stage(self, stage: int):
        """Stage `stage` as committed (a `nos.search.funnel.StageResult`), or None."""
        from nos.search.funnel import StageResult

        if not self._has_table("stages"):
            return None
        row = self.db.execute("SELECT * FROM stages WHERE stage = ?", (stage,)).fetchone()
        if row is None:
            return None
        rules = [
            {"text": r["text"], "key": r["key"], "fingerprint": r["fingerprint"], **outcome_of(r).to_dict()}
            for r in self.db.execute("SELECT * FROM stage_rules WHERE stage = ? ORDER BY rank", (stage,))
        ]
        return StageResult(stage, row["steps"], json.loads(row["config"]), json.loads(row["baseline"]), rules)

    def commit_funnel_stage(self, result) -> None:
        """Replace stage `result.stage` and every later one by `result`, atomically."""
        with self.transaction():
            for statement in filter(str.strip, _FUNNEL_SCHEMA.split(";")):
                self.db.execute(statement)
            self._drop_stages_from(result.stage)
            self.db.execute(
                "INSERT INTO stages (stage, steps, config, baseline, created, digest) VALUES (?, ?, ?, ?, ?, '')",
                (result.stage, result.steps, json.dumps(result.config), json.dumps(result.baseline), time.time()),
            )
            for rank, rule in enumerate(result.rules):
                self.db.execute(
                    f"INSERT INTO stage_rules (stage, rank, text, key, fingerprint, {', '.join(OUTCOME_COLUMNS)})"
                    f" VALUES ({', '.join('?' * (len(OUTCOME_COLUMNS) + 5))})",
                    (result.stage, rank, rule["text"], rule["key"], rule["fingerprint"],
                     *outcome_values(Outcome.from_dict({name: rule[name] for name in OUTCOME_COLUMNS}))),
                )
            if self.chained:
                digest = self._stage_digest(result.stage, self._stage_origin(result.stage, result.steps))
                self.db.execute("UPDATE stages SET digest = ? WHERE stage = ?", (digest, result.stage))

    def drop_funnel_stages_after(self, count: int) -> None:
        """Delete the stages past the first `count` (a funnel made shorter on resume)."""
        if self._has_table("stages"):
            with self.transaction():
                self._drop_stages_from(count + 1)

    def _drop_stages_from(self, stage: int) -> None:
        self.db.execute("DELETE FROM stage_rules WHERE stage >= ?", (stage,))
        self.db.execute("DELETE FROM stages WHERE stage >= ?", (stage,))

    def _has_table(self, name: str) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchone() is not None

    def _stage_origin(self, stage: int, steps: int) -> str:
        """What stage `stage`'s record chains to: the previous stage's record, or for stage 1 the
        record of the last step it was computed from (the meta rows' digest before any step)."""
        if stage > 1:
            row = self.db.execute("SELECT digest FROM stages WHERE stage = ?", (stage - 1,)).fetchone()
            return row[0] if row else ""
        if steps == 0:
            return _sha256([tuple(row) for row in self.db.execute("SELECT name, value FROM meta ORDER BY name")])
        row = self.db.execute("SELECT digest FROM chain WHERE batch = ?", (steps - 1,)).fetchone()
        return row[0] if row else ""

    def _verify_stages(self, where: str, steps: int) -> None:
        """The funnel's part of `verify`: stages 1..n, each chained to what it was computed from."""
        if not self._has_table("stages"):
            return
        stages = self.db.execute("SELECT stage, steps, digest FROM stages ORDER BY stage").fetchall()
        for expected, (stage, stage_steps, digest) in enumerate(stages, start=1):
            if stage != expected:
                raise NosError(f"{where} is damaged: funnel stage {expected} is missing")
            if not 0 <= stage_steps <= steps or digest != self._stage_digest(stage, self._stage_origin(stage, stage_steps)):
                raise NosError(f"{where} is damaged: funnel stage {stage} differs from what was committed "
                               "(integrity record mismatch)")
        stray = self.db.execute("SELECT MIN(stage) FROM stage_rules WHERE stage NOT IN (SELECT stage FROM stages)").fetchone()[0]
        if stray is not None:
            raise NosError(f"{where} is damaged: rules of funnel stage {stray} have no stage record")

    def _stage_digest(self, stage: int, previous: str) -> str:
        row = self.db.execute("SELECT stage, steps, config, baseline, created FROM stages WHERE stage = ?", (stage,)).fetchone()
        rules = self.db.execute("SELECT * FROM stage_rules WHERE stage = ? ORDER BY rank", (stage,)).fetchall()
        return _sha256([previous, tuple(row), [tuple(rule) for rule in rules]])


def _check_readonly(path: Path):
    """NosError unless `path` is an intact NOS store of this schema version; never writes to it."""
    try:
        db = sqlite3.connect(readonly_uri(path), uri=True)
    except sqlite3.Error as error:
        raise NosError(f"cannot open run store {path}: {error}") from None
    try:
        verdict = db.execute("PRAGMA quick_check").fetchone()[0]
        if verdict != "ok":
            raise NosError(f"run store {path} is corrupted: {' '.join(verdict.split())}")
        tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not {"meta", "samples", "batches"} <= tables:
            found = ", ".join(sorted(tables)) or "none"
            raise NosError(f"run store {path} is not a NOS store (tables: {found})")
        row = db.execute("SELECT value FROM meta WHERE name = 'schema_version'").fetchone()
        version = json.loads(row[0]) if row else None
    except sqlite3.Error as error:
        raise NosError(f"run store {path} is unreadable: {error}") from None
    finally:
        db.close()
    if version != SCHEMA_VERSION:
        raise NosError(f"run store {path} has schema version {version}; this NOS reads {SCHEMA_VERSION}")


def readonly_uri(path: Path) -> str:
    """A URI that opens the store at `path` without writing a byte in its directory.

    ``mode=ro`` alone creates the -wal and -shm files of SQLite's WAL and leaves them. Where they
    exist (a search has the store open, or was killed), read through them without writing to
    them (``readonly_shm``); elsewhere the file itself holds every committed step: read it as
    immutable (a search that starts meanwhile writes to a new -wal, not to the file)."""
    wal, shm = (path.with_name(path.name + suffix) for suffix in ("-wal", "-shm"))
    mode = "mode=ro&readonly_shm=1" if wal.exists() and shm.exists() else "immutable=1"
    return f"{path.resolve().as_uri()}?{mode}"


class _Transaction:
    def __init__(self, db):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, kind, value, traceback):
        self.db.execute("COMMIT" if kind is None else "ROLLBACK")
        return False


def _sha256(value) -> str:
    """SHA-256 of `value`'s JSON (floats as their exact repr, so any changed bit changes it)."""
    return hashlib.sha256(json.dumps(value, separators=(",", ":")).encode()).hexdigest()


def _finite_or_none(value):
    return value if value is not None and value == value and abs(value) != float("inf") else None
