#!/usr/bin/env python3
"""Export a rule as a Keras optimizer class, import it, and train a Keras model with it.

    python scripts/export_rule.py                                       # PowerSign on the digits MLP
    python scripts/export_rule.py runs/first#1 --out first_rule.py --epochs 10
    python scripts/export_rule.py "(1 + sign(g)*sign(m))*g" --name AddSign --learning-rate 0.003

RULE is rule text, a catalog name or runs/NAME#K. The generated file imports only Keras 3
(`nos export RULE --format keras` writes the same file); this script then imports it like any
module of yours and trains a 64-32-10 MLP on scikit-learn's bundled 8x8 digits with
`model.compile(optimizer=...)`, printing the validation loss before and after.
"""

import argparse
import importlib.util
import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402

from nos.export import default_class_name, export_rule  # noqa: E402
from nos.rule_references import resolve  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("rule", nargs="?", default="exp(sign(g)*sign(m))*g", metavar="RULE",
                    help="rule text, catalog name or runs/NAME#K (default PowerSign's text)")
parser.add_argument("--out", default="exported_optimizer.py", help="the module to write (overwritten; default exported_optimizer.py)")
parser.add_argument("--name", default=None, help="class name (default: the catalog name in CamelCase, or Rule<key>)")
parser.add_argument("--learning-rate", type=float, default=0.1,
                    help="(default 0.1; for a run's rule, its `best lr` in the leaderboard is a good start)")
parser.add_argument("--epochs", type=int, default=5, help="passes over the 1,500 training images (default 5)")
parser.add_argument("--batch-size", type=int, default=128, help="images per step (default 128)")
parser.add_argument("--seed", type=int, default=0, help="seed of the weights and the data order (default 0)")
args = parser.parse_args()

# 1. the rule, and where it came from (a run's rule keeps its rank and reward for the docstring)
refs = resolve(args.rule)
if len(refs) != 1:
    parser.error(f"{args.rule} names {len(refs)} rules; pick one with {args.rule}#K")
rule, origin = refs[0].rule, refs[0].origin
class_name = args.name or default_class_name(rule)

# 2. generate the module from the rule's program and write it
source = export_rule(rule, "keras", class_name=class_name, origin=origin if origin.startswith("search run") else None)
path = Path(args.out)
path.write_text(source, encoding="utf-8")
print(f"wrote {path}: class {class_name}, rule {rule}")

# 3. import it as any module of yours (here from its path; `from first_rule import ...` works as well)
spec = importlib.util.spec_from_file_location(path.stem, path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
Optimizer = getattr(module, class_name)

# 4. a small Keras model on the 8x8 digits (shipped with scikit-learn, nothing is downloaded)
keras.utils.set_random_seed(args.seed)
digits = load_digits()
x, y = (digits.data / 16.0).astype("float32"), digits.target
x_train, y_train, x_val, y_val = x[:1500], y[:1500], x[1500:], y[1500:]
model = keras.Sequential([
    keras.Input((64,)),
    keras.layers.Dense(32, activation="relu"),
    keras.layers.Dense(10),
])
model.compile(optimizer=Optimizer(learning_rate=args.learning_rate),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])

# 5. train, and compare the validation loss before and after
loss_before, accuracy_before = model.evaluate(x_val, y_val, verbose=0)
model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=0)
loss_after, accuracy_after = model.evaluate(x_val, y_val, verbose=0)
print(f"{class_name}, learning rate {args.learning_rate:g}, {args.epochs} epochs on digits:")
print(f"  validation loss {loss_before:.4f} -> {loss_after:.4f}, accuracy {accuracy_before:.3f} -> {accuracy_after:.3f}")
