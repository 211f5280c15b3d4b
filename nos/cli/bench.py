"""``nos bench``: throughput of the batched interpreter against the naive per-rule Keras path."""

from __future__ import annotations

import json

from nos.limits import MAX_CHUNK_LANES, MAX_STEPS

EPILOG = """\
What is measured (one process, so ratios compare like with like on a busy machine):
  interpreter  rule-lanes/s on mlp_digits (batch 128, 64->32->10 MLP) at each K, lanes cycling
               through the catalog rules x a learning-rate grid; compile time reported apart
               (a trace and a load only, when the loop is in the compile cache)
               (all lanes on seed 0, as in a search: the shared-minibatch path)
  mixed seeds  catalog lanes at the largest K with K different seeds, on the per-lane-minibatch
               path (shared_batch=False)
  search       the same with the whole grammar's row table and random 3-unit rules; and at
               the quick preset's task, units (2) and steps (200), the kernel its search uses
  naive        per rule: build task.keras_model(), compile with nos.RuleOptimizer, fit the same
               steps (after one untimed warm-up)
  roof         best GFLOP/s of a float32 2048x2048 matmul (eager or XLA), measured
               before and after the interpreter runs; the higher counts
  rosenbrock   interpreter rule-lanes/s at 4000 steps
  end to end   a real search (quick preset, random controller, 256 samples, fresh run
               directory) from start to finish: trained lanes/s and the fraction of the two
               search kernels' child FLOP rates it reaches, split into baseline, propose,
               evaluate (compile + train + validate), update, store and other; run in a
               fresh process twice, sharing a new compile cache: cold (loops compiled, the
               first search on a machine) and warm (loops loaded, every later search)
Child FLOPs per lane and step = 6 * batch * sum(fan_in * fan_out) over the dense kernels
(forward + backward matmuls; the optimizer's elementwise work is not counted):
6 * 128 * (64*32 + 32*10) = 1.82 MFLOP. roof_fraction = lanes/s * steps * that / roof.

--json keys: task, steps, batch_size, flops_per_lane_step, flops_formula, matmul_gflops,
  interpreter (list of {k, seconds, lanes_per_second, compile_seconds, child_gflops,
  roof_fraction}), lanes_per_second, best_k, compile_seconds, roof_fraction (at the best K),
  search_kernel {k, seconds, lanes_per_second, compile_seconds}, search_kernel_same_units {k,
  units, steps, seconds, lanes_per_second, compile_seconds}, mixed_seeds {k, seconds,
  lanes_per_second, compile_seconds}, naive {optimizer, rules,
  seconds, lanes_per_second}, speedup (lanes_per_second / naive lanes_per_second),
  rosenbrock {k, steps, seconds, lanes_per_second, compile_seconds}, end_to_end {preset,
  controller, task, steps, samples, rules_trained, cache_hits, invalid, invalid_fraction, lanes,
  seconds, lanes_per_second, kernel_fraction, same_units_kernel_fraction, split_seconds {propose,
  evaluate, update, store, baseline, other}, cold {the same keys, for the cold run}} (the warm
  run's figures), peak_memory_mb
  (ru_maxrss), quick.
"""


def register(subparsers):
    import argparse

    parser = subparsers.add_parser(
        "bench",
        help="measure the batched interpreter's throughput against the naive Keras path",
        description="Measure rule-lanes per second of the batched interpreter, of building and "
        "fitting a Keras model per rule, and the machine's matmul roof, in one run.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small sizes (K 4 and 8, 20 steps): a smoke test")
    parser.add_argument("--ks", type=int, nargs="+", metavar="K", help="lanes per call (default 16 64 256)")
    parser.add_argument("--steps", type=int, metavar="N", help="training steps on mlp_digits (default 300)")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.set_defaults(run=run)


def run(args) -> int:
    import sys

    from nos.benchmark.speed import report, run_bench

    if args.ks and any(not 1 <= k <= MAX_CHUNK_LANES for k in args.ks):
        raise ValueError(f"--ks must be in 1..{MAX_CHUNK_LANES:,}, got {args.ks}")
    if args.steps is not None and not 1 <= args.steps <= MAX_STEPS:
        raise ValueError(f"--steps must be in 1..{MAX_STEPS:,}, got {args.steps}")
    log = (lambda message: print(message, file=sys.stderr)) if args.json else print
    figures = run_bench(quick=args.quick, ks=args.ks, steps=args.steps, log=log)
    print(json.dumps(figures, indent=2) if args.json else report(figures))
    return 0
