"""Tests of the child tasks: the public checker over the catalog, then each task's math."""

import re

import numpy as np
import pytest
import tensorflow as tf

from nos.engine.layouts import Layout, layout_for
from nos.engine.layouts.mlp import transposed_kernel_order
from nos.engine.tasks import TASKS, Task, check_task, get_task, register_task, registry
from nos.engine.tasks.rosenbrock import Rosenbrock
from nos.engine.tasks.supervised import class_major_losses
from tests.test_task_cifar10 import TINY as CIFAR_TINY
from tests.test_task_cifar10 import write_cifar10

EXPECTED = [  # kind, config, name, num_params
    ("rosenbrock", {}, "rosenbrock_2d", 2),
    ("quadratic", {}, "quadratic_d10_cond100", 10),
    ("quadratic", {"dim": 5, "cond": 1000, "noise_std": 0.1}, "quadratic_d5_cond1000_noise0.1", 5),
    ("logreg", {}, "logreg_d20_n1000_v500_b64", 21),
    ("mlp_digits", {}, "mlp_digits_64x32x10_b128", 2410),
    ("mlp_digits", {"hidden_sizes": (16, 8), "batch_size": 32}, "mlp_digits_64x16x8x10_b32", 64 * 16 + 16 + 16 * 8 + 8 + 8 * 10 + 10),
    ("conv_digits", {}, "conv_digits_3x3x8_b128", 810),
    ("mlp_diabetes", {}, "mlp_diabetes_10x32x1_b32", 10 * 32 + 32 + 32 + 1),
    ("matrix_factorization", {}, "matrix_factorization_50x50_r3_obs1000_b64", (50 + 50) * 3),
    ("cifar10_conv", CIFAR_TINY, "cifar10_conv_3x3x4_3x3x8_b8_n80_v30", 108 + 4 + 288 + 8 + 2880 + 10),
    ("char_lm", {}, "char_lm_lstm_e16_h48_t24_b32", 37 * 16 + 16 * 192 + 48 * 192 + 192 + 48 * 37 + 37),
]
NEURAL = ["logreg", "mlp_digits", "conv_digits"]


@pytest.fixture(autouse=True, scope="module")
def cifar10_files(tmp_path_factory):
    """$NOS_DATA_DIR with generated CIFAR-10 files (never the real ones), as many records as the defaults read."""
    root = tmp_path_factory.mktemp("nos_data")
    write_cifar10(root, counts=(5000,), test_count=1000)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NOS_DATA_DIR", str(root))
        yield root


def lanes(task, seeds):
    return task.init_params(tf.constant(seeds, tf.int32))


# --- the catalog -------------------------------------------------------------------------------

def test_builtin_names_are_registered():
    assert set(TASKS) <= set(registry.registered_tasks())
    assert {kind for kind, *_ in EXPECTED} == set(TASKS)


def test_suites_name_builtin_tasks_with_default_steps():
    from nos.benchmark.deepobs import DEFAULT_STEPS, SUITES

    for suite, kinds in SUITES.items():
        assert set(kinds) <= set(TASKS) and set(kinds) <= set(DEFAULT_STEPS), suite
    assert set(TASKS) - set(SUITES["all"]) == {"cifar10_conv"}  # it needs data on disk: its own suite
    assert SUITES["cifar"] == ("cifar10_conv",)


@pytest.mark.parametrize("kind, config, name, num_params", EXPECTED, ids=[e[2] for e in EXPECTED])
def test_check_task_passes(kind, config, name, num_params):
    task = get_task(kind, **config)
    configuration = re.sub(r"_data[0-9a-f]{8}$", "", task.name)  # a data set's digest, where the task reads files
    assert (configuration, task.num_params, task.metric, task.kind) == (name, num_params, "loss", kind)
    assert get_task(task.kind, **task.config).name == task.name
    check_task(task)


class MixingLanes(Rosenbrock):
    def train_loss(self, params, step, seeds):
        loss = super().train_loss(params, step, seeds)
        return loss + 1e-3 * tf.reduce_mean(loss)


class NaNLeak(Rosenbrock):
    def train_loss(self, params, step, seeds):
        loss = super().train_loss(params, step, seeds)
        return loss + 0.0 * tf.reduce_mean(loss)


