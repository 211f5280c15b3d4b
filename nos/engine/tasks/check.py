"""``check_task``: a public smoke test of the Task contract (in the style of gymnasium's env_checker)."""

import functools

import numpy as np
import tensorflow as tf

SEEDS = (11, 22, 11)
STEP = 3


def _fail(task, check, detail):
    raise AssertionError(f"check_task({getattr(task, 'name', task)!r}) failed [{check}]: {detail}")


def _expect(condition, task, check, detail):
    if not condition:
        _fail(task, check, detail)


def check_attributes(task):
    """name, num_params and metric exist and have sensible values."""
    _expect(isinstance(getattr(task, "name", None), str) and task.name, task, "name", "name must be a non-empty str")
    p = getattr(task, "num_params", None)
    _expect(isinstance(p, int) and p > 0, task, "num_params", f"num_params must be a positive int, got {p!r}")
    metric = getattr(task, "metric", None)
    _expect(isinstance(metric, str), task, "metric", f"metric must be a str, got {metric!r}")


def check_tensor(task, check, value, shape, dtype=tf.float32):
    """``value`` is a finite tensor of ``shape`` and ``dtype``."""
    _expect(tf.is_tensor(value), task, check, f"expected a tensor, got {type(value).__name__}")
    _expect(value.dtype == dtype, task, check, f"expected dtype {dtype.name}, got {value.dtype.name}")
    _expect(tuple(value.shape) == tuple(shape), task, check, f"expected shape {tuple(shape)}, got {tuple(value.shape)}")
    if dtype.is_floating:
        _expect(bool(tf.reduce_all(tf.math.is_finite(value))), task, check, "contains non-finite values")


def check_init_params(task, seeds):
    """Shapes, dtype, determinism in the seed, and that a row depends on its own seed only."""
    k, p = len(seeds), task.num_params
    params = task.init_params(tf.constant(seeds, tf.int32))
    check_tensor(task, "init_params shape/dtype", params, (k, p))
    again = task.init_params(tf.constant(seeds, tf.int32))
    _expect(np.array_equal(params, again), task, "init_params determinism", "same seeds gave different parameters")
    wide = task.init_params(tf.constant(seeds, tf.int64))
    _expect(np.array_equal(params, wide), task, "init_params seed dtype", "int64 seeds differ from int32 seeds")
    alone = task.init_params(tf.constant(seeds[1:2], tf.int32))
    _expect(np.array_equal(params[1:2], alone), task, "init_params lane independence",
            "a lane's initial row changed with the other lanes' seeds")
    if seeds[0] == seeds[2]:
        _expect(np.array_equal(params[0], params[2]), task, "init_params determinism",
                "two lanes with the same seed got different rows")
    return params


def check_train_loss(task, params, seeds):
    """Shape, dtype, finiteness, determinism and per-lane independence of ``train_loss``."""
    seeds_t = tf.constant(seeds, tf.int32)
    step = tf.constant(STEP, tf.int32)
    loss = task.train_loss(params, step, seeds_t)
    check_tensor(task, "train_loss shape/dtype/finite", loss, (len(seeds),))
    again = task.train_loss(params, step, seeds_t)
    _expect(np.array_equal(loss, again), task, "train_loss determinism", "same (params, step, seeds) gave different losses")
    moved = tf.tensor_scatter_nd_add(params, [[1]], 0.5 + tf.abs(params[1:2]))
    loss_moved = task.train_loss(moved, step, seeds_t)
    _expect(np.array_equal(loss[0], loss_moved[0]) and np.array_equal(loss[2], loss_moved[2]), task,
            "train_loss lane independence", "changing lane 1's parameters changed another lane's loss")
    _expect(not np.array_equal(loss[1], loss_moved[1]), task, "train_loss depends on params",
            "changing lane 1's parameters did not change its loss")
    reseeded = task.train_loss(params, step, tf.constant([seeds[0], seeds[1] + 1, seeds[2]], tf.int32))
    _expect(np.array_equal(loss[0], reseeded[0]), task, "train_loss lane independence",
            "changing lane 1's seed changed lane 0's loss")
    alone = task.train_loss(params[1:2], step, seeds_t[1:2])
    _expect(np.allclose(loss[1:2], alone, rtol=1e-6, atol=0.0), task, "train_loss lane independence",
            "a lane's loss changed when computed without the other lanes")
    return loss


def train_loss_and_grad(task, params, step, seeds):
    """The engine's pattern: per-lane losses and d(sum of losses)/d(params)."""
    with tf.GradientTape() as tape:
        tape.watch(params)
        loss = task.train_loss(params, step, seeds)
        total = tf.reduce_sum(loss)
    return loss, tape.gradient(total, params)


