"""The on-disk XLA cache (`nos.engine.compile_cache`): a second process loads what the first
compiled, computes the same numbers, and a damaged or partial entry never reaches TensorFlow."""

import json
import os
import subprocess
import sys

from nos.engine import compile_cache

TRAIN = """
import json, time
from nos.engine import compile_cache
from nos.engine.interpreter import run_lanes
started = time.perf_counter()
out = run_lanes("rosenbrock", ["sign(m)*g", "adam"], [1e-3, 1e-2], 0, 50, rows="exact")
print(json.dumps({"private": str(compile_cache._state.get("private")), "seconds": time.perf_counter() - started,
                  "curves": out.curves.tolist()}))
"""


def _train(cache, cwd=None):
    env = {**os.environ, "NOS_COMPILE_CACHE": str(cache), "PYTHONPATH": os.getcwd()}
    env.pop("TF_XLA_FLAGS", None)
    done = subprocess.run([sys.executable, "-c", TRAIN], capture_output=True, text=True, env=env, timeout=300,
                          cwd=cwd)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def _entries(cache):
    return sorted(p.name for p in cache.rglob("*.pb") if "processes" not in p.parts)


def test_a_second_process_loads_the_compiled_loop_and_computes_the_same_numbers(tmp_path):
    cache = tmp_path / "cache"
    first = _train(cache)
    entries = _entries(cache)
    assert entries, "the first process published no compiled loop"
    second = _train(cache)
    assert second["curves"] == first["curves"]
    assert _entries(cache) == entries  # nothing new was compiled
    for run in (first, second):  # each process's private directory is gone after it
        assert run["private"] != "None" and not os.path.exists(run["private"])


def test_what_a_killed_process_left_is_never_handed_to_tensorflow_and_is_cleaned_up(tmp_path):
    cache = tmp_path / "cache"
    first = _train(cache)
    shared = next(p for p in cache.iterdir() if p.is_dir())
    entries = _entries(cache)
    killed = shared / "processes" / "999999999-0000"  # a private directory whose process is gone
    killed.mkdir()
    for name in entries:  # entries cut short while TensorFlow wrote them
        (killed / name).write_bytes(b"partial")
    stray = shared / f".{entries[0]}.0000.tmp"  # a publish killed between link and rename
    stray.write_bytes(b"partial")
    os.utime(stray, (0, 0))
    assert _train(cache)["curves"] == first["curves"]
    assert not killed.exists() and not stray.exists()
    assert _entries(cache) == entries


def test_off_turns_the_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv(compile_cache.ENV, "off")
    assert compile_cache.directory() is None
    monkeypatch.setenv(compile_cache.ENV, str(tmp_path))
    assert compile_cache.directory().parent == tmp_path
    run = _train("off", cwd=tmp_path)
    assert run["private"] == "None" and not (tmp_path / "off").exists()


def test_the_oldest_entries_go_first_past_the_size_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(compile_cache, "MAX_BYTES", 250)
    for age, name in enumerate(["new.pb", "middle.pb", "old.pb"]):
        path = tmp_path / name
        path.write_bytes(b"x" * 100)
        os.utime(path, (1_000_000 - age * 1000, 1_000_000 - age * 1000))
    compile_cache._prune(tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.pb")) == ["middle.pb", "new.pb"]
