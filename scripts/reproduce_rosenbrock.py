#!/usr/bin/env python3
"""Reproduce the Rosenbrock table and figures of "Custom Optimizer in TensorFlow".

    python scripts/reproduce_rosenbrock.py [--out DIR]

Tunes RMSProp, AddSign and PowerSign on one learning-rate grid, traces 4000 steps of each from
(−2.39, −1.57), and writes rosenbrock_table.md, rosenbrock.json, rosenbrock_distance.png and
rosenbrock_paths.png. See nos/benchmark/experiments/rosenbrock.py.
"""

import argparse
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from nos.benchmark.experiments.rosenbrock import GRID, reproduce, table  # noqa: E402
from nos.text_tables import text_table  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--out", default="rosenbrock", help="output directory (default ./rosenbrock)")
args = parser.parse_args()

trajectories = reproduce(Path(args.out))
print(f"learning rates tuned on {len(GRID)} log-spaced values in [1e-4, 1]:")
for t in trajectories:
    print(f"  {t.name}: {t.learning_rate:.4g}")
print(text_table(*table(trajectories)))
print(f"figures and tables in {args.out}/")
