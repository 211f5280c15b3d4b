"""matrix_factorization: low-rank matrix completion from minibatches of observed entries (no network)."""

import numpy as np
import pytest
import tensorflow as tf

import nos
from nos.engine.tasks import get_task
from nos.engine.tasks.check import train_loss_and_grad
from nos.engine.tasks.matrix_factorization import INIT_SCALE, low_rank_entries
from nos.search.config import ConfigError, from_dict
from nos.search.loop import search

SMALL = {"num_rows": 12, "num_cols": 9, "rank": 2, "num_observed": 60, "batch_size": 16}


def test_the_matrix_has_the_rank_and_the_entries_split():
    entries = low_rank_entries(50, 40, 3, 900, 0)
    assert entries.matrix.shape == (50, 40) and np.linalg.matrix_rank(entries.matrix, tol=1e-3) == 3
    assert entries.matrix.var() == pytest.approx(1.0, abs=0.3)
    observed = entries.rows.astype(np.int64) * 40 + entries.cols
    assert len(observed) == 900 and len(entries.held_out) == 50 * 40 - 900
    assert sorted(np.concatenate([observed, entries.held_out]).tolist()) == list(range(2000))  # a partition
    np.testing.assert_array_equal(entries.values, entries.matrix[entries.rows, entries.cols])
    again, other = low_rank_entries(50, 40, 3, 900, 0), low_rank_entries(50, 40, 3, 900, 1)
    np.testing.assert_array_equal(again.matrix, entries.matrix)
    np.testing.assert_array_equal(again.held_out, entries.held_out)
    assert not np.allclose(other.matrix, entries.matrix)


def test_name_config_and_initialisation():
    task = get_task("matrix_factorization", **SMALL, data_seed=4)
    assert task.name == "matrix_factorization_12x9_r2_obs60_b16_data4"
    assert task.param_shapes == ((12, 2), (9, 2)) and task.num_params == 42
    assert get_task(task.kind, **task.config).name == task.name
    params = task.init_params(tf.range(200)).numpy()
    assert abs(params.mean()) < 0.01 and params.std() == pytest.approx(INIT_SCALE, rel=0.05)


def factors(task):
    """U, V with U V^T = M exactly (from its SVD), as a flat row."""
    left, singular, right = np.linalg.svd(task.entries.matrix.astype(np.float64))
    r = task.rank
    u, v = left[:, :r] * np.sqrt(singular[:r]), right[:r].T * np.sqrt(singular[:r])
    return np.concatenate([u.ravel(), v.ravel()]).astype(np.float32)


def test_losses_and_gradient_follow_the_formulas():
    task = get_task("matrix_factorization", **SMALL)
    n = task.shape[1]
    params = task.init_params(tf.constant([5, 6]))
    seeds, step = tf.constant([5, 6]), tf.constant(7)
    loss, grad = train_loss_and_grad(task, params, step, seeds)
    index = task.minibatch_indices(step, seeds).numpy()
    for lane in range(2):
        u, v = (piece.astype(np.float64) for piece in task.unflatten(params[lane].numpy()))
        i, j = task.entries.rows[index[lane]], task.entries.cols[index[lane]]
        error = np.sum(u[i] * v[j], axis=1) - task.entries.values[index[lane]]
        assert float(loss[lane]) == pytest.approx(np.mean(error ** 2), rel=1e-5)
        grad_u, grad_v = np.zeros_like(u), np.zeros_like(v)
        np.add.at(grad_u, i, 2 * error[:, None] * v[j] / len(error))  # dL/du_i = (2/B) sum_b [i_b = i] e_b v_{j_b}
        np.add.at(grad_v, j, 2 * error[:, None] * u[i] / len(error))
        np.testing.assert_allclose(grad[lane], np.concatenate([grad_u.ravel(), grad_v.ravel()]), rtol=1e-4, atol=1e-6)
        error_all = (u @ v.T - task.entries.matrix).ravel()
        metrics = task.validation(params[lane:lane + 1])
        observed = task.entries.rows * n + task.entries.cols
        assert float(metrics["loss"][0]) == pytest.approx(np.mean(error_all[task.entries.held_out] ** 2), rel=1e-5)
        assert float(metrics["observed_loss"][0]) == pytest.approx(np.mean(error_all[observed] ** 2), rel=1e-5)
    exact = task.validation(tf.constant(factors(task)[None]))
    assert float(exact["loss"][0]) < 1e-9 and float(exact["observed_loss"][0]) < 1e-9


def test_adam_recovers_the_matrix_and_sgd_lags():
    evaluation = nos.evaluate(["adam", "sgd"], task="matrix_factorization", learning_rates=[0.01, 0.03, 0.1],
                              seeds=(0, 1), steps=300)
    adam, sgd = evaluation.results
    assert adam.status == sgd.status == "ok"
    assert adam.score < 0.01 and sgd.score > 0.5  # predicting 0 scores about 1
    assert adam.metric_at_best("observed_loss") < 0.01


@pytest.mark.parametrize("config, piece", [
    ({"rank": 51}, "matrix_factorization: rank = 51 is above the limit of 50"),
    ({"num_observed": 2500}, "matrix_factorization: num_observed = 2500 is above the limit of 2,499"),
    ({"num_observed": 0}, "matrix_factorization: num_observed must be a positive int, got 0"),
    ({"num_rows": 0}, "matrix_factorization: num_rows must be a positive int, got 0"),
    ({"num_rows": 1, "num_cols": 1, "rank": 1}, "num_rows * num_cols must be at least 2"),
    ({"num_rows": 100_000, "num_cols": 1000}, "num_rows * num_cols = 100,000,000 entries, above the limit of 50,000,000"),
    ({"num_rows": 400_000, "num_cols": 10, "rank": 3}, "the configuration has 1,200,030 parameters, above the limit"),
    ({"batch_size": 0}, "matrix_factorization: batch_size must be a positive int, got 0"),
    ({"data_seed": 2**31}, "data_seed = 2147483648 is above the limit of 2,147,483,647"),
    ({"rows": 5}, "unknown config key(s) rows for task 'matrix_factorization'"),
])
def test_bad_configs_are_one_line_errors(config, piece):
    with pytest.raises(ValueError) as info:
        get_task("matrix_factorization", **config)
    assert piece in str(info.value) and "\n" not in str(info.value)


def test_a_search_config_builds_it_and_a_bad_one_stops_the_search(tmp_path):
    def config(task_config):
        return from_dict({
            "budget": 2, "batch_size": 2, "space": {"units": 1, "operands": ["g", "m", "sign(g)", "sign(m)"]},
            "reward": {"task": "matrix_factorization", "task_config": task_config, "steps": 5, "learning_rates": [0.03],
                       "baseline": "sgd"},
            "controller": {"name": "random"},
        })

    reward = config(SMALL).reward  # what the search builds its task from
    assert get_task(reward.task, **reward.task_config).name == "matrix_factorization_12x9_r2_obs60_b16"
    with pytest.raises(ConfigError, match="rank = 10 is above the limit of 9") as info:
        search(config({**SMALL, "rank": 10}), tmp_path / "run", progress=False, log=lambda *_: None)
    assert "\n" not in str(info.value)
