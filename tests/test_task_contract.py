"""The task contract a newcomer implements (init / loss / batches / validation), with no fast layout.

A task with no adapter passes `check_task`, trains in the interpreter through its reference loss
(the same steps as SGD by hand), scores rules, runs a search; and the existing tasks' fast layouts
train exactly like the reference path they replace.
"""

import numpy as np
import pytest
import tensorflow as tf

from nos.engine.grid import evaluate
from nos.engine.interpreter import run_lanes
from nos.engine.layouts import Layout, layout_for
from nos.engine.tasks import Task, check_task, get_task, register_task, registry, rng
from nos.search.config import from_dict
from nos.search.loop import search
from tests.test_search import rows_of


class TinyLeastSquares(Task):
    """f(w) = ½ mean_b (a_b · w − y_b)² over 16 rows of a fixed 128×5 problem, drawn per (seed, step)."""

    kind = "tiny_least_squares"

    def __init__(self, data_seed=0):
        gen = np.random.default_rng(data_seed)
        a = gen.normal(size=(128, 5))
        y = a @ gen.normal(size=5) + 0.1 * gen.normal(size=128)
        self.a, self.y = tf.constant(a, tf.float32), tf.constant(y, tf.float32)
        self.name, self.config, self.param_shapes = f"tiny_least_squares_data{data_seed}", {"data_seed": data_seed}, ((5,),)

    def init_params(self, seeds):
        return rng.normal(rng.lane_keys(seeds, rng.STREAM_INIT), 5)

    def batch(self, step, seeds):
        """int32 [K, 16]: lane k's rows at ``step``, a function of (seeds[k], step) only."""
        return rng.indices(rng.lane_keys(seeds, rng.STREAM_BATCH, step), 16, 128)

    def train_loss(self, params, step, seeds):
        index = self.batch(step, seeds)
        residual = tf.einsum("kbd,kd->kb", tf.gather(self.a, index), params) - tf.gather(self.y, index)
        return 0.5 * tf.reduce_mean(tf.square(residual), axis=1)

    def validation(self, params):
        residual = tf.matmul(params, self.a, transpose_b=True) - self.y
        return {"loss": 0.5 * tf.reduce_mean(tf.square(residual), axis=1)}


@pytest.fixture
def registered(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register_task(TinyLeastSquares.kind, TinyLeastSquares)
    return get_task(TinyLeastSquares.kind)


def test_a_task_with_no_adapter_passes_check_task_on_the_reference_layout(registered):
    assert type(layout_for(registered)) is Layout and layout_for(registered).order is None
    check_task(registered)


def test_the_reference_layout_trains_sgd_exactly_as_by_hand(registered):
    """w ← w − lr·∇f on lane k's minibatch: the interpreter's lanes against numpy, two seeds, 40 steps."""
    task, lr, steps, seeds = registered, 0.2, 40, [3, 4]
    out = run_lanes(task, ["sgd", "sgd"], lr, seeds, steps, keep_params=True)
    a, y = task.a.numpy().astype(np.float64), task.y.numpy().astype(np.float64)
    w = task.init_params(tf.constant(seeds)).numpy().astype(np.float64)
    for step in range(steps):
        index = task.batch(tf.constant(step), tf.constant(seeds)).numpy()
        residual = np.einsum("kbd,kd->kb", a[index], w) - y[index]
        w -= lr * np.einsum("kb,kbd->kd", residual, a[index]) / index.shape[1]
    assert not out.diverged.any()
    np.testing.assert_allclose(out.params, w, rtol=1e-4, atol=1e-5)
    start = float(np.mean(task.validation(task.init_params(tf.constant(seeds)))["loss"]))
    assert np.all(out.validation["loss"] < 0.1 * start)


def test_rules_are_scored_on_a_task_with_no_adapter(registered):
    ev = evaluate(["adam", "sgd", "-g"], task=registered, learning_rates=[0.01, 0.1], seeds=(0, 1), steps=60)
    adam, sgd, ascent = (ev[i] for i in range(3))
    assert adam.status == sgd.status == "ok" and np.isfinite([adam.score, sgd.score]).all()
    assert max(adam.score, sgd.score) < 0.1 < ascent.score  # descent fits (noise 0.1²/2), ascent does not


def test_a_search_runs_on_a_task_with_no_adapter(registered, tmp_path):
    config = from_dict({
        "seed": 1, "budget": 8, "batch_size": 4,
        "space": {"units": 1, "operands": ["g", "m", "sign(g)", "1"], "unary": ["id", "neg", "sign"],
                  "binary": ["add", "mul", "keep"]},
        "reward": {"task": TinyLeastSquares.kind, "steps": 40, "learning_rates": [0.01, 0.1], "baseline": "sgd"},
        "controller": {"name": "random"},
    })
    summary = search(config, tmp_path / "run", progress=False, log=lambda *_: None)
    rewards = [reward for *_, source, reward in rows_of(tmp_path / "run") if source == "evaluated"]
    assert summary.samples == 8 and summary.failed == 0 and len(rewards) == summary.rules_trained >= 1
    assert all(0.0 <= reward <= 1.0 for reward in rewards) and max(rewards) > 0.0


@pytest.mark.parametrize("kind, config", [("mlp_digits", {"batch_size": 32}), ("conv_digits", {"batch_size": 32}),
                                          ("mlp_diabetes", {})])
def test_a_fast_layout_trains_like_the_reference_it_replaces(kind, config):
    """The same lanes through the task family's adapter (reordered columns, shared minibatches) and
    through ``Layout(task)`` (``train_loss`` itself, flat, per-lane minibatches): same trajectories."""
    task = get_task(kind, **config)
    assert type(layout_for(task)) is not Layout
    rules, lrs, seeds = ["adam", "sgd", "momentum", "drop(g, 0.3)"], [0.003, 0.1, 0.03, 0.1], [0, 1, 0, 1]
    fast = run_lanes(task, rules, lrs, seeds, 20, curve_points=4, keep_params=True)
    reference = run_lanes(task, rules, lrs, seeds, 20, curve_points=4, keep_params=True, layout=Layout(task))
    assert not fast.diverged.any() and not reference.diverged.any()
    np.testing.assert_allclose(fast.curves, reference.curves, rtol=1e-4)
    np.testing.assert_allclose(fast.params, reference.params, rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(fast.validation["loss"], reference.validation["loss"], rtol=1e-4)
