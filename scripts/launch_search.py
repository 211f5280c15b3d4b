#!/usr/bin/env python3
"""Search for update rules on a child task of your own, in a vocabulary of your own.

    python scripts/launch_search.py                                     # 64 rules, then a funnel stage
    python scripts/launch_search.py --budget 16 --steps 50 --funnel-top 0 --out /tmp/ls
    python scripts/launch_search.py --operands g m 'sign(g)' 'sign(m)' 1 2 --controller evolution

The script defines a child task (minibatch least squares), checks it against the Task contract
(`nos.engine.tasks.check_task`), registers it under a name, and runs `nos.search.loop.search` over a subset
of the paper's grammar. Edit the task class, the space or the config dict below; every key of
the config is a field of `nos.search.config.SearchConfig` (the same keys as the TOML presets).
"""

import argparse
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # the engine retraces on purpose; no warnings about it

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from controllers.registry import CONTROLLERS  # noqa: E402
from nos.engine.tasks import Task, check_task, register_task, rng  # noqa: E402
from nos.search.config import from_dict  # noqa: E402
from nos.search.loop import format_summary, search  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--out", default="runs/least-squares", help="run directory, new or empty (default runs/least-squares)")
parser.add_argument("--budget", type=int, default=64, help="rules to sample (default 64)")
parser.add_argument("--batch-size", type=int, default=16, help="rules per controller step (default 16)")
parser.add_argument("--steps", type=int, default=100, help="training steps of each child run (default 100)")
parser.add_argument("--dim", type=int, default=20, help="unknowns of the least-squares problem (default 20)")
parser.add_argument("--controller", default="rnn", choices=list(CONTROLLERS))
parser.add_argument("--units", type=int, default=2, help="units per rule, 5 tokens each (default 2)")
parser.add_argument("--operands", nargs="+", default=["g", "m", "v", "sign(g)", "sign(m)", "1", "2"])
parser.add_argument("--unary", nargs="+", default=["id", "neg", "exp", "sqrt", "sign"])
parser.add_argument("--binary", nargs="+", default=["add", "sub", "mul", "div"])
parser.add_argument("--funnel-top", type=int, default=8,
                    help="rules a funnel stage retrains longer on 3 seeds (default 8; 0: no funnel)")
parser.add_argument("--seed", type=int, default=0, help="seed of the controller (default 0)")
args = parser.parse_args()


class LeastSquares(Task):
    """Minibatch least squares: f(x) = mean_i 0.5 (a_i . x - b_i)^2 over n fixed rows.

    A [n, d] is standard normal with its columns scaled so that the curvatures span a factor of
    about `cond`; b = A x* + noise. Lane k starts at x ~ N(0, I) drawn from seeds[k]; at step s it
    sees `batch_size` rows drawn from (seeds[k], s). The validation loss is f on all n rows.
    """

    kind = "least_squares"

    def __init__(self, dim=20, rows=256, batch_size=16, cond=30.0, data_seed=0):
        self.config = {"dim": dim, "rows": rows, "batch_size": batch_size, "cond": cond, "data_seed": data_seed}
        self.name = f"least_squares_d{dim}_n{rows}_b{batch_size}_cond{cond:g}_data{data_seed}"
        self.param_shapes = ((dim,),)
        self.dim, self.rows, self.batch_size = dim, rows, batch_size
        gen = np.random.default_rng(data_seed)
        scales = np.sqrt(cond) ** np.linspace(-0.5, 0.5, dim)  # column scales: curvatures span `cond`
        a = gen.normal(size=(rows, dim)) * scales
        b = a @ gen.normal(size=dim) + 0.1 * gen.normal(size=rows)
        self.a, self.b = tf.constant(a, tf.float32), tf.constant(b, tf.float32)

    def init_params(self, seeds):
        return rng.normal(rng.lane_keys(seeds, rng.STREAM_INIT), self.dim)

    def train_loss(self, params, step, seeds):
        picked = rng.indices(rng.lane_keys(seeds, rng.STREAM_BATCH, step), self.batch_size, self.rows)  # [K, B]
        residual = tf.einsum("kbd,kd->kb", tf.gather(self.a, picked), params) - tf.gather(self.b, picked)
        return 0.5 * tf.reduce_mean(tf.square(residual), axis=1)

    def validation(self, params):
        residual = tf.matmul(params, self.a, transpose_b=True) - self.b  # [K, n]
        return {"loss": 0.5 * tf.reduce_mean(tf.square(residual), axis=1)}


# The task must pass the contract's checks (shapes, determinism, lanes independent, XLA) before a
# search trusts it. A task registered here exists in this process only: keep the local executor.
check_task(LeastSquares(dim=args.dim))
register_task("least_squares", LeastSquares, overwrite=True)

task = {"task": "least_squares", "task_config": {"dim": args.dim}, "learning_rates": [0.001, 0.01, 0.1, 1.0]}
config = from_dict({
    "seed": args.seed,
    "budget": args.budget,
    "batch_size": args.batch_size,
    "space": {"units": args.units, "operands": args.operands, "unary": args.unary, "binary": args.binary},
    "reward": {**task, "steps": args.steps, "seeds": [0], "baseline": "adam"},
    "controller": {"name": args.controller},
    # after the search: its best rules again, twice as long and on 3 seeds; the leaderboard ranks by this
    "funnel": [{**task, "top": args.funnel_top, "steps": 2 * args.steps, "seeds": [0, 1, 2]}] if args.funnel_top else [],
})

summary = search(config, args.out, progress=False)
print(format_summary(summary))
if summary.leaderboard:
    print(f"evaluate the best rule against Adam: python scripts/evaluate_rules.py '{args.out}#1'")
