"""The Rosenbrock reproduction: tuned learning rates, the article's table, figures, and a cross-check."""

import numpy as np
import pytest

from nos.benchmark.experiments import rosenbrock as experiment
from nos.engine.grid import evaluate

GRID = (1e-4, 1e-3, 1e-2)
STEPS = 600


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    out = tmp_path_factory.mktemp("rosenbrock")
    return out, experiment.reproduce(out, grid=GRID, steps=STEPS)


def test_trajectories_start_at_the_articles_point_and_use_the_tuned_rate(outputs):
    _, trajectories = outputs
    assert [t.name for t in trajectories] == list(experiment.RULES)
    for t in trajectories:
        assert t.path.shape == (STEPS + 1, 2)
        np.testing.assert_allclose(t.path[0], experiment.START, rtol=1e-6)
        assert t.learning_rate in GRID


def test_the_optimizer_trajectory_ends_where_the_engine_lane_ended(outputs):
    """RuleOptimizer (Keras path) and the batched interpreter agree on the final value of f."""
    _, trajectories = outputs
    for t in trajectories:
        (lane,) = evaluate([t.name], task="rosenbrock", learning_rates=[t.learning_rate], seeds=[0], steps=STEPS).results
        assert t.values[-1] == pytest.approx(float(lane.val_loss[0, 0]), rel=2e-3, abs=1e-5)


def test_the_table_and_figures_are_written(outputs):
    out, trajectories = outputs
    table = (out / "rosenbrock_table.md").read_text()
    assert table.splitlines()[2].startswith("| 0 | (-2.39, -1.57, 5314.39)")
    assert "| 501 |" in table
    for name in ("rosenbrock_distance.png", "rosenbrock_paths.png"):
        assert (out / name).stat().st_size > 10_000
