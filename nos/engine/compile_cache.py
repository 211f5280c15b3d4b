"""XLA executables of the training loops, kept on disk so a later process skips compiling them.

TensorFlow's XLA JIT saves each compiled cluster to ``--tf_xla_persistent_cache_directory`` and
loads it again in any process whose cluster has the same HLO (checked in full on load). A loop
then costs its Python trace but not XLA's compilation (about 1–2 s per loop here, `nos bench`),
and a loaded executable is the compiled code itself, so it computes the same numbers.

TensorFlow writes an entry in place and fails the call whose entry it cannot read, so a shared
directory written by several processes, or by one killed mid-write, could break later runs.
Each process therefore hands TensorFlow a private directory of hard links to the shared entries
(`enable`), and `publish` moves the entries it wrote into the shared directory by an atomic
rename once the calls that wrote them have returned: the shared directory only ever holds
complete entries.

Location: ``$NOS_COMPILE_CACHE``, by default ``$XDG_CACHE_HOME/nos/xla`` (``~/.cache/nos/xla``);
``off`` turns it off. Entries are kept apart per TensorFlow version and CPU (machine and
instruction-set flags); past `MAX_BYTES` the oldest are removed. A cache that
cannot be created or written is skipped, never an error.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import platform
import shutil
import threading
import time
import uuid
from pathlib import Path

ENV = "NOS_COMPILE_CACHE"
MAX_BYTES = 1 << 30
"""Size of the shared cache past which its oldest entries are removed (an entry is 1–2 MB)."""

STALE_SECONDS = 3600
"""Age past which a partial entry left in the shared directory is removed."""

_state: dict = {}
_lock = threading.Lock()
_in_flight = 0


def directory() -> Path | None:
    """The shared cache directory of this TensorFlow and CPU, or None when turned off."""
    setting = os.environ.get(ENV, "")
    if setting.lower() in ("off", "0", "false", "no"):
        return None
    base = Path(setting) if setting else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "nos" / "xla"
    import tensorflow as tf

    return base / f"tf-{tf.__version__}-{platform.machine()}-{_cpu_digest()}"


def _cpu_digest() -> str:
    """8 hex digits of the CPU's model and instruction-set flags: code compiled for one CPU may
    not run on another."""
    text = platform.processor()
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        text += "".join(line for line in lines if line.startswith(("flags", "model name")))[:4096]
    except OSError:
        pass
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def enable() -> Path | None:
    """Point TensorFlow's XLA cache at this process's private directory; once per process.

    Must run before the process runs its first TensorFlow function (TensorFlow reads its XLA
    flags then): importing `nos.engine.tasks` calls it, and the interpreter again before
    building a loop (a no-op by then). Returns the private directory, or None
    when the cache is off or cannot be set up.
    """
    if "private" in _state:
        return _state["private"]
    _state["private"] = None
    if "tf_xla_persistent_cache_directory" in os.environ.get("TF_XLA_FLAGS", ""):
        return None  # the user's own setting
    private = None
    try:
        shared = directory()
        if shared is None:
            return None
        private = shared / "processes" / f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
        private.mkdir(parents=True)
        _remove_orphans(shared / "processes", keep=private)
        linked = set()
        for entry in shared.glob("*.pb"):
            _link_or_copy(entry, private / entry.name)
            linked.add(entry.name)
        _read_flags_with(f"--tf_xla_persistent_cache_directory={private}")
    except Exception:  # no home directory, a read-only disk, a TensorFlow without XLA: no cache
        if private is not None:
            shutil.rmtree(private, ignore_errors=True)
        return None
    _state.update(private=private, shared=shared, known=linked)
    atexit.register(_close)
    return private


@contextlib.contextmanager
def compiling():
    """Wrap calls of compiled loops: the entries they wrote are published once the last such call
    in the process has returned (a call that starts meanwhile waits for the publishing)."""
    global _in_flight
    with _lock:
        _in_flight += 1
    try:
        yield
    finally:
        with _lock:
            _in_flight -= 1
            if _in_flight == 0:
                publish()


def publish() -> int:
    """Move the entries this process compiled since the last call into the shared cache;
    returns how many. Only when no compiled call is in flight (`compiling` sees to that): an
    entry is complete once the call that compiled it has returned."""
    private = _state.get("private")
    if private is None:
        return 0
    shared, known = _state["shared"], _state["known"]
    published = 0
    try:
        for entry in private.glob("*.pb"):
            if entry.name in known:
                continue
            partial = shared / f".{entry.name}.{uuid.uuid4().hex[:8]}.tmp"
            _link_or_copy(entry, partial)
            os.replace(partial, shared / entry.name)
            known.add(entry.name)
            published += 1
        if published:
            _prune(shared)
    except OSError:
        pass
    return published


def _read_flags_with(flag: str) -> None:
    """Have TensorFlow read its XLA flags (once per process, when it first runs a function) with
    `flag` added, without passing the flag on to child processes through the environment."""
    import tensorflow as tf

    before = os.environ.get("TF_XLA_FLAGS")
    os.environ["TF_XLA_FLAGS"] = f"{before or ''} {flag}".strip()
    try:
        tf.function(lambda x: x + 1.0, jit_compile=True, autograph=False)(tf.zeros([1]))
    finally:
        if before is None:
            del os.environ["TF_XLA_FLAGS"]
        else:
            os.environ["TF_XLA_FLAGS"] = before


def _link_or_copy(source: Path, target: Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copyfile(source, target)


def _prune(shared: Path) -> None:
    """Remove the oldest entries while the cache holds more than `MAX_BYTES`."""
    entries = sorted(shared.glob("*.pb"), key=lambda p: p.stat().st_mtime)
    total = sum(p.stat().st_size for p in entries)
    for entry in entries:
        if total <= MAX_BYTES:
            break
        total -= entry.stat().st_size
        entry.unlink(missing_ok=True)


def _remove_orphans(processes: Path, keep: Path) -> None:
    """Private directories of processes that no longer run (killed before their exit hook)."""
    for path in processes.iterdir():
        pid = path.name.split("-")[0]
        if path != keep and pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(path, ignore_errors=True)
    for stray in processes.parent.glob(".*.tmp"):  # a publish killed between link and rename
        if time.time() - stray.stat().st_mtime > STALE_SECONDS:
            stray.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _close() -> None:
    with _lock:
        publish()
    shutil.rmtree(_state["private"], ignore_errors=True)
