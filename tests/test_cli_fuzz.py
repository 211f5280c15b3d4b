"""Bad input, everywhere: every subcommand answers bad arguments, rule text, configs, run
directories and stores with one line naming the problem and exit status 2, never a traceback,
and leaves a run's store as it was. A fuzz test drives the CLI with random arguments.

In-process through `nos.cli.main(argv)` (fast); a few through a real process to see stderr whole.
Nothing here trains: the entry points that would (the search loop after its checks and the
store's creation, run_protocol, run_bench, the rediscover studies) are replaced by `_reached`,
which ends the command as "would have trained"; no Ray instance is started.
"""

import os
import re
import sqlite3
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from nos.cli import build_parser, main
from nos.search.config import from_dict
from nos.search.store import STORE_NAME, RunStore
from tests.test_search import SMALL, write_toml


class Reached(BaseException):
    """A command got past its checks to the point where it would train."""


def _reached(*args, **kwargs):
    raise Reached


@pytest.fixture
def no_training(monkeypatch):
    import nos.benchmark.deepobs
    import nos.benchmark.rediscover
    import nos.benchmark.speed
    import nos.search.executors
    import nos.search.loop

    monkeypatch.setattr(nos.search.loop, "_search", _reached)
    monkeypatch.setattr(nos.search.executors, "make_executor", lambda config: nos.search.executors.LocalExecutor(config))
    monkeypatch.setattr(nos.benchmark.deepobs, "run_protocol", _reached)
    monkeypatch.setattr(nos.benchmark.speed, "run_bench", _reached)
    monkeypatch.setattr(nos.benchmark.rediscover, "engine_study", _reached)
    monkeypatch.setattr(nos.benchmark.rediscover, "target_study", _reached)


