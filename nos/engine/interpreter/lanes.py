"""`run_lanes`: train any number of (rule, learning rate, seed) lanes, in fixed-size chunks.

Lanes run in chunks of one size (`chunk_size`), so memory is bounded and every chunk reuses
one compiled loop; a short chunk is padded with copies of its first lane, whose results are
dropped. Results come back in the order the lanes were given.

Seed-grouped chunks. For a task whose layout has a shared-batch path (``layout.batch_sharing``,
`nos.engine.layouts`: the supervised tasks, char_lm) each chunk holds lanes of one seed only (`plan_chunks`). Such lanes see the
same minibatch at every step, so the loop is built with ``shared_batch=True`` and a layer's
kernels of all the chunk's lanes act on that minibatch as one 2-D matmul (see
`nos.engine.layouts.base`). A search (every lane on seed 0) fills every chunk this way; an evaluation
with S seeds runs each seed's lanes in chunks of their own, padding at most one chunk per
seed. ``shared_batch=False`` forces the per-lane-minibatch path with consecutive chunks.

Row tables. All chunks of a call share one row table (`choose_table`): by default a compiled
kernel that already covers the rules is reused, else one is compiled for the rows they use,
joined with what earlier calls needed, and for the whole grammar once that is most of it. An
evaluation of a few rules thus pays only for their rows; a search stops retracing after its
first batches, or at once with ``rows="grammar"``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
import tensorflow as tf

from nos.engine import compile_cache
from nos.engine.interpreter.encoding import RowTable, encode, pad_programs
from nos.engine.interpreter.loop import compiled_loop, compiled_sizes, compiled_tables, curve_windows
from nos.engine.layouts import layout_for
from nos.limits import LANES_PER_CHUNK, MAX_CHUNK_LANES, MAX_SEED
from search_space import resolve_rule

GROW_TO_FULL = 0.5


@dataclass
class LaneResults:
    """Per-lane arrays, in the order the lanes were given (N lanes, C curve points).

    curves: [N, C] mean training loss over each window of steps; nan from the window in which
        the lane diverged on.
    curve_steps: [C] number of steps completed at the end of each window.
    diverged: [N] whether a loss, gradient or parameter became non-finite.
    steps_run: [N] updates applied before divergence (``steps`` if the lane did not diverge).
    validation: metric name -> [N], the task's validation metrics; nan for diverged lanes.
    final_loss: [N] the last window's mean training loss (``curves[:, -1]``).
    params: [N, P] final parameters when asked for (``keep_params=True``), else None.
    seconds: wall time of the call, compilation included.
    table: the row table the kernel was compiled for.
    """

    curves: np.ndarray
    curve_steps: np.ndarray
    diverged: np.ndarray
    steps_run: np.ndarray
    validation: dict
    final_loss: np.ndarray
    params: np.ndarray | None
    seconds: float
    table: RowTable = field(repr=False)


def resolve_task(task, task_config=None):
    """A Task, or a registered task name built with `task_config`."""
    from nos.engine.tasks import Task, get_task

    if isinstance(task, Task):
        if task_config:
            raise ValueError("task_config applies to a task given by name, not to a Task instance")
        return task
    return get_task(task, **(task_config or {}))


def chunk_size(lanes: int, lanes_per_chunk: int) -> int:
    """`lanes_per_chunk`, or the next power of two >= `lanes` when that is smaller."""
    if not 1 <= lanes_per_chunk <= MAX_CHUNK_LANES:
        raise ValueError(f"lanes_per_chunk must be an int in 1..{MAX_CHUNK_LANES:,}, got {lanes_per_chunk}")
    return min(lanes_per_chunk, 1 << max(lanes - 1, 0).bit_length())


def plan_chunks(seeds, lanes_per_chunk: int, shared_batch: bool) -> tuple[int, list]:
    """(K, chunks): the chunk size and each chunk's lane indices (at most K of them).

    Without `shared_batch`: consecutive lanes, K = `chunk_size` of all N lanes. With it: the
    lanes of each seed in turn (seeds in order of first appearance, a seed's lanes in their
    order), K = `chunk_size` of the largest seed group, so no chunk mixes seeds.
    """
    seeds = np.asarray(seeds)
    if not shared_batch:
        size = chunk_size(len(seeds), lanes_per_chunk)
        return size, [np.arange(a, min(a + size, len(seeds))) for a in range(0, len(seeds), size)]
    _, first = np.unique(seeds, return_index=True)
    groups = [np.flatnonzero(seeds == seeds[i]) for i in sorted(first)]
    size = chunk_size(max(len(g) for g in groups), lanes_per_chunk)
    return size, [group[a:a + size] for group in groups for a in range(0, len(group), size)]


def run_lanes(task, rules, learning_rates, seeds, steps: int, *, task_config=None, decay_steps=None,
              curve_points: int = 30, lanes_per_chunk: int = LANES_PER_CHUNK, units: int | None = None, rows="auto",
              keep_params: bool = False, progress: bool = False, shared_batch: bool | None = None,
              reuse_shapes: bool = False, layout=None) -> LaneResults:
    """Train lane n with ``rules[n]``, ``learning_rates[n]`` and ``seeds[n]`` for `steps` steps.

    `rules` are Rules, catalog names or texts; `learning_rates` and `seeds` are sequences of the
    same length or scalars. `decay_steps` (D of the decay operands) defaults to `steps`. `units`
    pads every program to at least that many units. `rows` picks the kernel's row table (see
    `choose_table`): ``"auto"`` (default: reuse a compiled kernel that covers these rules, else
    compile one for the rows they use), ``"exact"`` (only the rows these rules use),
    ``"grammar"`` (every rule of the grammar with up to U units: later calls with other rules
    never retrace) or a `RowTable`. `shared_batch`: seed-grouped chunks on the shared-batch path
    (True), consecutive chunks with a minibatch per lane (False), or the layout's
    ``batch_sharing`` (None, the default); see the module docstring. `layout`: the
    `nos.engine.layouts.Layout` the loop trains through (default ``layout_for(task)``; pass
    ``Layout(task)`` for the reference ``train_loss`` with no fast path). `reuse_shapes`: pad chunks
    to the smallest K already compiled that holds them (up to `lanes_per_chunk`) rather than
    compile a smaller loop, so that calls of varying size (a search's steps) share one shape.
    """
    task = resolve_task(task, task_config)
    rules = [resolve_rule(r) for r in rules]
    n = len(rules)
    if n == 0:
        raise ValueError("run_lanes needs at least one lane")
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(f"steps must be a positive int, got {steps!r}")
    learning_rates = np.broadcast_to(np.asarray(learning_rates, np.float32), (n,)).copy()
    seeds = np.broadcast_to(np.asarray(seeds, np.int64), (n,))
    if np.any(np.abs(seeds) > MAX_SEED) or curve_points < 1:
        raise ValueError("seeds must fit in int32 and curve_points must be positive")
    seeds = seeds.astype(np.int32)
    grammar = rules[0].grammar
    longest = max(len(r.normal_units) for r in rules)
    programs = encode(rules, max(longest, units or 1), grammar)
    layout = layout_for(task) if layout is None else layout
    shared = layout.batch_sharing if shared_batch is None else bool(shared_batch)
    size, chunks = plan_chunks(seeds, lanes_per_chunk, shared)
    if reuse_shapes:
        size = min({k for k in compiled_sizes(task, steps, curve_points, shared, layout) if size <= k <= lanes_per_chunk},
                   default=size)
    table = choose_table(rows, programs, grammar, compiled_tables(task, size, steps, curve_points, shared, layout))
    programs = pad_programs(programs, table.units, grammar)
    train = compiled_loop(task, size, steps, curve_points, table, shared, layout)
    horizon = tf.constant(float(steps if decay_steps is None else decay_steps), tf.float32)
    started = time.perf_counter()
    outputs = []
    bar = _progress_bar(n, task.name) if progress else None
    with compile_cache.compiling():
        for index in chunks:
            padded = np.concatenate([index, np.full(size - len(index), index[0])])
            out = train(tf.constant(programs[padded]), tf.constant(learning_rates[padded]),
                        tf.constant(seeds[padded]), horizon)
            outputs.append(_to_numpy(out, len(index), keep_params))
            if bar is not None:
                bar.update(len(index))
    if bar is not None:
        bar.close()
    given_order = np.argsort(np.concatenate(chunks), kind="stable")
    return _collect(outputs, given_order, steps, curve_points, time.perf_counter() - started, table)


def choose_table(rows, programs, grammar, compiled=()) -> RowTable:
    """The row table for `programs` [N, U, 5] under policy `rows` (see `run_lanes`).

    ``"grammar"``: the whole grammar, at the most units of any compiled whole-grammar table
    (shorter programs are padded), so batches whose longest rule differs share one kernel.

    ``"auto"``: the smallest of the `compiled` tables that covers the programs (padded to its
    units), else the rows the programs use joined with every compiled table (padded to the
    most units), or the whole grammar once that union reaches `GROW_TO_FULL` of it. Repeated calls thus stop
    compiling: an evaluation of a few rules gets a small kernel, a search soon the full one.
    """
    units = programs.shape[1]
    if isinstance(rows, RowTable):
        if rows.grammar != grammar or rows.units < units or not rows.covers(pad_programs(programs, rows.units, grammar)):
            raise ValueError("the given row table does not cover these rules")
        return rows
    if rows == "grammar":
        compiled_units = [t.units for t in compiled if t.grammar == grammar and t == RowTable.full(grammar, t.units)]
        return RowTable.full(grammar, max([units, *compiled_units]))
    if rows == "exact":
        return RowTable.of(programs, grammar)
    if rows != "auto":
        raise ValueError(f"rows must be 'auto', 'exact', 'grammar' or a RowTable; got {rows!r}")
    tables = [t for t in compiled if t.grammar == grammar]
    covering = [t for t in tables if t.units >= units and t.covers(pad_programs(programs, t.units, grammar))]
    if covering:
        return min(covering, key=lambda t: t.size)
    units = max([units] + [t.units for t in tables])
    table = RowTable.of(pad_programs(programs, units, grammar), grammar)
    for other in tables:
        table = table.union(other.padded(units))
    full = RowTable.full(grammar, units)
    return full if table.size >= GROW_TO_FULL * full.size else table


def _to_numpy(out, lanes: int, keep_params: bool) -> dict:
    return {
        "curve": out["curve"].numpy()[:lanes],
        "diverged_at": out["diverged_at"].numpy()[:lanes],
        "validation": {k: v.numpy()[:lanes] for k, v in out["validation"].items()},
        "params": out["params"].numpy()[:lanes] if keep_params else None,
    }


def _collect(outputs, given_order, steps, curve_points, seconds, table) -> LaneResults:
    """Chunk outputs joined and put back in the given lane order (`given_order` indexes the join)."""
    points, stride = curve_windows(steps, curve_points)
    window_end = np.minimum((np.arange(points) + 1) * stride, steps)
    window_end[-1] = steps

    def joined(key, name=None):
        return np.concatenate([o[key] if name is None else o[key][name] for o in outputs])[given_order]

    diverged_at = joined("diverged_at")
    diverged = diverged_at < steps
    curves = joined("curve").astype(np.float64)
    curves[window_end[None, :] > diverged_at[:, None]] = np.nan
    validation = {
        name: np.where(diverged, np.nan, joined("validation", name).astype(np.float64))
        for name in outputs[0]["validation"]
    }
    params = joined("params") if outputs[0]["params"] is not None else None
    return LaneResults(
        curves=curves,
        curve_steps=window_end,
        diverged=diverged,
        steps_run=np.where(diverged, diverged_at, steps),
        validation=validation,
        final_loss=curves[:, -1].copy(),
        params=params,
        seconds=seconds,
        table=table,
    )


def _progress_bar(total: int, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"lanes on {name}", unit="lane")
