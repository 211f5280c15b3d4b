"""`nos export`: generated Keras 3, TF1 and torch optimizers follow the numpy reference.

Every grammar row's `code` template, generated into a module with numpy as ``xp``, equals the
row's `value`. Each catalog rule and five random deterministic rules are exported to all three
frameworks; one fresh Python process per framework (with `nos` and `search_space` blocked, so
the files stand alone) steps each class 50 times on a 5-dim quadratic and prints the
trajectories, which must match the numpy reference stepping (`Rule.numpy_update` after the
EMA updates) and `nos.RuleOptimizer`. Tolerances: float64 runs rtol 1e-9 (atol 1e-12);
float32 runs rtol 1e-4 (atol 1e-5; the weights are O(0.01–2), steps O(0.06)).

The same processes check random rows (seeded replay and their law), TF1's sparse fallback,
torch's state_dict round trip, and save a Keras model that this process loads back. Then: the
files compile and pass ruff, text reaches them only inside docstrings, and the CLI's errors.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from nos.cli import main
from nos.export import FORMATS, ExportError, export_rule
from nos.export.codegen import CONTEXT_NAMES, RANDOM_DRAWS, Namespace, row_expression
from search_space import CATALOG, GRAMMAR, KNOWN_RULES, Rule, Unary, parse, rule_problem
from search_space.fingerprint import ProbeContext, probe_bundle
from search_space.tokens import slot_masks
from tests.test_grammar_rows import TANH, TANH_RULE

A = [0.5, 1.0, 2.0, 4.0, 8.0]  # loss 0.5·Σ a(w − c)², gradient a(w − c)
C = [1.0, -1.0, 0.5, 2.0, -0.5]
W0 = [0.31, -0.23, -0.57, 0.43, 0.17]  # w0 − c is no multiple of LR: sign(g) never meets 0
LR, STEPS, DECAY_STEPS = 2.0**-4, 50, 30  # LR exact in float32 (Keras keeps it in float32)
BETAS = (0.9, 0.999, 0.999)
TOLERANCE = {"float64": {"rtol": 1e-9, "atol": 1e-12}, "float32": {"rtol": 1e-4, "atol": 1e-5}}
STOCHASTIC = {"drop": "drop(g, 0.5)", "noise": "g + noise"}


def numpy_trajectory(rule: Rule, steps: int = STEPS) -> np.ndarray:
    """The reference: EMAs updated first (t is 1-based), then w ← w − lr·d."""
    a, c, w = np.array(A), np.array(C), np.array(W0)
    m = v = y = np.zeros_like(w)
    b1, b2, b3 = BETAS
    out = []
    for t in range(1, steps + 1):
        g = a * (w - c)
        m, v, y = b1 * m + (1 - b1) * g, b2 * v + (1 - b2) * g**2, b3 * y + (1 - b3) * g**3
        w = w - LR * rule.numpy_update(g, w=w, m=m, v=v, y=y, t=t, decay_steps=DECAY_STEPS)
        out.append(w)
    return np.array(out)


def random_rules(count: int = 5, seed: int = 7) -> list[Rule]:
    """Uniform legal programs of 3 units, with 2 or more live: valid, deterministic, finite."""
    rng, rules = np.random.default_rng(seed), []
    masks = slot_masks(GRAMMAR, 3)
    while len(rules) < count:
        rule = Rule.from_tokens([rng.choice(np.flatnonzero(mask)) for mask in masks])
        if len(rule) < 2 or rule.stochastic or rule in rules or rule in KNOWN_RULES.values():
            continue
        if rule_problem(rule):
            continue
        with np.errstate(all="ignore"):
            trajectory = numpy_trajectory(rule)
        if np.all(np.isfinite(trajectory)) and np.abs(trajectory).max() < 1e3:
            rules.append(rule)
    return rules


RULES = {
    **{entry.name: entry.rule for entry in CATALOG},
    **{f"random{i}": r for i, r in enumerate(random_rules())},
    "tanh": TANH_RULE,  # a row added to the grammar (tests/test_grammar_rows.py)
}


def _kwargs(rule: Rule) -> dict:
    return {"decay_steps": DECAY_STEPS} if rule.uses_decay else {}


# --- one table drives every exporter: each row's code equals its value --------------------------

NUMPY = Namespace("numpy", "numpy", {n: f"ctx.{n}" for n in CONTEXT_NAMES})
ROWS = (*GRAMMAR.operands, *GRAMMAR.unary, *GRAMMAR.binary)


@pytest.fixture(scope="module")
def row_module(tmp_path_factory):
    """A generated module with one function ``row_<i>(ctx, arg_x, arg_y)`` per grammar row."""
    functions = []
    for i, row in enumerate(ROWS):
        expression, _ = row_expression(row, NUMPY, x="arg_x", y="arg_y")
        functions.append(f"def row_{i}(ctx, arg_x, arg_y):\n    return {expression}\n")
    path = tmp_path_factory.mktemp("rows") / "grammar_rows.py"
    path.write_text("import numpy as np\n\n\n" + "\n\n".join(functions))
    spec = importlib.util.spec_from_file_location("grammar_rows", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # our own generated code, not user text
    return module


@pytest.mark.parametrize("index", range(len(ROWS)), ids=[row.name for row in ROWS])
def test_row_code_computes_the_row_value(row_module, index):
    row = ROWS[index]
    fields = dict(probe_bundle(0))  # steps t from 1 to 2·D: decays before and after clipping
    ctx = ProbeContext(**{k: v for k, v in fields.items() if k != "noise"})
    ctx.noise = fields["noise"]
    rng = np.random.default_rng(index)
    x, y = rng.standard_normal(64) * 10.0 ** rng.uniform(-6, 1, 64), rng.standard_normal(64)
    arguments = {"Operand": (), "Unary": (x,), "Binary": (x, y)}[type(row).__name__]
    with np.errstate(all="ignore"):
        expected = np.broadcast_to(row.value(ctx, *arguments), (64,))
        got = np.broadcast_to(getattr(row_module, f"row_{index}")(ctx, x, y), (64,))
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0, equal_nan=True)
    _, reads = row_expression(row, NUMPY)
    assert reads & {"m", "v", "y"} == getattr(row, "needs", frozenset())
    assert bool(reads & set(RANDOM_DRAWS)) == getattr(row, "stochastic", False)
    assert ("decay_steps" in reads) == getattr(row, "uses_decay", False)


@pytest.mark.parametrize("format", FORMATS)
def test_each_target_translates_every_row(format):
    from nos.export import TARGETS

    for row in (*ROWS, TANH):
        row_expression(row, TARGETS[format].NAMESPACE)


def test_a_row_without_code_cannot_be_exported():
    tanh = Unary("tanh", "tanh({x})", lambda ctx, x: ctx.xp.tanh(x), lambda x: x, "tanh x")
    rule = parse("tanh(m)*g", GRAMMAR.extended(tanh))
    with pytest.raises(ExportError, match="row 'tanh' has no code template"):
        export_rule(rule, "keras")


# --- trajectories in fresh processes, one per framework -----------------------------------------

_PRELUDE = """
import importlib.util, json, sys
sys.modules["nos"] = sys.modules["search_space"] = None  # the generated files must stand alone
import numpy as np