def _make_places(root):
    """Files and directories a user might point the CLI at, good and bad."""
    root.mkdir(parents=True, exist_ok=True)
    run = root / "run"
    RunStore.create(run, from_dict(SMALL).to_dict()).close()
    (root / "empty").mkdir()
    (root / "garbage").mkdir()
    (root / "garbage" / STORE_NAME).write_bytes(b"this is not sqlite\n" * 100)
    (root / "foreign").mkdir()
    db = sqlite3.connect(root / "foreign" / STORE_NAME)
    db.execute("CREATE TABLE t (x)")
    db.commit()
    db.close()
    truncated = root / "truncated"
    store = RunStore.create(truncated, from_dict(SMALL).to_dict())
    store.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    data = (truncated / STORE_NAME).read_bytes()
    (truncated / STORE_NAME).write_bytes(data[: len(data) // 3])
    (root / "file").write_text("a file, not a directory\n")
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("not a run\n")
    write_toml(SMALL, root / "good.toml")
    write_toml({**SMALL, "reward": {**SMALL["reward"], "steps": 61}}, root / "other.toml")
    (root / "typo.toml").write_text("budgt = 3\n")
    (root / "wrong-type.toml").write_text("[executor]\nretries = 'many'\n")
    (root / "broken.toml").write_text("budget = [\n")
    reward = SMALL["reward"]
    sizes = {"big-mlp": {"task": "mlp_digits", "task_config": {"hidden_sizes": [100_000_000]}},
             "wide-mlp": {"task": "mlp_digits", "task_config": {"hidden_sizes": [100_000, 100_000]}},
             "big-quadratic": {"task": "quadratic", "task_config": {"dim": 10_000_000_000}},
             "big-logreg": {"task": "logreg", "task_config": {"num_features": 1000, "num_train": 900_000}},
             "long": {"steps": 2_147_483_648}}
    for name, change in sizes.items():
        write_toml({**SMALL, "reward": {**reward, **change}}, root / f"{name}.toml")
    (root / "huge.toml").write_text("# padding\n" * 200_000)
    (root / "binary.toml").write_bytes(b"\xff\xfe budget")
    return root


@pytest.fixture
def places(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return _make_places(tmp_path / "p")


def _run(argv, capsys):
    """(exit status or "reached", stdout, stderr) of ``nos ARGV`` in this process."""
    try:
        code = main(argv)
    except Reached:
        code = "reached"
    out, err = capsys.readouterr()
    return code, out, err


P = "{p}"  # replaced by the places directory
BAD = [
    # (argv, pattern of the one stderr line)
    (["rules", "exp(("], r"nos rules: error: at position 5: expected an operand"),
    (["rules", "foo(g)"], r"'foo\(g\)' is not a function of the grammar"),
    (["rules", "g" * 5000], r"rule text is 5000 characters long; the limit is 4096"),
    (["rules", "1/0"], r"the number 0 is not an operand"),
    (["rules", "--format", "yaml"], r"argument --format: invalid choice: 'yaml'"),
    (["search", "--config", f"{P}/absent.toml"], r"cannot read config .*absent.toml: No such file"),
    (["search", "--config", f"{P}/broken.toml"], r"broken.toml is not valid TOML"),
    (["search", "--config", f"{P}/typo.toml"], r"unknown key 'budgt' in config"),
    (["search", "--config", f"{P}/wrong-type.toml"], r"executor.retries must be int, got 'many'"),
    (["search", "--preset", "huge"], r"unknown preset 'huge'"),
    (["search", "--config", f"{P}/big-mlp.toml"], r"reward.task: mlp_digits: hidden_sizes\[\] = 100000000 is above the limit of 1,000,000$"),
    (["search", "--config", f"{P}/wide-mlp.toml"], r"mlp_digits: the configuration has 10,007,600,010 parameters, above the limit of 1,000,000$"),
    (["search", "--config", f"{P}/big-quadratic.toml"], r"quadratic: dim = 10000000000 is above the limit of 1,000,000$"),
    (["search", "--config", f"{P}/big-logreg.toml"], r"logreg: \(num_train \+ num_val\) \* num_features = 900,500,000 values, above the limit of 50,000,000$"),
    (["search", "--config", f"{P}/long.toml"], r"reward.steps must be in 1..1,000,000, got 2147483648$"),
    (["search", "--config", f"{P}/huge.toml"], r"huge.toml is larger than the limit of 1,048,576 bytes$"),
    (["search", "--config", "/dev/zero"], r"config /dev/zero is larger than the limit of 1,048,576 bytes$"),
    (["search", "--config", f"{P}/binary.toml"], r"binary.toml is not UTF-8 text \(byte 0\)$"),
    (["search", "--budget", "0"], r"--budget must be at least 1, got 0"),
    (["search", "--budget", "ten"], r"argument --budget: invalid int value: 'ten'"),
    (["search", "--max-seconds", "-1"], r"max_seconds must be >= 0"),
    (["search", "--seed", "-5"], r"seed must be in 0..2147483647, got -5"),
    (["search", "--ray-address", "auto"], r"--ray-address needs --executor ray"),
    (["search", "--executor", "dask"], r"argument --executor: invalid choice: 'dask'"),
    (["search", "--config", f"{P}/good.toml", "--out", f"{P}/file/run"], r"cannot write to .*: Not a directory"),
    (["search", "--config", f"{P}/good.toml", "--out", f"{P}/run"], r"already holds a run; use --resume"),
    (["search", "--config", f"{P}/good.toml", "--out", f"{P}/notes"], r"notes holds files but no run; give a new or empty --out$"),
    (["search", "--resume", f"{P}/absent"], r"absent is not a directory"),
    (["search", "--resume", f"{P}/empty"], r"empty is not a NOS run \(no store.sqlite\)"),
    (["search", "--resume", f"{P}/garbage"], r"is unreadable: file is not a database"),
    (["search", "--resume", f"{P}/foreign"], r"is not a NOS store \(tables: t\)"),
    (["search", "--resume", f"{P}/truncated"], r"run store .* is (corrupted|unreadable)"),
    (["search", "--resume", f"{P}/run", "--config", f"{P}/other.toml"], r"was made with a different config \(reward.steps differ\)"),
    (["search", "--resume", f"{P}/run", "--seed", "4"], r"--resume continues a run as it was made"),
    (["search", "--resume", f"{P}/run", "--preset", "quick"], r"--resume continues a run as it was made"),
    (["evaluate", "exp(("], r"nos evaluate: error: at position 5"),
    (["evaluate", "--task", "imagenet", "g"], r"unknown task 'imagenet'"),
    (["evaluate", "--seeds", "0", "g"], r"--seeds and --steps must be at least 1"),
    (["evaluate", "sgd", "--task", "rosenbrock", "--steps", "3000000000"], r"--steps 3000000000 is above the limit of 1,000,000$"),
    (["evaluate", "g", "--seeds", "100000000000"], r"6 rules × 1 learning rates × 100000000000 seeds = 600,000,000,000 lanes, above the limit of 1,000,000$"),
    (["evaluate", "g", "--seeds", "200000"], r"6 rules × 1 learning rates × 200000 seeds = 1,200,000 lanes, above the limit of 1,000,000$"),
    (["evaluate", "--no-baselines"], r"no rules to evaluate"),
    (["evaluate", "g", "--learning-rates", "-1"], r"--learning-rates must be positive"),
    (["evaluate", f"{P}/empty"], r"is not a NOS run"),
    (["evaluate", f"{P}/run"], r"has no successfully evaluated rule yet"),
    (["evaluate", f"{P}/garbage#1"], r"is unreadable"),
    (["evaluate", f"{P}/run#0"], r"the rank after # must be an integer in 1\.\.1000000"),
    (["evaluate", f"{P}/run#99999999999999999999999"], r"the rank after # must be an integer in 1\.\.1000000"),
    (["evaluate", "run:g/(1+v)"], r"g/\(1\+v\) is not a run directory"),
    (["export", "rule:exp((", "--format", "keras", "-o", "x.py"], r"nos export: error: at position 5"),
    (["evaluate", "g", "--out", f"{P}/file/out"], r"cannot write to .*: Not a directory"),
    (["export", "exp((", "--format", "keras", "-o", "x.py"], r"nos export: error: at position 5"),
    (["export", "g", "--format", "jax", "-o", "x.py"], r"argument --format: invalid choice: 'jax'"),
    (["export", "1", "--format", "keras", "-o", "x.py"], r"1: the update does not depend on the gradient"),
    (["export", "g", "--format", "keras", "-o", f"{P}/file/x.py"], r"cannot write .*: Not a directory"),
    (["export", "g", "--format", "keras", "-o", f"{P}"], r"is a directory; give a file name"),
    (["export", "g", "--format", "keras", "-o", "y.py", "--name", "1bad"], r"class name '1bad' is not a Python identifier"),
    (["export", f"{P}/garbage", "--format", "keras", "-o", "z.py"], r"is unreadable"),
    (["export", "g", "--format", "keras"], r"the following arguments are required: -o/--output"),
    (["export", "g", "--format", "keras", "-o", "y.py", "--name", "super"], r"class name 'super' would hide Python's builtin super$"),
    (["export", "g", "--format", "keras", "-o", "y.py", "--name", "ValueError"], r"would hide Python's builtin ValueError$"),
    (["bench", "--ks", "0"], r"--ks must be in 1..4,096, got \[0\]"),
    (["bench", "--ks", "16", "1000000"], r"--ks must be in 1..4,096, got \[16, 1000000\]"),
    (["bench", "--steps", "-1"], r"--steps must be in 1..1,000,000, got -1"),
    (["bench", "--steps", "2147483648"], r"--steps must be in 1..1,000,000, got 2147483648"),
    (["bench", "--ks", "x"], r"argument --ks: invalid int value: 'x'"),
    (["rediscover", "--seeds", "0"], r"--seeds and --budget must be at least 1"),
    (["rediscover", "--target", "lion"], r"unknown target 'lion'"),
    (["rediscover", "--controllers", "genetic"], r"argument --controllers: invalid choice: 'genetic'"),
    (["rediscover", "--out", f"{P}/file/x"], r"cannot write to .*: Not a directory"),
    (["verify", f"{P}/absent"], r"nos verify: error: .*absent is not a directory$"),
    (["verify", f"{P}/empty"], r"empty is not a NOS run \(no store.sqlite\)$"),
    (["verify", f"{P}/garbage"], r"is unreadable: file is not a database$"),
    (["verify"], r"the following arguments are required: RUN_DIR"),
    (["launch"], r"nos: error: argument COMMAND: invalid choice: 'launch'"),
    ([], r"nos: error: the following arguments are required: COMMAND"),
]


def _store_state(places):
    return {
        name: ((places / name / STORE_NAME).read_bytes(), (places / name / STORE_NAME).stat().st_mtime_ns)
        for name in ("run", "garbage", "foreign", "truncated")
    }


@pytest.mark.parametrize("argv, pattern", BAD, ids=[" ".join(a)[:60] for a, _ in BAD])
def test_bad_input_is_one_line_and_exit_2_and_changes_no_store(argv, pattern, places, capsys, no_training):
    before = _store_state(places)
    code, _, err = _run([a.replace(P, str(places)) for a in argv], capsys)
    assert code == 2, (code, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert re.search(pattern, err), err
    assert _store_state(places) == before
    assert not (places / "file" / "run").exists() and not (places.parent / "runs").exists()


def test_the_same_config_may_resume_and_only_then_does_the_search_start(places, capsys, no_training):
    code, _, err = _run(["search", "--resume", str(places / "run"), "--config", str(places / "good.toml"),
                         "--budget", "20", "--executor", "ray"], capsys)
    assert code == "reached", err


def test_an_unexpected_error_is_one_line_and_exit_1(monkeypatch, capsys):
    import nos.cli.rules

    def broken(args):
        raise TypeError("an internal mistake")

    monkeypatch.setattr(nos.cli.rules, "run", broken)
    code, _, err = _run(["rules"], capsys)
    assert code == 1
    assert err == "nos rules: internal error: TypeError: an internal mistake (a bug; NOS_DEBUG=1 shows the traceback)\n"
    monkeypatch.setenv("NOS_DEBUG", "1")
    with pytest.raises(TypeError):
        main(["rules"])


def test_help_of_every_subcommand_exits_0(capsys):
    subcommands = next(a for a in build_parser()._actions if a.dest == "command").choices
    assert {"rules", "search", "evaluate", "export", "bench", "rediscover"} <= set(subcommands)
    for command in subcommands:
        code, out, _ = _run([command, "--help"], capsys)
        assert code == 0 and out.startswith(f"usage: nos {command}")


# --- pathological rules: long chains and constant towers --------------------------------------


def test_a_very_long_product_is_a_clear_error(capsys):
    code, _, err = _run(["rules", "*".join(["g"] * 1000)], capsys)
    assert code == 2, err


def test_a_constant_power_tower_is_answered_quickly(tmp_path):
    command = [sys.executable, "-m", "nos", "rules", "2^2^2^2^2^2^2*g"]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=4, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("nos rules did not answer in 4 s")
    assert done.returncode in (0, 2)


# --- real processes: what reaches stderr -------------------------------------------------------

PROCESSES = [
    ["rules", "exp(("],
    ["search", "--resume", "{p}/garbage"],
    ["evaluate", "--task", "imagenet", "g"],
    ["export", "1", "--format", "tf1", "-o", "{p}/x.py"],
]


@pytest.mark.parametrize("argv", PROCESSES, ids=[a[0] for a in PROCESSES])
def test_no_traceback_reaches_stderr_of_a_real_process(argv, places):
    argv = [a.replace("{p}", str(places)) for a in argv]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, "-m", "nos", *argv], capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"nos {argv[0]}: error: "), done.stderr


# --- fuzz ---------------------------------------------------------------------------------------

RULE_PIECES = ["g", "m", "v", "y", "g2", "g3", "sign(g)", "sign(m)", "adam", "rmsprop", "noise", "ld", "cd", "1", "2",
               "w4", "exp(", "log(abs(", "sqrt(abs(", "clip(", "drop(", "-", "+", "*", "/", "^", "(", ")", ", 0.3",
               ", 1e-05", " ", "0", "3", "e", "x", "#", "\\", "é", "powersign", "addsign_ld"]


def _rule_text():
    pieces = st.lists(st.sampled_from(RULE_PIECES), max_size=40).map("".join)
    return st.one_of(pieces, st.text(max_size=30)).filter(lambda t: "\x00" not in t)


def _subcommand_options():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    return {
        name: [option for action in subparser._actions for option in action.option_strings]
        for name, subparser in sub.choices.items()
    }


OPTIONS = _subcommand_options()
PATHS = ["{p}/run", "{p}/empty", "{p}/garbage", "{p}/foreign", "{p}/truncated", "{p}/file", "{p}/absent",
         "{p}/good.toml", "{p}/other.toml", "{p}/typo.toml", "{p}/broken.toml", "{p}/run#1", "{p}/file/x", "out.py"]
VALUES = ["0", "1", "-1", "3", "1e-3", "nan", "inf", "-inf", "1e400", "keras", "torch", "tf1", "json", "rnn",
          "random", "evolution", "ray", "local", "quick", "quadratic", "mlp_digits", "small", "auto", "powersign",
          "adam", "", "--"]


@st.composite
def command_lines(draw):
    command = draw(st.sampled_from(sorted(OPTIONS)))
    words = [command]
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["option", "option", "value", "path", "rule"]))
        if kind == "option":
            words.append(draw(st.sampled_from(OPTIONS[command])))
        elif kind == "value":
            words.append(draw(st.sampled_from(VALUES)))
        elif kind == "path":
            words.append(draw(st.sampled_from(PATHS)))
        else:
            words.append(draw(_rule_text()))
    return words


@pytest.fixture(scope="module")
def fuzz_places(tmp_path_factory):
    return _make_places(tmp_path_factory.mktemp("fuzz"))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(argv=command_lines())
def test_fuzz_the_cli_never_raises(argv, fuzz_places, capsys, no_training, monkeypatch):
    monkeypatch.chdir(fuzz_places)
    argv = [a.replace("{p}", str(fuzz_places)) for a in argv]
    before = _store_state(fuzz_places)
    code, out, err = _run(argv, capsys)
    event(f"{argv[0]} -> {code}")
    assert code in (0, 2, "reached"), (argv, code, err)
    assert "Traceback" not in err + out
    if code == 2:
        assert len(err.strip().splitlines()) == 1, err
    assert _store_state(fuzz_places) == before
