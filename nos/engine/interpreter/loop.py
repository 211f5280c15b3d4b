"""The XLA training loop: K copies of a task's model, each trained by its own rule, in one call.

For lanes k = 1..K with rule program[k], learning rate lr[k] and seed[k], and steps s = 0..T-1
(t = s + 1):

    loss_k   = layout.loss(w, s, seeds)[k]               g = ∂(Σ_k loss_k)/∂w   (lanes independent)
    m, v, y  ← β·state + (1 − β)·(g, g², g³)             only the slots the row table needs
    d        = direction(program, ctx)                    `nos.engine.interpreter.kernel`
    w_k      ← w_k − lr_k·d_k

A lane *diverges* at the first step where its loss, its gradient or its new parameters are not
finite; from then on its parameters are frozen (``tf.where``: those of the last finite step), so
it stays finite and never touches the other lanes. (Its optimizer state, which nothing outputs,
takes the diverging step's update and is frozen after it: gating the state by the lane being
alive rather than by a whole-row finiteness test lets XLA fuse the state update into the rule's.) The whole loop is one ``tf.function(jit_compile=True)`` around a
``tf.while_loop`` over steps. Rules, learning rates, seeds and the decay horizon D are tensor
arguments, so a new batch of rules runs the same compiled program: `compiled_loop` caches one
per (task, layout, K, T, curve points, shared batch, row table), and `TRACES` counts how often each
was traced; XLA's compilation of a loop is kept on disk between processes (`compile_cache`).

The loss is the task's *layout* (`nos.engine.layouts`, by default ``layout_for(task)``: the task
family's fast adapter, else the reference ``task.train_loss`` itself). The loop holds w in the
layout's ``order``: permuted once after ``init_params``, back once before ``validation`` and the
output; random rows draw by flat index. A loop built with ``shared_batch=True`` calls
``layout.loss(..., shared_batch=True)``: every lane must then have the seed ``seeds[0]``
(`nos.engine.interpreter.lanes` lays chunks out so).

Outputs, per lane: ``curve`` [K, C], the mean training loss over each of C windows of
``T // C`` steps (the last window takes the remainder; diverged steps count 0, see `lanes`);
``diverged_at`` [K], the step at which the lane diverged, T if it did not; ``params`` [K, P],
the final (or frozen) parameters; and ``validation``, the task's metrics of those parameters.
"""

from __future__ import annotations

import collections

import tensorflow as tf

from nos.engine import compile_cache
from nos.engine.interpreter.encoding import RowTable
from nos.engine.interpreter.kernel import LaneContext, direction, lane_keys, step_keys
from nos.engine.layouts import layout_for
from search_space.context import MOMENTS

TRACES: collections.Counter = collections.Counter()
_CACHE: dict = {}
_MOMENTS = {moment.name: moment for moment in MOMENTS}


def cache_key(task, lanes: int, steps: int, curve_points: int, table: RowTable, shared_batch: bool = False,
              layout=None) -> tuple:
    layout = layout_for(task) if layout is None else layout
    return (type(task).__qualname__, task.name, type(layout).__qualname__, lanes, steps, curve_points,
            bool(shared_batch), table)


def compiled_loop(task, lanes: int, steps: int, curve_points: int, table: RowTable, shared_batch: bool = False,
                  layout=None):
    """The compiled ``train(program [K,U,5], lr [K], seeds [K], D []) -> dict``, built once per key."""
    layout = layout_for(task) if layout is None else layout
    key = cache_key(task, lanes, steps, curve_points, table, shared_batch, layout)
    if key not in _CACHE:
        compile_cache.enable()
        _CACHE[key] = _build(task, layout, lanes, steps, curve_points, table, bool(shared_batch), key)
    return _CACHE[key]


