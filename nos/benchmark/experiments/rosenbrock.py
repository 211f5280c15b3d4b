"""The Rosenbrock experiment of "Custom Optimizer in TensorFlow" (Descamps, BigData Republic).

RMSProp, AddSign and PowerSign minimise f(x, y) = (1 − x)² + 100·(y − x²)² from
(−2.39, −1.57) for 4000 steps. The article did not state its learning rates, so each rule's
learning rate is tuned here on one log-spaced grid (lowest final f, through the batched
engine), and the trajectory at that rate is then traced with `nos.RuleOptimizer`. Outputs: the
article's table of (x, y, f) at steps 0, 501, 1001, 2001, 3001, the distance to the minimum
(1, 1) against the step, and the paths drawn on the contour of f.

Our PowerSign and AddSign follow the paper (m is an EMA of g); the article's code used
m = max(β·m + ε, |g|), so its figures are not expected to match ours exactly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RULES = ("rmsprop", "addsign", "powersign")
GRID = tuple(float(x) for x in np.logspace(-4, 0, 13))
STEPS = 4000
TABLE_STEPS = (0, 501, 1001, 2001, 3001)
START = (-2.39, -1.57)


def rosenbrock(x, y):
    return (1.0 - x) ** 2 + 100.0 * (y - x * x) ** 2


@dataclass
class Trajectory:
    name: str
    learning_rate: float
    path: np.ndarray  # [steps + 1, 2]: the point after k updates

    @property
    def values(self) -> np.ndarray:
        return rosenbrock(self.path[:, 0], self.path[:, 1])

    @property
    def distance(self) -> np.ndarray:
        return np.hypot(self.path[:, 0] - 1.0, self.path[:, 1] - 1.0)


def tune(rules=RULES, grid=GRID, steps=STEPS) -> dict[str, float]:
    """Each rule's learning rate with the lowest final f on the grid."""
    from nos.engine.grid import evaluate

    results = evaluate(list(rules), task="rosenbrock", learning_rates=list(grid), seeds=[0], steps=steps)
    return {name: float(r.best_lr) for name, r in zip(rules, results.results)}


def trace(name: str, learning_rate: float, steps: int = STEPS) -> Trajectory:
    """The path of `RuleOptimizer` with catalog rule `name` from the article's start."""
    import tensorflow as tf

    from nos import RuleOptimizer
    from search_space import KNOWN_RULES

    point = tf.Variable(START, dtype=tf.float32)
    optimizer = RuleOptimizer(KNOWN_RULES[name], learning_rate=learning_rate, decay_steps=steps)

    @tf.function
    def run():
        path = tf.TensorArray(tf.float32, size=steps + 1)
        path = path.write(0, point.read_value())
        for k in tf.range(steps):
            with tf.GradientTape() as tape:
                loss = (1.0 - point[0]) ** 2 + 100.0 * (point[1] - point[0] ** 2) ** 2
            optimizer.apply_gradients([(tape.gradient(loss, point), point)])
            path = path.write(k + 1, point.read_value())
        return path.stack()

    return Trajectory(name, learning_rate, run().numpy().astype(np.float64))


def table(trajectories: list[Trajectory]) -> tuple[list[str], list[list[str]]]:
    headers = ["step"] + [f"{t.name} (x, y, f)" for t in trajectories]
    rows = []
    for step in (s for s in TABLE_STEPS if s < len(trajectories[0].path)):
        cells = [str(step)]
        for t in trajectories:
            x, y = t.path[step]
            cells.append(f"({x:.2f}, {y:.2f}, {rosenbrock(x, y):.2f})")
        rows.append(cells)
    return headers, rows


def plot(trajectories: list[Trajectory], out: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for t in trajectories:
        ax.plot(np.arange(len(t.distance)), t.distance, label=f"{t.name} (lr {t.learning_rate:.3g})")
    ax.set(xlabel="step", ylabel="distance to (1, 1)", yscale="log", title="Rosenbrock from (−2.39, −1.57)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "rosenbrock_distance.png", dpi=120, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 5.5))
    xs, ys = np.meshgrid(np.linspace(-3, 2, 400), np.linspace(-2, 4, 400))
    ax.contour(xs, ys, np.log10(rosenbrock(xs, ys) + 1e-3), levels=25, cmap="Greys", linewidths=0.6)
    for t in trajectories:
        ax.plot(t.path[:, 0], t.path[:, 1], linewidth=1.2, label=t.name)
    ax.plot(*START, "ko")
    ax.plot(1, 1, "r*", markersize=12)
    ax.set(xlabel="x", ylabel="y", title="Paths on the Rosenbrock contour (log scale)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "rosenbrock_paths.png", dpi=120, bbox_inches="tight")
    plt.close(fig)


def reproduce(out: Path, rules=RULES, grid=GRID, steps=STEPS) -> list[Trajectory]:
    """Tune, trace, and write the table (Markdown, JSON) and the two figures to `out`."""
    from nos.text_tables import markdown_table

    out.mkdir(parents=True, exist_ok=True)
    learning_rates = tune(rules, grid, steps)
    trajectories = [trace(name, learning_rates[name], steps) for name in rules]
    headers, rows = table(trajectories)
    (out / "rosenbrock_table.md").write_text(markdown_table(headers, rows) + "\n")
    (out / "rosenbrock.json").write_text(json.dumps(
        {t.name: {"learning_rate": t.learning_rate, "grid": list(grid),
                  "table": {s: t.path[s].tolist() for s in TABLE_STEPS if s <= steps},
                  "final": t.path[-1].tolist()} for t in trajectories}, indent=2))
    plot(trajectories, out)
    return trajectories
