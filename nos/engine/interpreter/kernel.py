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


def _fmix32(value: int) -> int:
    """MurmurHash3's finaliser on a Python int, as `nos.engine.tasks.rng.fmix32`."""
    value &= 0xFFFFFFFF
    value ^= value >> 16
    value = (value * 0x85EBCA6B) & 0xFFFFFFFF
    value ^= value >> 13
    value = (value * 0xC2B2AE35) & 0xFFFFFFFF
    return value ^ (value >> 16)


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

    def first(self, count: int) -> LaneContext:
        """The same context for lanes 0..count-1 only: [count, P] tensors."""
        def rows(value):
            return None if value is None else value[:count]

        fields = {name: rows(getattr(self, name)) for name in ("g", "w", "m", "v", "y", "keys")}
        return LaneContext(**fields, t=self.t, decay_steps=self.decay_steps, site=self.site, positions=self.positions)

    def of_lanes(self, lanes) -> LaneContext:
        """The same context restricted to the lanes `lanes` (int32 [c], repeats allowed): [c, P] tensors."""
        def rows(value):
            return None if value is None else tf.gather(value, lanes)

        fields = {name: rows(getattr(self, name)) for name in ("g", "w", "m", "v", "y", "keys")}
        return LaneContext(**fields, t=self.t, decay_steps=self.decay_steps, site=self.site, positions=self.positions)

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
    mixed = [_fmix32(int(i) * 0x9E3779B9 + 0x7F4A7C15) for i in positions]
    return np.asarray(mixed, dtype=np.uint32)


def pick(index, values: dict):
    """Per lane k, ``values[index[k]]``: index int32 [K, 1], values {row index: [K, P] tensor}.

    Lanes whose index is not a key get the first value; the row table guarantees none does.
    """
    chosen = None
    for j, value in values.items():
        chosen = value if chosen is None else tf.where(tf.equal(index, j), value, chosen)
    return chosen


class _Operands:
    """The step's operand values, selected by where-chain or, for wide positions, by gather.

    A where-chain is one fused loop over the candidates, but XLA re-reads every candidate in
    every fusion that consumes the selection; a gather reads one, from a stack written once per
    step. Wide positions therefore where-chain the operands that are cheap functions of g and w
    and gather the others (state, random draws) from a stack of those only.

    `compact` rows ({row: (values [c, P], slot [K])}, computed for c lanes only) are always read
    by gather: the stack holds their c rows after the K·n rows of the others (lane k, stacked
    row n at k·n + n), so XLA computes them once per step for c lanes, never per reader.
    """

    def __init__(self, values: dict, grammar, lanes: int, compact=None):
        self.values, self.lanes = values, lanes
        self.compact = compact or {}
        self.full = sorted(j for j in values if _heavy(grammar.operands[j]))
        self.stacked = sorted(self.full + list(self.compact))
        self._stack = None

    def _addresses(self, lanes: int, n_operands: int):
        """int32 [K, n_operands]: each lane's row of the stack for each stacked operand (else 0)."""
        k = tf.range(lanes)[:, None]
        columns = [tf.zeros_like(k)] * n_operands
        for position, j in enumerate(self.full):
            columns[j] = k * len(self.full) + position
        offset = lanes * len(self.full)
        for j in sorted(self.compact):
            values, slot = self.compact[j]
            columns[j] = offset + slot[:, None]
            offset += values.shape[0]
        return tf.concat(columns, axis=1)

    def select(self, index, allowed, outputs: dict, n_operands: int):
        """Per lane, operand `index` (an operand row, or n_operands + unit for a unit output).

        `index` [c, 1] may cover the first c lanes only: so does the selection.
        """
        count = index.shape[0]

        def first(value):
            return value if value.shape[0] == count else value[:count]

        operand_rows = [j for j in allowed if j < n_operands]
        units = {j: first(outputs[j - n_operands]) for j in allowed if j >= n_operands}
        stacked = [j for j in self.stacked if j in operand_rows]
        compact = any(j in self.compact for j in operand_rows)
        if (len(operand_rows) <= GATHER_FROM and not compact) or not stacked:
            return pick(index, {**{j: first(self.values[j]) for j in operand_rows}, **units})
        if self._stack is None:
            parts = [self.compact[j][0] for j in sorted(self.compact)]
            if self.full:
                full = tf.stack([self.values[j] for j in self.full], axis=1)
                parts.insert(0, tf.reshape(full, [-1, full.shape[-1]]))
            self._stack = tf.concat(parts, axis=0) if len(parts) > 1 else parts[0]
            self._address = self._addresses(self.lanes, n_operands)
        row = tf.gather(first(self._address), tf.minimum(index, n_operands - 1), batch_dims=1)[:, 0]
        chosen = tf.gather(self._stack, row)
        light = {j: first(self.values[j]) for j in operand_rows if j not in stacked}
        for j, value in {**light, **units}.items():
            chosen = tf.where(tf.equal(index, j), value, chosen)
        return chosen


def _heavy(row) -> bool:
    """Operands read from optimizer state or random draws: worth materialising once a step."""
    return bool(row.needs) or row.stochastic