def compiled_tables(task, lanes: int, steps: int, curve_points: int, shared_batch: bool = False, layout=None) -> list:
    """Row tables of the loops already built for this task, layout, K, T, C and batch sharing (any U)."""
    prefix = cache_key(task, lanes, steps, curve_points, None, shared_batch, layout)[:-1]
    return [key[-1] for key in _CACHE if key[:-1] == prefix]


def compiled_sizes(task, steps: int, curve_points: int, shared_batch: bool = False, layout=None) -> set:
    """K of the loops already built for this task, layout, T, C and batch sharing (any row table)."""
    key = cache_key(task, 0, steps, curve_points, None, shared_batch, layout)
    return {other[3] for other in _CACHE if other[:3] == key[:3] and other[4:7] == key[4:7]}


def curve_windows(steps: int, curve_points: int) -> tuple[int, int]:
    """(C, stride): C = min(curve_points, steps) windows of `stride` steps; the last takes the rest."""
    points = max(1, min(curve_points, steps))
    return points, steps // points


def _build(task, layout, lanes: int, steps: int, curve_points: int, table: RowTable, shared_batch: bool, key):
    points, stride = curve_windows(steps, curve_points)
    slots = table.state
    positions = layout.order
    signature = [
        tf.TensorSpec([lanes, table.units, 5], tf.int32, name="program"),
        tf.TensorSpec([lanes], tf.float32, name="learning_rates"),
        tf.TensorSpec([lanes], tf.int32, name="seeds"),
        tf.TensorSpec([], tf.float32, name="decay_steps"),
    ]

    @tf.function(jit_compile=True, input_signature=signature, autograph=False)
    def train(program, learning_rates, seeds, decay_steps):
        TRACES[key] += 1
        lr = learning_rates[:, None]
        keys = lane_keys(seeds) if table.stochastic else None

        def step(s, params, state, alive, diverged_at, window_sum, curve):
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss = layout.loss(params, s, seeds, shared_batch=shared_batch)
                total = tf.reduce_sum(loss)
            g = tape.gradient(total, params)
            state = {
                slot: tf.where(alive[:, None], _MOMENTS[slot].update(state[slot], g, _MOMENTS[slot].default), state[slot])
                for slot in slots
            }
            ctx = LaneContext(
                g=g, w=params, t=tf.cast(s + 1, tf.float32), decay_steps=decay_steps,
                keys=None if keys is None else step_keys(keys, s), positions=positions, **state,
            )
            new_params = params - lr * direction(program, ctx, table)
            finite = tf.reduce_all(tf.math.is_finite(g) & tf.math.is_finite(new_params), axis=1)
            ok = alive & tf.math.is_finite(loss) & finite
            params = tf.where(ok[:, None], new_params, params)
            diverged_at = tf.where(alive & ~ok, s, diverged_at)

            window = tf.minimum(s // stride, points - 1)
            counted = tf.where(alive & tf.math.is_finite(loss), loss, 0.0)
            window_sum = tf.where(tf.equal(s, window * stride), counted, window_sum + counted)
            mean = window_sum / tf.cast(s - window * stride + 1, tf.float32)
            curve = tf.tensor_scatter_nd_update(curve, [[window]], mean[None])
            return s + 1, params, state, ok, diverged_at, window_sum, curve

        params = layout.to_layout(tf.ensure_shape(task.init_params(seeds), [lanes, task.num_params]))
        initial = (
            tf.constant(0),
            params,
            {slot: tf.zeros_like(params) for slot in slots},
            tf.ones([lanes], tf.bool),
            tf.fill([lanes], steps),
            tf.zeros([lanes]),
            tf.zeros([points, lanes]),
        )
        _, params, _, _, diverged_at, _, curve = tf.while_loop(
            lambda s, *_: s < steps, step, initial, maximum_iterations=steps
        )
        params = layout.from_layout(params)
        validation = {name: tf.cast(value, tf.float32) for name, value in task.validation(params).items()}
        return {"curve": tf.transpose(curve), "diverged_at": diverged_at, "params": params,
                "validation": validation}

    return train


