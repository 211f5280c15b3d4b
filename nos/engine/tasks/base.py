"""The child-task interface: a batched, functional, XLA-compilable training problem.

A task describes one model and its data. The engine trains K independent *lanes*
at once: lane k owns row k of a float32 parameter matrix ``params`` of shape
[K, P] and an integer seed ``seeds[k]``. Every method is a pure function of its
arguments, so all of them can run inside one ``tf.function(jit_compile=True)``
training loop, and lane k's results depend on ``params[k]`` and ``seeds[k]`` only:

    init_params(seeds)              [K]          -> [K, P]   deterministic in each seed
    train_loss(params, step, seeds) [K, P], (), [K] -> [K]   minibatch of lane k at step s
                                                            is a function of (seeds[k], s)
    validation(params)              [K, P]       -> {"loss": [K], ...} on the full set

Because lane losses are independent, ``tape.gradient(tf.reduce_sum(loss), params)``
is the [K, P] matrix of per-lane gradients.

Parameters are stored flat, in the order of ``param_shapes``; for neural tasks
that order is Keras' ``model.get_weights()`` order ([W1, b1, W2, b2, ...], kernels
in Keras' shapes), so ``keras_model().set_weights(task.unflatten(row))`` builds
the same function as the task.

This is the whole contract, and the reference: a task defines its model and data, nothing
about speed. The compiled training loop (`nos.engine.interpreter`) trains a task through its
*layout* (`nos.engine.layouts`): an optional adapter per task family that may hold the columns in
another order or read a minibatch shared by lanes once, checked by ``check_task`` to give
``train_loss``'s losses and gradients. A task with no adapter trains through ``train_loss`` itself.
"""

import abc
import math

import numpy as np
import tensorflow as tf

from nos.limits import MAX_PARAMS, MAX_SIZE


class Task(abc.ABC):
    """Base class of child tasks; subclasses set the attributes below in ``__init__``.

    Attributes:
        name: stable identifier that encodes the configuration, e.g.
            ``"mlp_digits_64x32x10_b128"``; results and caches key on it.
        kind: the registry name the task was built from, e.g. ``"mlp_digits"``.
        config: the keyword arguments that rebuild it: ``get_task(kind, **config)``.
        metric: validation key used as the score, lower is better (``"loss"``).
        param_shapes: natural shapes of the parameter tensors, in flat order.
    """

    name: str
    kind: str
    config: dict
    metric: str = "loss"
    param_shapes: tuple

    @property
    def num_params(self) -> int:
        """P, the length of one lane's flat parameter vector."""
        return sum(self.param_sizes)

    @property
    def param_sizes(self) -> tuple:
        return tuple(math.prod(shape) for shape in self.param_shapes)

    @abc.abstractmethod
    def init_params(self, seeds) -> tf.Tensor:
        """Integer seeds [K] -> float32 initial parameters [K, P]; row k depends on seeds[k] only."""

    @abc.abstractmethod
    def train_loss(self, params, step, seeds) -> tf.Tensor:
        """float32 [K] training loss of each lane at ``step`` (0-based int scalar)."""

    @abc.abstractmethod
    def validation(self, params) -> dict:
        """{"loss": float32 [K], ...} on the full validation set (classifiers add "accuracy")."""

    def split_params(self, params) -> list:
        """[K, P] -> list of [K, *shape] tensors, one per entry of ``param_shapes``."""
        pieces = tf.split(params, self.param_sizes, axis=1)
        return [tf.reshape(piece, (-1, *shape)) for piece, shape in zip(pieces, self.param_shapes)]

    def unflatten(self, flat) -> list:
        """One lane's flat parameters [P] -> list of numpy arrays in ``param_shapes``."""
        flat = np.asarray(flat, dtype=np.float32)
        if flat.shape != (self.num_params,):
            raise ValueError(f"{self.name}: unflatten expects shape ({self.num_params},), got {flat.shape}")
        bounds = np.cumsum((0,) + self.param_sizes)
        return [flat[a:b].reshape(shape) for a, b, shape in zip(bounds[:-1], bounds[1:], self.param_shapes)]

    def flatten(self, weights) -> np.ndarray:
        """Inverse of ``unflatten``: arrays in ``param_shapes`` (e.g. ``model.get_weights()``) -> [P]."""
        weights = [np.asarray(w, dtype=np.float32) for w in weights]
        shapes = tuple(w.shape for w in weights)
        if shapes != tuple(tuple(s) for s in self.param_shapes):
            raise ValueError(f"{self.name}: flatten expects shapes {self.param_shapes}, got {shapes}")
        return np.concatenate([w.reshape(-1) for w in weights])

    def keras_model(self):
        """An uncompiled keras.Sequential computing the same function (neural tasks only)."""
        raise NotImplementedError(f"{self.name} is an analytic task and has no Keras model")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} P={self.num_params}>"


def check_positive_int(task_kind: str, key: str, value, minimum: int = 1, maximum: int = MAX_SIZE) -> int:
    """Return ``value`` as an int if it is an int in [minimum, maximum], else raise a one-line ValueError."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        kind = "a positive int" if minimum == 1 else f"an int >= {minimum}"
        raise ValueError(f"{task_kind}: {key} must be {kind}, got {value!r}")
    if value > maximum:
        raise ValueError(f"{task_kind}: {key} = {value} is above the limit of {maximum:,}")
    return int(value)


def check_param_count(task_kind: str, param_shapes) -> None:
    """Raise a one-line ValueError when the shapes hold more than `MAX_PARAMS` parameters."""
    count = sum(math.prod(shape) for shape in param_shapes)
    if count > MAX_PARAMS:
        raise ValueError(f"{task_kind}: the configuration has {count:,} parameters, above the limit of {MAX_PARAMS:,}")

