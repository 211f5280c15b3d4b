"""mlp_diabetes: an MLP regressor (mean squared error) on scikit-learn's bundled diabetes data."""

import socket

import numpy as np
import pytest
import tensorflow as tf

import nos
from nos.engine.tasks import get_task
from nos.engine.tasks.diabetes import diabetes
from nos.engine.tasks.supervised import class_major_squared_errors
from nos.search.config import from_dict


def test_the_data_is_bundled_split_and_standardized(monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("tried to open a socket")

    monkeypatch.setattr(socket, "socket", no_network)
    diabetes.cache_clear()
    data = diabetes(0)
    assert data.x_train.shape == (354, 10) and data.y_train.shape == (354, 1) and data.x_val.shape == (88, 10)
    assert data.x_train.dtype == data.y_val.dtype == np.float32
    np.testing.assert_allclose(data.x_train.mean(axis=0), 0.0, atol=1e-6)
    np.testing.assert_allclose(data.x_train.std(axis=0), 1.0, rtol=1e-5)
    np.testing.assert_allclose(data.y_train.mean(), 0.0, atol=1e-6)
    np.testing.assert_allclose(data.y_train.std(), 1.0, rtol=1e-5)
    assert float(np.mean(data.y_val ** 2)) == pytest.approx(0.83, abs=0.01)  # the training mean's validation MSE
    other = diabetes(1)
    assert not np.array_equal(other.y_val, data.y_val)
    np.testing.assert_array_equal(diabetes.__wrapped__(0).x_val, data.x_val)  # fixed by the seed


def test_name_config_and_parameters():
    task = get_task("mlp_diabetes", hidden_sizes=[16, 8], batch_size=16, split_seed=3)
    assert task.name == "mlp_diabetes_10x16x8x1_b16_split3" and task.metric == "loss"
    assert task.num_params == 10 * 16 + 16 + 16 * 8 + 8 + 8 + 1
    assert get_task(task.kind, **task.config).name == task.name
    assert task.regression and set(task.validation(task.init_params(tf.constant([0])))) == {"loss"}


def test_validation_and_train_loss_are_keras_mean_squared_errors():
    task = get_task("mlp_diabetes")
    params = task.init_params(tf.constant([0, 1]))
    params += 0.05 * tf.sin(tf.reshape(tf.range(2 * task.num_params, dtype=tf.float32), params.shape))
    ours = task.validation(params)["loss"].numpy()
    model = task.keras_model()
    index = task.minibatch_indices(tf.constant(4), tf.constant([1]))[0].numpy()
    for lane in range(2):
        model.set_weights(task.unflatten(params[lane].numpy()))
        predicted = model(task.data.x_val).numpy()
        assert ours[lane] == pytest.approx(np.mean((predicted - task.data.y_val) ** 2), rel=1e-5)
        assert ours[lane] == pytest.approx(float(task.keras_loss()(task.data.y_val, predicted)), rel=1e-5)
    by_hand = np.mean((model(task.data.x_train[index]).numpy() - task.data.y_train[index]) ** 2)
    assert float(task.train_loss(params[1:], tf.constant(4), tf.constant([1]))[0]) == pytest.approx(by_hand, rel=1e-5)


def test_class_major_squared_errors():
    generator = np.random.default_rng(0)
    z = generator.standard_normal((3, 2, 5)).astype(np.float32)  # [K, O, B]
    y = generator.standard_normal((5, 2)).astype(np.float32)  # [B, O]
    expected = np.mean((z - y.T[None]) ** 2, axis=1)
    np.testing.assert_allclose(class_major_squared_errors(tf.constant(z), tf.constant(y)), expected, rtol=1e-6)
    per_lane = np.broadcast_to(y, (3, 5, 2))
    np.testing.assert_allclose(class_major_squared_errors(tf.constant(z), tf.constant(per_lane)), expected, rtol=1e-6)


def test_adam_beats_predicting_the_mean():
    evaluation = nos.evaluate(["adam"], task="mlp_diabetes", learning_rates=[1e-3, 1e-2], seeds=(0, 1), steps=300)
    result = evaluation.results[0]
    assert result.status == "ok" and not result.diverged.any()
    assert result.score < 0.7  # predicting the mean scores 0.83, a linear fit 0.56


@pytest.mark.parametrize("config, piece", [
    ({"hidden_sizes": 32}, "mlp_diabetes: hidden_sizes must be a sequence of positive ints, got 32"),
    ({"hidden_sizes": (0,)}, "mlp_diabetes: hidden_sizes[] must be a positive int, got 0"),
    ({"batch_size": 0}, "mlp_diabetes: batch_size must be a positive int, got 0"),
    ({"split_seed": -1}, "mlp_diabetes: split_seed must be an int >= 0, got -1"),
    ({"hidden_sizes": (1000, 1000)}, "mlp_diabetes: the configuration has 1,013,001 parameters, above the limit"),
])
def test_bad_configs_are_one_line_errors(config, piece):
    with pytest.raises(ValueError) as info:
        get_task("mlp_diabetes", **config)
    assert piece in str(info.value) and "\n" not in str(info.value)


def test_a_search_config_builds_it():
    reward = from_dict({"reward": {"task": "mlp_diabetes", "task_config": {"hidden_sizes": [8]}}}).reward
    assert get_task(reward.task, **reward.task_config).name == "mlp_diabetes_10x8x1_b32"
