"""Where the batched interpreter's step time goes: one compiled loop timed with different row tables.

    python scripts/kernel_rows.py                    # K = 256 lanes, 100 steps, mlp_digits
    python scripts/kernel_rows.py --k 64 --steps 50

Every variant trains the same K random lanes of its own table (seed 0, so the shared-batch path
of a search) for T steps in one loop (`nos.engine.interpreter.loop.compiled_loop`); the time is
the best of three calls after a first one that compiles. The variants:

    sgd           a table of one rule, g: the training alone (loss, gradient, update)
    catalog       the rows the catalog's rules use (``nos bench``'s catalog kernel)
    grammar       every row of the grammar at --units units (the kernel a search runs)
    grammar - R   the same without the rows named in R

"per entry" is (ms/step − sgd's) / entries: the cost of one (position, row) entry of the table,
each computed for every lane and parameter, which is what separates the kernels.
"""

import argparse
import time

import numpy as np


def without(table, names):
    """`table` without the grammar rows called `names` (operands, unary or binary functions)."""
    from nos.engine.interpreter.encoding import RowTable

    grammar = table.grammar
    kinds = (grammar.operands, grammar.operands, grammar.unary, grammar.unary, grammar.binary)
    allowed = tuple(
        tuple(tuple(j for j in fields[f] if j >= len(kinds[f]) or kinds[f][j].name not in names) for f in range(5))
        for fields in table.allowed
    )
    return RowTable(grammar, allowed)


def variants(units: int) -> dict:
    from nos.engine.interpreter.encoding import RowTable, encode
    from search_space import CATALOG, GRAMMAR, resolve_rule

    grammar = RowTable.full(GRAMMAR, units)
    random_rows = ("noise", "anoise", "drop1", "drop3", "drop5")
    transcendental = ("exp", "log", "sqrt", "pow")
    return {
        "sgd": RowTable.of(encode([resolve_rule("sgd")])),
        "catalog": RowTable.of(encode([entry.rule for entry in CATALOG])),
        "grammar": grammar,
        "grammar - noise, anoise": without(grammar, ("noise", "anoise")),
        "grammar - random rows": without(grammar, random_rows),
        "grammar - random rows, exp, log, sqrt, pow": without(grammar, random_rows + transcendental),
    }


def time_table(task, table, lanes: int, steps: int, rng) -> float:
    """Seconds a step of `lanes` random programs of `table`, best of three calls."""
    import tensorflow as tf

    from nos.engine.interpreter.loop import compiled_loop

    programs = np.array([[[rng.choice(table.allowed[i][f]) for f in range(5)] for i in range(table.units)]
                         for _ in range(lanes)], np.int32)
    train = compiled_loop(task, lanes, steps, 30, table, shared_batch=True)
    arguments = (tf.constant(programs), tf.constant(np.full(lanes, 0.01, np.float32)),
                 tf.constant(np.zeros(lanes, np.int32)), tf.constant(float(steps)))
    train(*arguments)["curve"].numpy()
    best = np.inf
    for _ in range(3):
        started = time.perf_counter()
        train(*arguments)["curve"].numpy()
        best = min(best, time.perf_counter() - started)
    return best / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=256, help="lanes per call (default 256)")
    parser.add_argument("--steps", type=int, default=100, help="training steps per call (default 100)")
    parser.add_argument("--units", type=int, default=3, help="units of the grammar's table (default 3)")
    args = parser.parse_args()

    from nos.engine.tasks import get_task
    from nos.text_tables import text_table

    task = get_task("mlp_digits", batch_size=128)
    rng = np.random.default_rng(0)
    rows, base = [], None
    for name, table in variants(args.units).items():
        seconds = time_table(task, table, args.k, args.steps, rng)
        base = seconds if base is None else base
        per_entry = "-" if name == "sgd" else f"{1e6 * (seconds - base) / table.size:.1f}"
        rows.append([name, str(table.units), str(table.size), f"{1e3 * seconds:.2f}", f"{args.k / seconds / args.steps:.0f}",
                     per_entry])
    print(f"mlp_digits, K = {args.k}, {args.steps} steps, one call")
    print(text_table(["table", "units", "entries", "ms/step", "lanes/s", "µs per entry over sgd"], rows))


if __name__ == "__main__":
    main()