def compactable(table: RowTable) -> tuple[int, ...]:
    """Operand rows of `table` that `direction` can compute for a subset of the lanes only.

    The heavy ones (`_heavy`: read from state or random draws), which wide positions read from a
    stack written every step: a random draw (a hash and Φ⁻¹ per element) costs several times an
    ordinary row, and each stacked row is a [K, P] write, while a batch's lanes rarely read most.
    Only in a table with two wide positions or more: XLA writes the stack once for several
    readers, but fuses it into a single reader, where a per-element branch over its parts costs
    more than the rows saved (a table of a few rules has no wide position at all).
    """
    n_operands = len(table.grammar.operands)
    wide = sum(
        len([j for j in fields[slot] if j < n_operands]) > GATHER_FROM
        for i, fields in enumerate(table.allowed)
        for slot in ((0, 1) if table.uses_second_argument(i) else (0,))
    )
    if wide < 2:
        return ()
    return tuple(j for j in table.operands if _heavy(table.grammar.operands[j]))


def subset_of_lanes(programs: np.ndarray, row: int, capacity: int, lanes: int | None = None):
    """(lanes int32 [capacity], slot int32 [K]): the lanes of `programs` [n, U, 5] that read operand
    `row`, padded with repeats, and each lane's position among them (0 for the others). K =
    `lanes` (default n): lanes n..K-1 pad a chunk, their results unused, and get no row.
    """
    programs = np.asarray(programs)
    users = np.flatnonzero((programs[:, :, :2] == row).any(axis=(1, 2))).astype(np.int32)
    if len(users) > capacity:
        raise ValueError(f"{len(users)} lanes read operand {row}; the kernel computes it for {capacity}")
    chosen = np.concatenate([users, np.full(capacity - len(users), users[0] if len(users) else 0, np.int32)])
    slot = np.zeros(len(programs) if lanes is None else lanes, np.int32)
    slot[users] = np.arange(len(users), dtype=np.int32)
    return chosen, slot


def last_units(programs: np.ndarray, grammar) -> np.ndarray:
    """int [K]: each program's last unit that is not a pass-through unit of `pad_programs`."""
    programs = np.asarray(programs)
    n_operands = len(grammar.operands)
    identity, keep = grammar.unary.index(grammar.identity), grammar.binary.index(grammar.keep_left)
    units = np.arange(programs.shape[1])
    passing = ((programs[:, :, 0] == n_operands + units - 1) & (programs[:, :, 1] == 0) & (programs[:, :, 2] == identity)
               & (programs[:, :, 3] == identity) & (programs[:, :, 4] == keep))
    real = ~passing
    real[:, 0] = True
    return programs.shape[1] - 1 - np.argmax(real[:, ::-1], axis=1)


def direction(program, ctx: LaneContext, table: RowTable, subsets=None, unit_lanes=()):
    """The update direction d [K, P] of every lane; program is int32 [K, U, 5] within `table`.

    `subsets` maps some of the `compactable` operand rows to (lanes [c], slot [K]) of
    `subset_of_lanes`: such a row is computed for those c lanes only and every lane reads it at
    its slot. A lane outside the subset must not select the row (its value there is another
    lane's); its numbers are those of the row computed for all lanes.

    `unit_lanes` (c_0, .., c_{U-1}): unit i is computed for lanes 0..c_i-1 only, and the others
    take unit i-1's output, which is unit i's when it is a pass-through unit: lanes sorted by
    `last_units`, latest first, with c_i >= the number of lanes whose last unit is i or later
    (lanes that pad a chunk, whose results are unused, may come last and be left out).
    Most rules of a search have fewer units than the table; a padding unit costs as much as any.
    """
    grammar = table.grammar
    n_operands = len(grammar.operands)
    ones = tf.ones_like(ctx.g)
    subsets = subsets or {}
    values, compact = {}, {}
    for j in table.operands:
        if j in subsets:
            lanes, slot = subsets[j]
            part = ctx.at(j).of_lanes(lanes)
            compact[j] = (grammar.operands[j].value(part) * tf.ones_like(part.g), slot)
        else:
            values[j] = grammar.operands[j].value(ctx.at(j)) * ones
    lanes = program.shape[0]
    operands = _Operands(values, grammar, lanes, compact)
    outputs = {}
    for i, allowed in enumerate(table.allowed):
        count = min(unit_lanes[1 : i + 1], default=lanes) if unit_lanes else lanes
        part = ctx if count == lanes else ctx.first(count)
        fields = [program[:count, i, f : f + 1] for f in range(5)]
        arguments = []
        for slot in (0, 1) if table.uses_second_argument(i) else (0,):
            x = operands.select(fields[slot], allowed[slot], outputs, n_operands)
            site = part.at(SITE_UNARY + 2 * i + slot)
            arguments.append(pick(fields[2 + slot], {j: grammar.unary[j].value(site, x) for j in allowed[2 + slot]}))
        if len(arguments) == 1:
            arguments.append(None)
        outputs[i] = pick(fields[4], {j: grammar.binary[j].value(part, *arguments) for j in allowed[4]})
    # lanes c_{i+1}..c_i - 1 end with unit i (c_U = 0)
    ends = [outputs[i].shape[0] for i in range(1, len(outputs))] + [0]
    parts = [outputs[i][ends[i]:] for i in reversed(range(len(outputs))) if outputs[i].shape[0] > ends[i]]
    return tf.concat(parts, axis=0) if len(parts) > 1 else parts[0]