class WrongShape(Rosenbrock):
    def train_loss(self, params, step, seeds):
        return super().train_loss(params, step, seeds)[:, None]


class NotCompilable(Rosenbrock):
    def train_loss(self, params, step, seeds):
        host = tf.numpy_function(lambda p: p[:, 0] * 0, [tf.stop_gradient(params)], tf.float32, stateful=False)
        return super().train_loss(params, step, seeds) + tf.reshape(host, [-1])


class NotAPermutation(Layout):
    order = np.array([0, 0])


class OrderIgnored(Layout):
    order = np.array([1, 0])  # the reference loss reads (y, x) as if it were (x, y)


class SharedNaNLeak(Layout):
    def loss(self, params, step, seeds, *, shared_batch=False):
        loss = super().loss(params, step, seeds, shared_batch=shared_batch)
        return loss + 0.0 * tf.reduce_mean(loss) if shared_batch else loss


@pytest.mark.parametrize("broken, check", [
    (MixingLanes, "train_loss lane independence"),
    (NaNLeak, "diverged lane isolation"),
    (WrongShape, "train_loss shape/dtype/finite"),
    (NotCompilable, "XLA compile"),
])
def test_check_task_names_the_failed_check(broken, check):
    with pytest.raises(AssertionError, match=f"\\[{check}\\]"):
        check_task(broken())


@pytest.mark.parametrize("broken, check", [
    (NotAPermutation, "layout order"),
    (OrderIgnored, "layout agrees with train_loss"),
    (SharedNaNLeak, "shared batch lane isolation"),
])
def test_check_task_names_the_failed_layout_check(broken, check):
    with pytest.raises(AssertionError, match=f"\\[{check}\\]"):
        check_task(Rosenbrock(), layout=broken(Rosenbrock()))


# --- registry ----------------------------------------------------------------------------------

@pytest.mark.parametrize("call, pieces", [
    (lambda: get_task("mlp"), ["unknown task 'mlp'", "mlp_digits", "rosenbrock"]),
    (lambda: get_task("mlp_digits", hidden=(8,)), ["hidden", "batch_size", "hidden_sizes", "split_seed"]),
    (lambda: get_task("rosenbrock", dim=3), ["dim", "(none)"]),
    (lambda: get_task("mlp_digits", batch_size=0), ["batch_size must be a positive int, got 0"]),
    (lambda: get_task("mlp_digits", hidden_sizes=32), ["hidden_sizes must be a sequence"]),
    (lambda: get_task("mlp_digits", hidden_sizes="32"), ["hidden_sizes must be a sequence of positive ints, got '32'"]),
    (lambda: get_task("quadratic", cond=0.5), ["cond must be a number >= 1"]),
    (lambda: register_task("rosenbrock", Rosenbrock), ["already registered"]),
])
def test_bad_requests_raise_one_line_value_errors(call, pieces):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    for piece in pieces:
        assert piece in message


