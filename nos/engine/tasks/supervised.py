"""Shared machinery of the supervised tasks (classifiers, regressors): constant data, minibatches, losses."""

import abc
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from nos.engine.tasks import rng
from nos.engine.tasks.base import Task, check_positive_int


class Dataset(NamedTuple):
    """A fixed in-memory split: float32 features; int32 labels [N] (classification) or float32 targets
    [N, num_outputs] (regression)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray


class SupervisedTask(Task):
    """A classifier (or, with ``regression = True``, a regressor) trained by minibatches drawn from
    a fixed training set.

    Minibatches are sampled uniformly *with replacement*: at step s lane k uses
    the B training examples with indices

        i_kb = bits(key(seeds[k], STREAM_BATCH, s), b) mod N_train,  b = 0..B-1

    (see ``nos.engine.tasks.rng``), gathered from a constant tensor inside the compiled
    function. The loss of a lane is the mean over its minibatch of

        softmax cross-entropy  -log softmax(z)_y      if num_outputs > 1,
        sigmoid cross-entropy  softplus(z) - y z      if num_outputs == 1,
        squared error          mean_o (z_o - y_o)^2   if regression (targets y [N, num_outputs]),

    where z are the model's outputs (logits for a classifier). ``validation`` averages the same
    loss over the whole validation set, and adds "accuracy" for a classifier.

    Its fast shared-batch path is `nos.engine.layouts.supervised.SupervisedLayout`, in class-major
    logits with the losses `class_major_losses` / `class_major_squared_errors` below.

    Subclasses set ``param_shapes``, ``num_outputs`` and implement ``logits`` and
    ``keras_model`` (logits out, no final activation).
    """

    metric = "loss"
    num_outputs: int
    regression = False

    def __init__(self, data: Dataset, batch_size: int):
        self.data = data
        self.batch_size = check_positive_int(self.kind, "batch_size", batch_size)
        self._x_train = tf.constant(data.x_train)
        self._y_train = tf.constant(data.y_train)
        self._x_val = tf.constant(data.x_val)
        self._y_val = tf.constant(data.y_val)

    @abc.abstractmethod
    def logits(self, params, x) -> tf.Tensor:
        """params [K, P]; x per lane [K, B, *features] or shared [B, *features] -> [K, B, num_outputs]."""

    def minibatch_indices(self, step, seeds) -> tf.Tensor:
        """int32 [K, batch_size]: training-set indices of each lane's minibatch at ``step``."""
        keys = rng.lane_keys(seeds, rng.STREAM_BATCH, step)
        return rng.indices(keys, self.batch_size, self.data.x_train.shape[0])

    def training_examples(self, index) -> tuple:
        """(x, y): the training examples at int32 ``index`` (any shape), features then labels or targets."""
        return tf.gather(self._x_train, index), tf.gather(self._y_train, index)

    def train_loss(self, params, step, seeds):
        x, y = self.training_examples(self.minibatch_indices(step, seeds))
        return tf.reduce_mean(self._losses(self.logits(params, x), y), axis=1)

    def validation(self, params):
        z = self.logits(params, self._x_val)
        if self.regression:
            return {"loss": tf.reduce_mean(self._losses(z, self._y_val), axis=1)}
        y = tf.broadcast_to(self._y_val, tf.shape(z)[:2])
        if self.num_outputs == 1:
            correct = tf.equal(tf.cast(z[..., 0] > 0.0, tf.int32), y)
        else:
            correct = tf.equal(tf.argmax(z, axis=-1, output_type=tf.int32), y)
        return {
            "loss": tf.reduce_mean(self._losses(z, y), axis=1),
            "accuracy": tf.reduce_mean(tf.cast(correct, tf.float32), axis=1),
        }

    def _losses(self, z, y):
        if self.regression:  # z [K, B, O], y [B, O] or [K, B, O]
            return tf.reduce_mean(tf.square(z - y), axis=-1)
        if self.num_outputs == 1:
            return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(y, tf.float32), logits=z[..., 0])
        return tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=z)

    def keras_loss(self):
        """The Keras loss matching ``train_loss`` for ``keras_model()`` (which outputs logits)."""
        import keras

        if self.regression:
            return keras.losses.MeanSquaredError()
        if self.num_outputs == 1:
            return keras.losses.BinaryCrossentropy(from_logits=True)
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def class_major_losses(z, y):
    """Per-example losses [K, B] of class-major logits z [K, O, B]; labels y [B] or [K, B].

    O = 1: sigmoid cross-entropy softplus(z) - y z. O > 1: softmax cross-entropy
    log sum_c exp(z_c) - z_y, computed as (log sum_c exp(z_c - s)) - (z_y - s) with s the
    (constant) maximum over classes, so nothing overflows; its gradient is softmax(z) - onehot(y).
    """
    if z.shape[1] == 1:
        labels = tf.broadcast_to(tf.cast(y, tf.float32), tf.shape(z[:, 0]))
        return tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=z[:, 0])
    shifted = z - tf.stop_gradient(tf.reduce_max(z, axis=1, keepdims=True))
    onehot = tf.one_hot(y, z.shape[1], axis=y.shape.rank - 1, dtype=z.dtype)
    return tf.math.log(tf.reduce_sum(tf.exp(shifted), axis=1)) - tf.reduce_sum(onehot * shifted, axis=1)


def class_major_squared_errors(z, y):
    """Per-example squared errors [K, B] of class-major outputs z [K, O, B]; targets y [B, O] or [K, B, O].

    mean_o (z_o - y_o)^2, the regression loss of `SupervisedTask`; its gradient is 2 (z - y) / O.
    """
    return tf.reduce_mean(tf.square(z - tf.linalg.matrix_transpose(y)), axis=1)


def dense(h, kernel, bias):
    """Per-lane affine map: h [K, B, in] or shared [B, in], kernel [K, in, out], bias [K, out] -> [K, B, out]."""
    equation = "bi,kio->kbo" if h.shape.rank == 2 else "kbi,kio->kbo"
    return tf.einsum(equation, h, kernel) + bias[:, None, :]
