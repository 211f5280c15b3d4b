"""The batched rule interpreter: many (rule, learning rate, seed) lanes in one XLA program.

    encoding  rules -> int32 [K, U, 5] programs; `RowTable`, the rows a kernel computes
    xp        TensorFlow with numpy's names: the ``ctx.xp`` the grammar rows compute through
    kernel    the per-step selection math: the update direction of K different rules at once
    loop      the compiled training loop over steps, cached per shape (`TRACES` counts traces)
    lanes     `run_lanes`: any number of lanes in fixed-size (seed-grouped) chunks, results as numpy arrays
"""

from nos.engine.interpreter.encoding import RowTable, encode, encode_rule
from nos.engine.interpreter.lanes import LaneResults, resolve_task, run_lanes
from nos.engine.interpreter.loop import TRACES, compiled_loop

__all__ = [
    "TRACES",
    "LaneResults",
    "RowTable",
    "compiled_loop",
    "encode",
    "encode_rule",
    "resolve_task",
    "run_lanes",
]