def test_register_task(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    register_task("banana", Rosenbrock)
    task = get_task("banana")
    assert isinstance(task, Task) and task.kind == "banana" and "banana" in registry.registered_tasks()


# --- base class --------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", TASKS)
def test_unflatten_flatten_and_split_params_agree(kind):
    task = get_task(kind)
    params = lanes(task, [3, 4])
    pieces = task.unflatten(params[1].numpy())
    assert [p.shape for p in pieces] == [tuple(s) for s in task.param_shapes]
    np.testing.assert_array_equal(task.flatten(pieces), params[1])
    for split, piece in zip(task.split_params(params), pieces):
        np.testing.assert_array_equal(split[1], piece)
    with pytest.raises(ValueError, match="unflatten expects shape"):
        task.unflatten(np.zeros(task.num_params + 1))


def test_transposed_kernel_order_transposes_2d_kernels_only():
    order = transposed_kernel_order(((2, 3), (3,), (3, 1)))
    assert order.tolist() == [0, 3, 1, 4, 2, 5, 6, 7, 8, 9, 10, 11]
    task = get_task("mlp_digits", hidden_sizes=(4,))
    params = lanes(task, [1, 2])
    inner = layout_for(task).to_layout(params).numpy()
    w1 = task.unflatten(params[1].numpy())[0]
    np.testing.assert_array_equal(inner[1, :w1.size].reshape(4, 64), w1.T)
    np.testing.assert_array_equal(layout_for(task).from_layout(inner), params)


@pytest.mark.parametrize("outputs", [1, 10])
def test_class_major_losses_are_tf_cross_entropies(outputs):
    generator = np.random.default_rng(outputs)
    z = (generator.standard_normal((3, 16, outputs)) * 30.0).astype(np.float32)  # large: exp would overflow
    y = generator.integers(0, max(outputs, 2), 16).astype(np.int32)
    if outputs == 1:
        expected = tf.nn.sigmoid_cross_entropy_with_logits(labels=np.broadcast_to(y, (3, 16)).astype(np.float32), logits=z[..., 0])
    else:
        expected = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=np.broadcast_to(y, (3, 16)), logits=z)
    major = tf.constant(np.transpose(z, (0, 2, 1)))
    np.testing.assert_allclose(class_major_losses(major, tf.constant(y)), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(class_major_losses(major, tf.constant(np.broadcast_to(y, (3, 16)))), expected,
                               rtol=1e-5, atol=1e-5)


def test_analytic_tasks_have_no_keras_model():
    with pytest.raises(NotImplementedError, match="analytic"):
        get_task("rosenbrock").keras_model()


# --- analytic tasks ----------------------------------------------------------------------------

def test_rosenbrock_starts_at_the_articles_point():
    task = get_task("rosenbrock")
    params = lanes(task, [0, 1, 7])
    np.testing.assert_array_equal(params, np.float32([[-2.39, -1.57]] * 3))
    x, y = -2.39, -1.57
    exact = (1 - x) ** 2 + 100 * (y - x * x) ** 2  # 5314.390141
    assert exact == pytest.approx(5314.390141, abs=1e-6)
    assert task.validation(params)["loss"].numpy() == pytest.approx([exact] * 3, rel=1e-6)


def test_rosenbrock_gradient_is_analytic():
    from nos.engine.tasks.check import train_loss_and_grad

    points = np.float32([[-2.39, -1.57], [1.0, 1.0], [0.3, -0.7], [1.5, 2.0]])
    x, y = points[:, 0].astype(np.float64), points[:, 1].astype(np.float64)
    expected = np.stack([-2 * (1 - x) - 400 * x * (y - x**2), 200 * (y - x**2)], axis=1)
    _, grad = train_loss_and_grad(get_task("rosenbrock"), tf.constant(points), tf.constant(0), tf.zeros(4, tf.int32))
    np.testing.assert_allclose(grad, expected, rtol=1e-5, atol=1e-4)


def test_quadratic_curvatures_and_noise():
    from nos.engine.tasks.check import train_loss_and_grad

    task = get_task("quadratic", dim=4, cond=1000.0)
    np.testing.assert_allclose(task.curvatures, [1, 10, 100, 1000], rtol=1e-6)
    params = lanes(task, [0, 1])
    _, grad = train_loss_and_grad(task, params, tf.constant(0), tf.constant([0, 1]))
    np.testing.assert_allclose(grad, params * task.curvatures, rtol=1e-6)
    noisy = get_task("quadratic", dim=4, cond=1000.0, noise_std=0.5)
    grads = [train_loss_and_grad(noisy, params, tf.constant(s), tf.constant([0, 1]))[1] for s in range(200)]
    noise = np.stack(grads) - (params * task.curvatures).numpy()
    assert abs(noise.mean()) < 0.05 and noise.std() == pytest.approx(0.5, rel=0.1)
    np.testing.assert_array_equal(noisy.validation(params)["loss"], task.validation(params)["loss"])


# --- supervised tasks --------------------------------------------------------------------------

def test_digits_split_is_fixed_and_stratified():
    data = get_task("mlp_digits").data
    assert data.x_train.shape == (1437, 64) and data.x_val.shape == (360, 64)
    assert data.x_train.min() == 0.0 and data.x_train.max() == 1.0
    assert np.bincount(data.y_val).min() >= 35
    np.testing.assert_array_equal(get_task("conv_digits").data.y_val, data.y_val)


def test_minibatches_depend_on_seed_and_step_only():
    task = get_task("mlp_digits")
    index = task.minibatch_indices(tf.constant(5), tf.constant([1, 2, 1]))
    np.testing.assert_array_equal(index[0], index[2])
    assert not np.array_equal(index[0], index[1])
    np.testing.assert_array_equal(task.minibatch_indices(tf.constant(5), tf.constant([2], tf.int64))[0], index[1])
    assert not np.array_equal(task.minibatch_indices(tf.constant(6), tf.constant([1]))[0], index[0])
    compiled = tf.function(task.minibatch_indices, jit_compile=True)(tf.constant(5), tf.constant([1, 2, 1]))
    np.testing.assert_array_equal(compiled, index)
    many = task.minibatch_indices(tf.constant(0), tf.range(100)).numpy()
    assert many.min() == 0 and many.max() == 1436 and len(np.unique(many)) > 1400


@pytest.mark.parametrize("kind", NEURAL + ["mlp_diabetes", "cifar10_conv"])
def test_glorot_init_like_keras(kind):
    task = get_task(kind)
    for piece, shape in zip(task.unflatten(lanes(task, [9])[0].numpy()), task.param_shapes):
        if len(shape) == 1:
            np.testing.assert_array_equal(piece, 0.0)
        else:
            receptive = int(np.prod(shape[:-2]))
            limit = np.sqrt(6.0 / (receptive * (shape[-2] + shape[-1])))
            assert np.abs(piece).max() <= limit and np.abs(piece).max() > 0.8 * limit


@pytest.mark.parametrize("kind", NEURAL)
def test_validation_matches_keras_model(kind):
    task = get_task(kind)
    params = lanes(task, [0, 1])
    params += 0.05 * tf.sin(tf.reshape(tf.range(2 * task.num_params, dtype=tf.float32), params.shape))
    ours = task.validation(params)
    model = task.keras_model()
    for lane in range(2):
        model.set_weights(task.unflatten(params[lane].numpy()))
        logits = model(task.data.x_val)
        loss = float(task.keras_loss()(task.data.y_val, logits))
        if task.num_outputs == 1:
            predicted = (logits.numpy()[:, 0] > 0).astype(np.int32)
        else:
            predicted = logits.numpy().argmax(axis=1)
        assert float(ours["loss"][lane]) == pytest.approx(loss, rel=1e-5, abs=1e-6)
        assert float(ours["accuracy"][lane]) == pytest.approx(np.mean(predicted == task.data.y_val), abs=1e-6)


@pytest.mark.parametrize("kind", ["mlp_digits", "conv_digits"])
def test_train_loss_matches_keras_on_the_same_minibatch(kind):
    task = get_task(kind, batch_size=16)
    params = lanes(task, [4])
    index = task.minibatch_indices(tf.constant(2), tf.constant([4]))[0].numpy()
    model = task.keras_model()
    model.set_weights(task.unflatten(params[0].numpy()))
    expected = float(task.keras_loss()(task.data.y_train[index], model(task.data.x_train[index])))
    assert float(task.train_loss(params, tf.constant(2), tf.constant([4]))[0]) == pytest.approx(expected, rel=1e-5)


def test_sgd_trains_mlp_digits_and_a_diverged_lane_stays_alone():
    task = get_task("mlp_digits")
    seeds = tf.constant([0, 1, 2])

    @tf.function(jit_compile=True)
    def train(params):
        for step in tf.range(300):
            with tf.GradientTape() as tape:
                tape.watch(params)
                loss = tf.reduce_sum(task.train_loss(params, step, seeds))
            params -= 0.5 * tape.gradient(loss, params)
        return params

    start = task.init_params(seeds)
    trained = train(start)
    accuracy = task.validation(trained)["accuracy"].numpy()
    assert np.all(accuracy > 0.85), accuracy
    poisoned = train(tf.tensor_scatter_nd_update(start, [[1]], tf.fill([1, task.num_params], np.nan)))
    assert np.isnan(poisoned[1]).all()
    np.testing.assert_array_equal(tf.gather(poisoned, [0, 2]), tf.gather(trained, [0, 2]))
