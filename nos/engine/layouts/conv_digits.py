"""The conv_digits layout: one window-gathered patch matrix, feature-major activations.

Lane k holds the kernel as K^T [F, 9] and the dense kernel as W^T [10, 9F] with its inputs
ordered (filter, pooled position) (``order`` = `training_order`); activations are feature-major
with the batch minor. The patches are gathered once per step, ordered (tap, pool-window member,
pooled position, example): [9, 4·9·B] for a shared minibatch, so

    conv_w = reshape(K^T, [K·F, 9]) @ patches_w     per window member w: one 2-D matmul, [K, F, 9B]
    h      = relu(max_w conv_w + bias)              [K, F, 9B] = [K, 9F, B]
    z^T    = W^T[k] @ h[k] + b                      batched, class-major [K, 10, B]

The window maximum is the same chain of maxima as the task's ``_max_pool``, so ties go the same way.
"""

import numpy as np
import tensorflow as tf

from nos.engine.layouts.supervised import SupervisedLayout
from nos.engine.tasks.conv_digits import KERNEL, NUM_CLASSES, POOL, POOL_SIDE, SIDE


class ConvDigitsLayout(SupervisedLayout):
    """`nos.engine.tasks.conv_digits.ConvDigits` as window-gathered matmuls (module docstring)."""

    def __init__(self, task):
        super().__init__(task)
        self.order = training_order(task.filters)

    def logits(self, params, x):
        filters = self.task.filters
        kernel, bias, w_out, b_out = tf.split(params, self.task.param_sizes, axis=1)
        lanes, taps = tf.shape(params)[0], KERNEL * KERNEL
        index = tf.constant(WINDOW_PATCHES)
        if x.shape.rank == 2:  # a [K·F, 9] x [9, 9·B] matmul per window member, for all lanes
            patches = tf.gather(tf.transpose(x), index)  # [9, 4, 9, B]
            kernel = tf.reshape(kernel, (-1, taps))
            member = [tf.matmul(kernel, tf.reshape(patches[:, w], (taps, -1))) for w in range(POOL * POOL)]
        else:
            patches = tf.gather(x, index, axis=2)  # [K, B, 9, 4, 9]
            kernel = tf.reshape(kernel, (-1, filters, taps))
            member = [tf.matmul(kernel, tf.reshape(tf.transpose(patches[:, :, :, w], (0, 2, 3, 1)), (lanes, taps, -1)))
                      for w in range(POOL * POOL)]
        member = [tf.reshape(m, (lanes, filters, -1)) for m in member]  # (di, dj) at w = 2 di + dj
        pooled = tf.maximum(tf.maximum(member[0], member[2]), tf.maximum(member[1], member[3]))
        h = tf.nn.relu(pooled + bias[:, :, None])
        h = tf.reshape(h, (lanes, POOL_SIDE * POOL_SIDE * filters, -1))
        return tf.matmul(tf.reshape(w_out, (lanes, NUM_CLASSES, -1)), h) + b_out[:, :, None]


def window_patches() -> np.ndarray:
    """int32 [9, 4, 9]: the pixel read by tap (ti, tj) for window member (di, dj) at pooled position (pi, pj)."""
    index = np.zeros((KERNEL * KERNEL, POOL * POOL, POOL_SIDE * POOL_SIDE), np.int32)
    for ti, tj, di, dj, pi, pj in np.ndindex(KERNEL, KERNEL, POOL, POOL, POOL_SIDE, POOL_SIDE):
        row, col = POOL * pi + di + ti, POOL * pj + dj + tj
        index[KERNEL * ti + tj, POOL * di + dj, POOL_SIDE * pi + pj] = row * SIDE + col
    return index


WINDOW_PATCHES = window_patches()


def training_order(filters: int) -> np.ndarray:
    """int32 [P]: K^T [F, 9] (tap-major flat kernel transposed), bias, W^T [10, (filter, position)], b."""
    taps, positions = KERNEL * KERNEL, POOL_SIDE * POOL_SIDE
    kernel = np.arange(taps * filters).reshape(taps, filters).T.ravel()
    bias = taps * filters + np.arange(filters)
    start = taps * filters + filters
    dense = np.arange(positions * filters * NUM_CLASSES).reshape(positions, filters, NUM_CLASSES)  # Keras flatten order
    dense = start + dense.transpose(2, 1, 0).ravel()
    out = start + positions * filters * NUM_CLASSES + np.arange(NUM_CLASSES)
    return np.concatenate([kernel, bias, dense, out]).astype(np.int32)
