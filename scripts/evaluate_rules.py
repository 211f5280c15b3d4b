#!/usr/bin/env python3
"""Evaluate a few rules against a baseline with the benchmark protocol of `nos evaluate`.

    python scripts/evaluate_rules.py                                    # PowerSign, AddSign and a variant vs Adam
    python scripts/evaluate_rules.py runs/first#1 "g*exp(sign(m))" --tasks logreg quadratic --seeds 10
    python scripts/evaluate_rules.py runs/first --baseline rmsprop      # a run's top 3 rules vs RMSProp

RULE is rule text, a catalog name (`nos rules`), runs/NAME (the run's top 3 rules) or
runs/NAME#K. For every task, each rule's learning rate is tuned on the grid with seed 0, the
best setting is rerun on seeds 0..N-1, and each rule is compared with the baseline seed by seed
(paired t-test): the verdict is better, worse or not distinguishable at level 0.05.
"""

import argparse
import logging
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
logging.getLogger("tensorflow").setLevel(logging.ERROR)  # the engine retraces on purpose; no warnings about it

from nos.benchmark.deepobs import DEFAULT_GRID, HEADERS, run_protocol, table_rows  # noqa: E402
from nos.rule_references import resolve, resolve_all  # noqa: E402
from nos.text_tables import text_table  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("rules", nargs="*", default=["powersign", "addsign", "exp(sign(g)*sign(m))*adam"], metavar="RULE")
parser.add_argument("--baseline", default="adam", help="the rule every rule is compared with (default adam)")
parser.add_argument("--tasks", nargs="+", default=["quadratic", "mlp_digits"], help="tasks (default quadratic mlp_digits)")
parser.add_argument("--seeds", type=int, default=5, help="seeds of the rerun (default 5)")
parser.add_argument("--steps", type=int, default=None, help="training steps (default: nos evaluate's per task)")
parser.add_argument("--learning-rates", type=float, nargs="+", default=list(DEFAULT_GRID),
                    help="the tuning grid (default 9 log-spaced values in [1e-4, 1])")
args = parser.parse_args()

# 1. resolve the references: each becomes a RuleRef(label, rule, origin); the baseline joins the rules
baselines = resolve(args.baseline)
if len(baselines) != 1:
    parser.error(f"--baseline {args.baseline} names {len(baselines)} rules; name one")
baseline = baselines[0]
refs = resolve_all(args.rules + [args.baseline])
baseline_label = next(ref.label for ref in refs if ref.rule == baseline.rule)
for ref in refs:
    print(f"{ref.label}: {ref.rule}  ({ref.origin})")

# 2. tune on seed 0, rerun the best learning rate on every seed, compare with the baseline per task
outcomes = run_protocol(refs, args.tasks, learning_rates=args.learning_rates, seeds=tuple(range(args.seeds)),
                        steps=args.steps, progress=print, baseline=baseline.rule)

# 3. the table of `nos evaluate`: mean ± std, 95% interval, paired difference with the baseline, verdict
print(text_table(HEADERS, table_rows(outcomes)))
print(f"baseline: {baseline_label}")
for ref in refs:
    if ref.rule != baseline.rule:
        verdicts = ", ".join(f"{o.task} {o.verdict or o.status}" for o in outcomes if o.label == ref.label)
        print(f"{ref.label} vs {baseline_label}: {verdicts}")