def check_gradients(task, params, seeds):
    """Gradients of the summed loss are finite, non-zero in every lane, and do not cross lanes.

    A lane whose parameters are NaN (a diverged lane) must leave every other
    lane's loss and gradient bit-identical.
    """
    seeds_t = tf.constant(seeds, tf.int32)
    step = tf.constant(STEP, tf.int32)
    _, grad = train_loss_and_grad(task, params, step, seeds_t)
    _expect(grad is not None, task, "gradient", "train_loss is not differentiable in params (gradient is None)")
    check_tensor(task, "gradient shape/dtype/finite", grad, params.shape)
    for lane in range(len(seeds)):
        _expect(bool(tf.reduce_any(grad[lane] != 0.0)), task, "gradient non-zero", f"lane {lane}'s gradient is all zeros")
    poisoned = tf.tensor_scatter_nd_update(params, [[1]], tf.fill([1, params.shape[1]], float("nan")))
    poisoned_loss, poisoned_grad = train_loss_and_grad(task, poisoned, step, seeds_t)
    _expect(np.array_equal(tf.gather(poisoned_grad, [0, 2]), tf.gather(grad, [0, 2]))
            and np.array_equal(tf.gather(poisoned_loss, [0, 2]), tf.gather(task.train_loss(params, step, seeds_t), [0, 2])),
            task, "diverged lane isolation", "NaN parameters in lane 1 changed another lane's loss or gradient")
    with tf.GradientTape() as tape:
        tape.watch(params)
        lane0 = task.train_loss(params, step, seeds_t)[0]
    cross = tape.gradient(lane0, params)
    _expect(cross is not None and not bool(tf.reduce_any(cross[1:] != 0.0)), task, "gradient lane independence",
            "lane 0's loss has a non-zero gradient with respect to another lane's parameters")
    return grad


def _layout_loss_and_grad(layout, params, step, seeds, shared_batch):
    """The layout's loss and its gradient, from and back to flat parameters."""
    with tf.GradientTape() as tape:
        inner = layout.to_layout(params)
        tape.watch(inner)
        loss = layout.loss(inner, step, seeds, shared_batch=shared_batch)
        total = tf.reduce_sum(loss)
    grad = tape.gradient(total, inner)
    return loss, None if grad is None else layout.from_layout(grad)


