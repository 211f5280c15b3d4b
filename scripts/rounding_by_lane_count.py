"""Whether a lane's numbers depend on how many lanes share its XLA call (K).

    python scripts/rounding_by_lane_count.py                 # Adam on mlp_digits, 200 steps
    python scripts/rounding_by_lane_count.py --steps 20 --ks 4 8

The same four lanes (Adam at learning rates 1e-3, 1e-2, 0.1, 1, seed 0) are trained in calls of
K lanes, the rest of each call more copies of them. Calls whose four lanes end with bit-identical
parameters form one class; the script prints each class's K and validation losses. On a task with
matrix products XLA picks kernels by shape, so classes can differ at rounding level (README,
"Determinism").
"""

import argparse

import numpy as np

LEARNING_RATES = np.array([1e-3, 1e-2, 0.1, 1.0], np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--ks", type=int, nargs="+", default=[4, 8, 16, 32, 64, 128, 256])
    args = parser.parse_args()

    from nos.engine.interpreter import run_lanes
    from nos.engine.tasks import get_task

    task = get_task("mlp_digits", batch_size=128)
    classes = []  # [(params of the four lanes, validation losses, [K, ...])]
    for k in args.ks:
        run = run_lanes(task, ["adam"] * k, np.resize(LEARNING_RATES, k), 0, args.steps, rows="exact", keep_params=True)
        params, losses = run.params[:4], run.validation["loss"][:4]
        same = next((c for c in classes if np.array_equal(c[0], params)), None)
        if same is None:
            classes.append((params, losses, [k]))
        else:
            same[2].append(k)
    print(f"mlp_digits, Adam, {args.steps} steps: {len(classes)} class(es) of bit-identical lanes")
    for _, losses, ks in classes:
        print(f"  K = {', '.join(map(str, ks))}: validation loss at lr {', '.join(f'{lr:g}' for lr in LEARNING_RATES)} = "
              + ", ".join(f"{loss:.8g}" for loss in losses))


if __name__ == "__main__":
    main()