_loaded = {}


def load(path, name):
    if path not in _loaded:
        spec = importlib.util.spec_from_file_location(name.lower(), path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        _loaded[path] = getattr(module, name)
    return _loaded[path]


job = json.load(open(sys.argv[1]))
A, C, W0 = (np.array(job[k]) for k in ("a", "c", "w0"))
out = {}
"""

DRIVERS = {
    "keras": """
import keras

for run in job["runs"]:
    optimizer = load(run["path"], run["class"])(learning_rate=job["lr"], **run["kwargs"])
    w = keras.Variable(W0, dtype=run["dtype"])
    a, c = (keras.ops.convert_to_tensor(x, dtype=run["dtype"]) for x in (A, C))
    trajectory = []
    for _ in range(job["steps"]):
        optimizer.apply_gradients([(a * (w - c), w)])
        trajectory.append(keras.ops.convert_to_numpy(w).tolist())
    out[run["id"]] = trajectory

save = job["save"]  # a model with an Embedding (sparse gradients) and a Dense layer
keras.utils.set_random_seed(0)
model = keras.Sequential(
    [keras.Input((3,), dtype="int32"), keras.layers.Embedding(8, 4), keras.layers.Flatten(), keras.layers.Dense(1)]
)
model.compile(optimizer=load(save["path"], save["class"])(learning_rate=0.01, **save["kwargs"]), loss="mse")
x, y = np.arange(48).reshape(16, 3) % 8, np.linspace(-1.0, 1.0, 16).reshape(16, 1)
model.fit(x, y, epochs=3, batch_size=4, verbose=0)
model.save(save["model"])
out["saved"] = {
    "config": model.optimizer.get_config(),
    "variables": [keras.ops.convert_to_numpy(v).tolist() for v in model.optimizer.variables],
    "prediction": model.predict(x, verbose=0).tolist(),
}
""",
    "tf1": """
import tensorflow as tf

for run in job["runs"]:
    with tf.Graph().as_default():
        w = tf.compat.v1.Variable(W0, dtype=run["dtype"], use_resource=run["resource"])
        loss = 0.5 * tf.reduce_sum(tf.constant(A, run["dtype"]) * (w - tf.constant(C, run["dtype"])) ** 2)
        train = load(run["path"], run["class"])(learning_rate=job["lr"], **run["kwargs"]).minimize(loss)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            trajectory = []
            for _ in range(job["steps"]):
                session.run(train)
                trajectory.append(session.run(w).tolist())
    out[run["id"]] = trajectory

# Sparse gradients (tf.gather) take the dense fallback: same steps as the one-hot matmul.
sparse = job["sparse"]
for mode in ("dense", "sparse_resource", "sparse_ref"):
    with tf.Graph().as_default():
        table = tf.compat.v1.Variable(np.linspace(-1, 1, 12).reshape(6, 2), use_resource=mode != "sparse_ref")
        ids = tf.constant([0, 2, 2, 5])
        rows = tf.matmul(tf.one_hot(ids, 6, dtype=tf.float64), table) if mode == "dense" else tf.gather(table, ids)
        loss = 0.5 * tf.reduce_sum((rows - 0.3) ** 2)
        train = load(sparse["path"], sparse["class"])(learning_rate=0.1, **sparse["kwargs"]).minimize(loss)
        with tf.compat.v1.Session() as session:
            session.run(tf.compat.v1.global_variables_initializer())
            for _ in range(10):
                session.run(train)
            out[mode] = session.run(table).tolist()
""",
    "torch": """
sys.modules["tensorflow"] = sys.modules["keras"] = None  # torch alone
import torch

for run in job["runs"]:
    cls = load(run["path"], run["class"])
    dtype = getattr(torch, run["dtype"])
    w = torch.tensor(W0, dtype=dtype, requires_grad=True)
    a, c = torch.tensor(A, dtype=dtype), torch.tensor(C, dtype=dtype)
    optimizer = cls([w], lr=job["lr"], **run["kwargs"])

    def closure():
        optimizer.zero_grad()
        loss = 0.5 * (a * (w - c) ** 2).sum()
        loss.backward()
        return loss

    trajectory = []
    for step in range(job["steps"]):
        if step == job["steps"] // 2:  # state survives state_dict() into a new instance
            state = optimizer.state_dict()
            optimizer = cls([w], lr=job["lr"], **run["kwargs"])
            optimizer.load_state_dict(state)
        assert float(optimizer.step(closure)) >= 0.0
        trajectory.append(w.detach().tolist())
    out[run["id"]] = trajectory
""",
}


def _class_name(format: str, id: str) -> str:
    return format.capitalize() + id.title().replace("_", "")


def _runs(directory, format):
    """The jobs of one framework: every rule in float64, the catalog in float32, random rows."""
    runs = []

    def add(id, rule, dtype, **kwargs):
        name = id.split("@")[0]
        path, class_name = directory / f"{format}_{name}.py", _class_name(format, name)
        if not path.exists():  # float32 and float64 runs share a file
            path.write_text(export_rule(rule, format, class_name=class_name))
        runs.append(dict(id=id, path=str(path), dtype=dtype, kwargs=kwargs, **{"class": class_name}))

    for id, rule in RULES.items():
        add(id, rule, "float64", **_kwargs(rule))
        if not id.startswith("random"):
            add(f"{id}@float32", rule, "float32", **_kwargs(rule))
    for id, text in STOCHASTIC.items():
        for label, seed in (("a", 1), ("b", 1), ("c", 2)):
            add(f"{id}@{label}", parse(text), "float64", seed=seed)
    for i, run in enumerate(runs):
        run["resource"] = i % 2 == 0  # TF1: RefVariable (_apply_dense) and resource variables alike
    return runs


@pytest.fixture(scope="module")
def trajectories(tmp_path_factory):
    """{format: {run id: trajectory}}, from one fresh process per framework, run in parallel."""
    directory = tmp_path_factory.mktemp("exported")
    processes = {}
    for format in FORMATS:
        job = {"a": A, "c": C, "w0": W0, "lr": LR, "steps": STEPS, "runs": _runs(directory, format)}
        adam = next(r for r in job["runs"] if r["id"] == "adam")
        job["sparse"] = job["save"] = dict(adam, model=str(directory / "model.keras"))
        (directory / f"{format}_job.json").write_text(json.dumps(job))
        (directory / f"{format}_driver.py").write_text(
            _PRELUDE + DRIVERS[format] + "\nprint(json.dumps(out))\n"
        )
        if format == "torch" and importlib.util.find_spec("torch") is None:
            continue  # its files are still generated and checked (compile, ruff)
        processes[format] = subprocess.Popen(
            [sys.executable, str(directory / f"{format}_driver.py"), str(directory / f"{format}_job.json")],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""},
        )
    results = {"directory": directory}
    for format, process in processes.items():
        stdout, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, f"{format} driver failed:\n{stderr[-3000:]}"
        results[format] = json.loads(stdout.strip().splitlines()[-1])
    return results


def _missing(what: str) -> None:
    """Skip for want of an optional extra; under CI, which installs every extra, fail instead."""
    (pytest.fail if os.environ.get("CI") == "true" else pytest.skip)(what)


def _framework(trajectories, format):
    if format not in trajectories:
        _missing("torch is not installed (pip install -e .[torch])")
    return trajectories[format]


@pytest.mark.parametrize("format", FORMATS)
def test_exported_optimizers_follow_the_numpy_reference(trajectories, format):
    got = _framework(trajectories, format)
    failures = []
    for id, rule in RULES.items():
        expected = numpy_trajectory(rule)
        for dtype in ("float64", "float32") if not id.startswith("random") else ("float64",):
            key = id if dtype == "float64" else f"{id}@float32"
            bad = ~np.isclose(np.array(got[key]), expected, **TOLERANCE[dtype])
            if bad.any():
                step = np.argwhere(bad)[0][0] + 1
                failures.append(f"{key} ({rule}): {bad.sum()} of {bad.size} weights off, from step {step}")
    assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def rule_optimizer_trajectories():
    """`nos.RuleOptimizer` on the same problem, float64, in this process."""
    import keras

    from nos.keras.optimizer import RuleOptimizer

    out = {}
    for id, rule in RULES.items():
        optimizer = RuleOptimizer(rule, learning_rate=LR, **_kwargs(rule))
        w = keras.Variable(np.array(W0), dtype="float64")
        a, c = (keras.ops.convert_to_tensor(np.array(x), dtype="float64") for x in (A, C))
        trajectory = []
        for _ in range(STEPS):
            optimizer.apply_gradients([(a * (w - c), w)])
            trajectory.append(keras.ops.convert_to_numpy(w))
        out[id] = np.array(trajectory)
    return out


@pytest.mark.parametrize("format", FORMATS)
def test_exported_optimizers_follow_rule_optimizer(trajectories, rule_optimizer_trajectories, format):
    got = _framework(trajectories, format)
    for id, rule in RULES.items():
        np.testing.assert_allclose(
            np.array(got[id]),
            rule_optimizer_trajectories[id],
            **TOLERANCE["float64"],
            err_msg=f"{id}: {rule}",
        )


@pytest.mark.parametrize("format", FORMATS)
def test_random_rows_draw_from_the_seeded_rng_with_their_law(trajectories, format):
    got = _framework(trajectories, format)
    replayed = {}
    for id in STOCHASTIC:
        first, again, other = (np.array(got[f"{id}@{run}"]) for run in "abc")
        np.testing.assert_array_equal(first, again, err_msg=f"{id}: the same seed must replay the same draws")
        assert not np.allclose(first, other), f"{id}: another seed must draw differently"
        before = np.vstack([W0, first[:-1]])
        g = np.array(A) * (before - np.array(C))
        replayed[id] = ((before - first) / LR, g)  # the directions d, and the gradients
    d, g = replayed["drop"]  # drop(g, 0.5): d = 2g or 0
    kept = np.isclose(d, 2 * g, rtol=1e-6, atol=1e-12)  # d is replayed from w: ~1e-15 round-off
    assert np.all(kept | (np.abs(d) < 1e-12)) and 0.35 < np.mean(kept) < 0.65
    d, g = replayed["noise"]  # g + noise: d − g ~ N(0, 0.1²)
    z = (d - g) / 0.1
    assert abs(z.mean()) < 0.25 and 0.8 < z.std() < 1.2


def test_tf1_sparse_gradients_take_the_dense_update(trajectories):
    got = trajectories["tf1"]
    dense = np.array(got["dense"])
    assert not np.allclose(dense, np.linspace(-1, 1, 12).reshape(6, 2))
    np.testing.assert_allclose(got["sparse_resource"], dense, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(got["sparse_ref"], dense, rtol=1e-12, atol=1e-15)


def _import(path):
    """Import a generated module (our own code) in this process."""
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_saved_keras_model_loads_back_with_its_exported_optimizer(trajectories):
    import keras

    saved, directory = trajectories["keras"]["saved"], trajectories["directory"]
    _import(directory / "keras_adam.py")  # registration: no custom_objects needed
    model = keras.models.load_model(directory / "model.keras")
    assert type(model.optimizer).__name__ == "KerasAdam"
    assert model.optimizer.get_config() == saved["config"]
    assert int(model.optimizer.iterations) == 12
    for variable, expected in zip(model.optimizer.variables, saved["variables"], strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(variable), expected)
    x = np.arange(48).reshape(16, 3) % 8
    np.testing.assert_allclose(model.predict(x, verbose=0), saved["prediction"], rtol=1e-6)


def test_exported_keras_arguments_are_validated_and_configured(trajectories):
    cls = _import(trajectories["directory"] / "keras_powersign_ld.py").KerasPowersignLd
    with pytest.raises(ValueError, match="`decay_steps` is required.*Received: decay_steps=None"):
        cls()
    with pytest.raises(ValueError, match=r"`beta_1` must be in \[0, 1\).*Received: beta_1=1.0"):
        cls(beta_1=1.0, decay_steps=10)
    config = cls(learning_rate=0.5, beta_1=0.8, decay_steps=10).get_config()
    assert (config["learning_rate"], config["beta_1"], config["decay_steps"]) == (0.5, 0.8, 10)
    assert "epsilon" not in config and "beta_2" not in config  # only what the rule reads


def test_generated_files_compile_and_pass_ruff(trajectories):
    ruff = shutil.which("ruff")
    if ruff is None:
        _missing("ruff is not installed (pip install -e .[test])")
    directory = trajectories["directory"]
    files = sorted(str(p) for p in directory.glob("*.py") if not p.stem.endswith("_driver"))
    assert len(files) >= len(FORMATS) * len(RULES)
    for file in files:
        py_compile.compile(file, doraise=True)
    command = [ruff, "check", "--no-cache", *files]
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-3000:]


# --- the source is built from the program; text only inside escaped docstrings -----------------

IMPORTS = {"keras": {"keras"}, "tf1": {"tensorflow"}, "torch": {"torch"}}


def _squash(text: str) -> str:
    return " ".join(text.split())  # docstrings are rewrapped


@pytest.mark.parametrize("format", FORMATS)
def test_rule_text_and_origin_appear_only_inside_docstrings(format):
    origin = 'run "x"""; import os; os.system("boom") \\ \n\x07 reward 0.5 \\'
    rule = KNOWN_RULES["powersign_ld"]
    tree = ast.parse(export_rule(rule, format, origin=origin))
    holders = [tree, *(n for n in ast.walk(tree) if isinstance(n, (ast.ClassDef, ast.FunctionDef)))]
    docstrings = {ast.get_docstring(n, clean=False) for n in holders} - {None}
    assert _squash(origin) in _squash(ast.get_docstring(tree)) and rule.latex() in ast.get_docstring(
        holders[1]
    )
    strings = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    assert not [s for s in strings if s not in docstrings and (str(rule) in s or "boom" in s)]
    modules = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    modules |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert modules == IMPORTS[format]


@pytest.mark.parametrize(
    "call, error, match",
    [
        (lambda: export_rule(KNOWN_RULES["sgd"], "jax"), ExportError, "unknown format 'jax'"),
        (
            lambda: export_rule(KNOWN_RULES["sgd"], "keras", class_name="1st"),
            ExportError,
            "not a Python identifier",
        ),
        (
            lambda: export_rule(KNOWN_RULES["sgd"], "torch", class_name="class"),
            ExportError,
            "not a Python identifier",
        ),
        (lambda: export_rule(KNOWN_RULES["sgd"], "keras", class_name="ops"), ExportError, "hide"),
        (lambda: export_rule(parse("w1"), "tf1"), ValueError, "does not depend on the gradient"),
        (lambda: export_rule("g", "keras"), TypeError, "search_space.Rule"),
    ],
    ids=["format", "digit", "keyword", "shadowing", "invalid rule", "text"],
)
def test_export_rule_rejects_bad_input(call, error, match):
    with pytest.raises(error, match=match):
        call()


def test_default_class_names_come_from_the_catalog_or_the_key():
    from nos.export import default_class_name

    assert default_class_name(KNOWN_RULES["powersign_ld"]) == "PowersignLd"
    assert default_class_name(parse("g*exp(sign(m)*sign(g))")) == "Powersign"  # an equivalent rule
    assert re.fullmatch(r"Rule[0-9A-F]{8}", default_class_name(parse("sign(g)*w1 + g")))


# --- nos export -----------------------------------------------------------------------------------


def _cli(argv, capsys):
    try:
        code = main(["export", *argv])
    except SystemExit as exit:  # argparse errors
        code = exit.code
    return code, capsys.readouterr()


def test_cli_writes_a_module_and_overwrites_only_with_force(tmp_path, capsys):
    path = tmp_path / "powersign.py"
    argv = ["powersign", "--format", "torch", "-o", str(path), "--origin", "catalog, for a test"]
    assert _cli(argv, capsys)[0] == 0
    first = path.read_text()
    py_compile.compile(str(path), doraise=True)
    assert "class Powersign(torch.optim.Optimizer):" in first and "catalog, for a test" in first
    assert _cli([*argv[:-2], "--name", "Mine"], capsys)[0] == 2 and path.read_text() == first
    assert _cli([*argv[:-2], "--name", "Mine", "--force"], capsys)[0] == 0
    assert "class Mine(torch.optim.Optimizer):" in path.read_text()


def test_cli_writes_the_module_to_stdout_for_dash(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, captured = _cli(["powersign", "--format", "keras", "-o", "-"], capsys)
    assert code == 0 and not list(tmp_path.iterdir())
    assert captured.out == export_rule(KNOWN_RULES["powersign"], "keras")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["exp(g", "--format", "keras"], "error: at position"),
        (["g", "--format", "jax"], "invalid choice: 'jax'"),
        (["w1", "--format", "keras"], "does not depend on the gradient"),
        (["sgd", "--format", "tf1", "--name", "My-Optimizer"], "not a Python identifier"),
        (["sgd", "--format", "keras", "-o", "{existing}"], "exists; pass --force"),
        (["sgd", "--format", "keras", "-o", "{missing}/x.py"], "cannot write"),
        (["sgd", "--format", "keras", "-o", "{directory}"], "is a directory"),
    ],
    ids=["bad text", "unknown format", "invalid rule", "bad name", "existing", "unwritable", "directory"],
)
def test_cli_errors_are_one_line_exit_2_and_write_nothing(tmp_path, capsys, argv, message):
    existing = tmp_path / "existing.py"
    existing.write_text("# keep me\n")
    places = {"existing": existing, "missing": tmp_path / "missing", "directory": tmp_path}
    argv = [a.format(**places) for a in argv]
    if "-o" not in argv:
        argv += ["-o", str(tmp_path / "out.py")]
    code, captured = _cli(argv, capsys)
    assert code == 2
    assert len(captured.err.strip().splitlines()) == 1 and "nos export: error:" in captured.err
    assert message in captured.err
    assert (
        sorted(p.name for p in tmp_path.iterdir()) == ["existing.py"]
        and existing.read_text() == "# keep me\n"
    )


def test_cli_formats_and_rule_resolution():
    from nos.cli import export as cli_export
    from nos.cli import subcommands

    assert "export" in subcommands() and cli_export.FORMATS == FORMATS
    assert cli_export.resolve_rule("addsign").rule == KNOWN_RULES["addsign"]
    assert cli_export.resolve_rule("sign(m)*g + g").rule == parse("sign(m)*g + g")
