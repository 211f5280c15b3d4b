"""The per-step selection math: the update direction d of K different rules at once.

For K lanes with parameters of length P, the operands a row table needs are computed once per
step as [K, P] tensors. Unit i of every lane then computes

    x1 = candidates[op1[k]],  x2 = candidates[op2[k]]        candidates = operands + units < i
    a1 = unary[u1[k]](x1),    a2 = unary[u2[k]](x2)           each allowed unary row, then select
    out_i = binary[b[k]](a1, a2)                              each allowed binary row, then select

and d is the last unit's output. Selection is by index, never a one-hot product, so a row that
overflows in one lane (``exp`` of a large value; 0·inf = nan) cannot leak into a lane that did
not select it: a chain of ``tf.where`` on small integer compares, and where a position allows
many operands, one ``tf.gather`` for those read from state or random draws (see `_Operands`). Values come from the grammar rows' own
``value`` functions through ``ctx.xp`` = `nos.engine.interpreter.xp`: the grammar table stays the single
source of truth.

Random rows draw from a counter-based hash keyed by (lane seed, step, site, parameter): the site is the
operand's row index, or ``SITE_UNARY + 2·unit + slot`` for a unary function, and the parameter is
the flat index of the column's parameter (`LaneContext.positions`: the loop may hold columns in a
task's training order, and a parameter's draws must not depend on where it is held). Runs are
reproducible and a lane's draws never depend on the other lanes. Alternatives at one site (the
dropout rates) share one draw, since a lane selects only one of them. Normal draws are
Φ⁻¹(u) (``tf.math.ndtri``) of a 24-bit uniform u in (0, 1).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from nos.engine.interpreter import xp
from nos.engine.interpreter.encoding import RowTable
from nos.engine.tasks import rng
from search_space.context import BETA_1, BETA_2, BETA_3, EPSILON

STREAM_RULE = 0x4E4F53  # "NOS": the optimizer's own random stream, apart from the tasks' streams
SITE_UNARY = 1 << 16
GATHER_FROM = 12  # positions allowing more operands than this select them by gather


def _fmix32(value):
    """MurmurHash3's finaliser on Python ints or integer arrays, as `nos.engine.tasks.rng.fmix32`."""
    value = np.asarray(value, np.uint64) & np.uint64(0xFFFFFFFF)
    value ^= value >> np.uint64(16)
    value = (value * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
    value ^= value >> np.uint64(13)
    value = (value * np.uint64(0xC2B2AE35)) & np.uint64(0xFFFFFFFF)
    return (value ^ (value >> np.uint64(16))).astype(np.uint32)


def step_keys(lane_keys, step):
    """uint32 [K]: the keys of one step, from per-lane keys of the whole run."""
    weyl = tf.cast(step, tf.uint32) * tf.constant(0x9E3779B9, tf.uint32)
    return rng.fmix32(lane_keys + weyl)


def lane_keys(seeds):
    """uint32 [K]: each lane's key of the optimizer stream, a function of its seed only."""
    return rng.lane_keys(seeds, STREAM_RULE)


class LaneContext:
    """The ``ctx`` of `search_space.context` for K lanes: tensors [K, P], scalars t and D.

    `keys` are the step's uint32 lane keys [K] (`step_keys`), needed by random rows only;
    `positions` [P] the flat parameter index of each column (None: column j is parameter j).
    """

    xp = xp
    beta_1 = BETA_1
    beta_2 = BETA_2
    beta_3 = BETA_3
    epsilon = EPSILON

    def __init__(self, *, g, w, t, decay_steps, m=None, v=None, y=None, keys=None, site=0, positions=None):
        self.g, self.w, self.m, self.v, self.y = g, w, m, v, y
        self.t, self.decay_steps = t, decay_steps
        self.keys, self.site, self.positions = keys, site, positions
        self._draws = {}

    def at(self, site: int) -> LaneContext:
        """The same context drawing at another site."""
        fields = ("g", "w", "m", "v", "y", "t", "decay_steps", "keys", "positions")
        return LaneContext(**{name: getattr(self, name) for name in fields}, site=site)

    def uniform(self, like):
        """Uniform draws in (0, 1), [K, P], for this (seed, step, site)."""
        if "uniform" not in self._draws:
            if self.keys is None:
                raise ValueError("a random row needs lane keys: this kernel was built without them")
            positions = range(like.shape[-1]) if self.positions is None else self.positions
            site = tf.constant(_fmix32(self.site * 0x9E3779B9 + 0x7F4A7C15), tf.uint32)
            counters = tf.constant(_counter_mix(positions))
            site_keys = rng.fmix32(tf.bitwise.bitwise_xor(self.keys, site))
            bits = rng.fmix32(tf.bitwise.bitwise_xor(site_keys[:, None], counters[None, :]))
            top24 = tf.cast(tf.bitwise.right_shift(bits, tf.constant(8, tf.uint32)), tf.float32)
            self._draws["uniform"] = (top24 + 0.5) * 2.0**-24
        return self._draws["uniform"]

    def normal(self, like):
        """Standard normal draws [K, P] for this (seed, step, site): Φ⁻¹ of `uniform`."""
        if "normal" not in self._draws:
            self._draws["normal"] = tf.math.ndtri(self.uniform(like))
        return self._draws["normal"]


def _counter_mix(positions) -> np.ndarray:
    return _fmix32(np.asarray(positions, np.uint64) * np.uint64(0x9E3779B9) + np.uint64(0x7F4A7C15))


def pick(index, values: dict, otherwise=None):
    """Per lane k, ``values[index[k]]``: index int32 [K, 1], values {row index: [K, P] tensor}.

    Lanes whose index is not a key get `otherwise`, or the first value when that is None; the
    row table guarantees that the latter happens to no lane. The lanes' choices are compared in
    one op and split into columns: a graph op costs about 0.1 ms to trace, and a loop holds
    hundreds of selections.
    """
    items = list(values.items())
    if otherwise is None:
        (_, otherwise), *items = items
    if not items:
        return otherwise
    rows = tf.constant([j for j, _ in items], index.dtype)
    chosen = otherwise
    for mask, (_, value) in zip(tf.split(tf.equal(index, rows), len(items), axis=1), items):
        chosen = tf.where(mask, value, chosen)
    return chosen


class _Operands:
    """The step's operand values, selected by where-chain or, for wide positions, by gather.

    A where-chain is one fused loop over the candidates, but XLA re-reads every candidate in
    every fusion that consumes the selection; a gather reads one, from a stack written once per
    step. Wide positions therefore where-chain the operands that are cheap functions of g and w
    and gather the others (state, random draws) from a stack of those only.
    """

    def __init__(self, values: dict, grammar):
        self.values = values
        self.stacked = sorted(j for j in values if _heavy(grammar.operands[j]))
        self._stack = None

    def select(self, index, allowed, outputs: dict, n_operands: int):
        """Per lane, operand `index` (an operand row, or n_operands + unit for a unit output)."""
        operand_rows = [j for j in allowed if j < n_operands]
        units = {j: outputs[j - n_operands] for j in allowed if j >= n_operands}
        stacked = [j for j in self.stacked if j in operand_rows]
        if len(operand_rows) <= GATHER_FROM or not stacked:
            return pick(index, {**{j: self.values[j] for j in operand_rows}, **units})
        if self._stack is None:
            self._stack = tf.stack([self.values[j] for j in self.stacked], axis=1)
        position = np.zeros(n_operands, np.int32)
        position[self.stacked] = np.arange(len(self.stacked))
        slot = tf.gather(tf.constant(position), tf.minimum(index[:, 0], n_operands - 1))
        chosen = tf.gather(self._stack, slot[:, None], batch_dims=1)[:, 0]
        light = {j: self.values[j] for j in operand_rows if j not in stacked}
        return pick(index, {**light, **units}, otherwise=chosen)


def _heavy(row) -> bool:
    """Operands read from optimizer state or random draws: worth materialising once a step."""
    return bool(row.needs) or row.stochastic


def direction(program, ctx: LaneContext, table: RowTable):
    """The update direction d [K, P] of every lane; program is int32 [K, U, 5] within `table`."""
    grammar = table.grammar
    n_operands = len(grammar.operands)
    ones = tf.ones_like(ctx.g)
    operands = _Operands({j: grammar.operands[j].value(ctx.at(j)) * ones for j in table.operands}, grammar)
    outputs = {}
    columns = tf.split(tf.reshape(program, [-1, 5 * table.units]), 5 * table.units, axis=1)  # [K, 1] each
    for i, allowed in enumerate(table.allowed):
        fields = columns[5 * i : 5 * i + 5]
        arguments = []
        for slot in (0, 1) if table.uses_second_argument(i) else (0,):
            x = operands.select(fields[slot], allowed[slot], outputs, n_operands)
            site = ctx.at(SITE_UNARY + 2 * i + slot)
            arguments.append(pick(fields[2 + slot], {j: grammar.unary[j].value(site, x) for j in allowed[2 + slot]}))
        if len(arguments) == 1:
            arguments.append(None)
        outputs[i] = pick(fields[4], {j: grammar.binary[j].value(ctx, *arguments) for j in allowed[4]})
    return outputs[len(table.allowed) - 1]