def check_layout(task, layout, params, seeds):
    """The layout, the compiled loop's entry (see `nos.engine.layouts.base`), computes ``train_loss``.

    ``layout.order`` is None or a permutation of the P columns that ``to_layout`` and
    ``from_layout`` apply and undo; with per-lane minibatches, and with every lane on
    seed ``seeds[0]`` and ``shared_batch=True``, the losses and (mapped back) gradients match
    ``train_loss``'s, eagerly and under XLA; and in the shared path NaN parameters in lane 1
    leave lanes 0 and 2 bit-identical.
    """
    order = layout.order
    if order is not None:
        _expect(np.array_equal(np.sort(np.asarray(order)), np.arange(task.num_params)), task, "layout order",
                "layout.order is not a permutation of the parameter indices")
    _expect(np.array_equal(layout.from_layout(layout.to_layout(params)), params), task,
            "layout order", "from_layout does not undo to_layout")
    step = tf.constant(STEP, tf.int32)
    shared = (seeds[0],) * len(seeds)
    compiled = tf.function(functools.partial(_layout_loss_and_grad, layout), jit_compile=True)
    for lane_seeds, shared_batch in ((seeds, False), (shared, True), (shared, False)):
        seeds_t = tf.constant(lane_seeds, tf.int32)
        expected_loss, expected_grad = train_loss_and_grad(task, params, step, seeds_t)
        scale = 1e-4 * (1.0 + float(tf.reduce_max(tf.abs(expected_grad))))
        runs = [("eager", _layout_loss_and_grad(layout, params, step, seeds_t, shared_batch))]
        try:
            runs.append(("XLA", compiled(params, step, seeds_t, shared_batch)))
        except Exception as error:
            _fail(task, "XLA compile", f"layout loss: {type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
        for where, (loss, grad) in runs:
            what = f"{where}, shared_batch={shared_batch}, seeds {lane_seeds}"
            _expect(grad is not None, task, "layout agrees with train_loss", f"{what}: no gradient")
            _expect(np.allclose(loss, expected_loss, rtol=1e-5, atol=1e-6) and np.allclose(grad, expected_grad, rtol=1e-3, atol=scale),
                    task, "layout agrees with train_loss", f"{what}: losses or gradients differ")
    seeds_t = tf.constant(shared, tf.int32)
    loss, grad = _layout_loss_and_grad(layout, params, step, seeds_t, True)
    poisoned = tf.tensor_scatter_nd_update(params, [[1]], tf.fill([1, params.shape[1]], float("nan")))
    poisoned_loss, poisoned_grad = _layout_loss_and_grad(layout, poisoned, step, seeds_t, True)
    _expect(np.array_equal(tf.gather(poisoned_loss, [0, 2]), tf.gather(loss, [0, 2]))
            and np.array_equal(tf.gather(poisoned_grad, [0, 2]), tf.gather(grad, [0, 2])), task,
            "shared batch lane isolation", "NaN parameters in lane 1 changed another lane's shared-batch loss or gradient")


def check_validation(task, params):
    """``validation`` returns float32 [K] tensors including "loss" and ``task.metric``; lanes are independent."""
    k = params.shape[0]
    metrics = task.validation(params)
    _expect(isinstance(metrics, dict), task, "validation type", f"expected a dict, got {type(metrics).__name__}")
    for key in {"loss", task.metric}:
        _expect(key in metrics, task, "validation keys", f"missing key {key!r}; got {sorted(metrics)}")
    for key, value in metrics.items():
        check_tensor(task, f"validation[{key!r}] shape/dtype/finite", value, (k,))
    moved = task.validation(tf.tensor_scatter_nd_add(params, [[1]], 0.5 + tf.abs(params[1:2])))
    _expect(np.array_equal(metrics["loss"][0], moved["loss"][0]), task, "validation lane independence",
            "changing lane 1's parameters changed lane 0's validation loss")
    return metrics


def check_compiled(task, params, seeds, eager_loss, eager_grad, eager_metrics):
    """``train_loss``+gradient and ``validation`` run under tf.function(jit_compile=True) and agree with eager."""
    seeds_t = tf.constant(seeds, tf.int32)
    try:
        loss, grad = tf.function(functools.partial(train_loss_and_grad, task), jit_compile=True)(
            params, tf.constant(STEP, tf.int32), seeds_t)
        metrics = tf.function(task.validation, jit_compile=True)(params)
    except Exception as error:
        _fail(task, "XLA compile", f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
    scale = 1e-4 * (1.0 + float(tf.reduce_max(tf.abs(eager_grad))))
    _expect(np.allclose(loss, eager_loss, rtol=1e-4, atol=1e-5), task, "XLA agrees with eager", "train_loss differs")
    _expect(np.allclose(grad, eager_grad, rtol=1e-3, atol=scale), task, "XLA agrees with eager", "gradient differs")
    _expect(np.allclose(metrics["loss"], eager_metrics["loss"], rtol=1e-4, atol=1e-5), task,
            "XLA agrees with eager", "validation loss differs")


def check_unflatten(task, params):
    """``unflatten`` of one row gives arrays whose sizes add up to P, matching the Keras model when there is one."""
    row = np.asarray(params[0])
    pieces = task.unflatten(row)
    total = sum(np.size(piece) for piece in pieces)
    _expect(total == task.num_params, task, "unflatten", f"pieces hold {total} values, expected {task.num_params}")
    _expect(np.array_equal(np.concatenate([np.ravel(piece) for piece in pieces]), row), task, "unflatten",
            "concatenating the pieces does not give back the row")
    try:
        model = task.keras_model()
    except NotImplementedError:
        return
    shapes = [tuple(w.shape) for w in model.get_weights()]
    _expect(shapes == [tuple(np.shape(piece)) for piece in pieces], task, "keras_model weights",
            f"keras weights {shapes} do not match unflatten shapes")


def check_task(task, *, seeds=SEEDS, layout=None) -> None:
    """Run every check on ``task``; raise AssertionError naming the first failed check.

    Checks: attributes; ``init_params`` shape, dtype, determinism in the seed and
    independence of other lanes; ``train_loss`` shape, dtype, finiteness,
    determinism, per-lane independence (changing lane 1's parameters or seed
    leaves lane 0's loss unchanged); gradients finite, non-zero, not crossing
    lanes, and untouched by a NaN lane; the layout the interpreter trains it through (``layout``,
    default `nos.engine.layouts.layout_for(task)`: its family's adapter, else the reference) agreeing
    with ``train_loss`` in losses and gradients (`check_layout`); ``validation`` keys, shapes and independence; ``train_loss`` with its
    gradient and ``validation`` under ``tf.function(jit_compile=True)`` agreeing
    with eager; ``unflatten`` and ``keras_model`` consistency. ``seeds`` must
    have three entries, the first and last equal.
    """
    from nos.engine.layouts import layout_for  # layouts import the task modules, so not at import time

    if len(seeds) != 3 or seeds[0] != seeds[2] or seeds[0] == seeds[1]:
        raise ValueError(f"check_task: seeds must look like (a, b, a) with a != b, got {seeds!r}")
    check_attributes(task)
    params = check_init_params(task, seeds)
    params = params + 0.01 * tf.reshape(tf.sin(tf.range(params.shape[0] * params.shape[1], dtype=tf.float32)), params.shape)
    loss = check_train_loss(task, params, seeds)
    grad = check_gradients(task, params, seeds)
    check_layout(task, layout_for(task) if layout is None else layout, params, seeds)
    metrics = check_validation(task, params)
    check_compiled(task, params, seeds, loss, grad, metrics)
    check_unflatten(task, params)
