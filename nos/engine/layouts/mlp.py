"""The MLP tasks' layout: kernels transposed, activations feature-major.

Lane k holds W_l^T [out, in] (``order`` = `transposed_kernel_order`) and activations h^T
[K, width, B], so every matmul of a step is canonical:

    shared x [B, d_0]:  H1^T = reshape(W1^T, [K*d_1, d_0]) @ x^T    one 2-D matmul for all lanes
    per-lane x [K, B, d_0]:  H1^T[k] = W1^T[k] @ x[k]^T             batched
    later layers:  H^T[k] = W^T[k] @ relu(H_prev^T[k]) + b[k]       batched, [K, out, in] x [K, in, B]

and their gradients, dW1^T = dH1^T @ x (one [K*d_1, B] x [B, d_0] matmul with a shared batch)
and dW^T[k] = dH^T[k] @ H_prev[k], come out in the same layout with no transposes. Each row of a
2-D product reads only its own lane's kernel row, so lanes stay independent.
"""

import math

import numpy as np
import tensorflow as tf

from nos.engine.layouts.supervised import SupervisedLayout


class MLPLayout(SupervisedLayout):
    """`nos.engine.tasks.mlp.MLP` in transposed-kernel order (module docstring)."""

    def __init__(self, task):
        super().__init__(task)
        self.order = transposed_kernel_order(task.param_shapes)

    def logits(self, params, x):
        shapes = self.task.param_shapes
        pieces = tf.split(params, self.task.param_sizes, axis=1)
        kernels = [tf.reshape(piece, (-1, fan_out, fan_in)) for piece, (fan_in, fan_out) in zip(pieces[::2], shapes[::2])]
        first = kernels[0]
        if x.shape.rank == 2:  # one [K*h1, in] x [in, B] matmul for all lanes
            flat = tf.matmul(tf.reshape(first, (-1, first.shape[2])), x, transpose_b=True)
            h = tf.reshape(flat, (tf.shape(params)[0], first.shape[1], -1))
        else:
            h = tf.matmul(first, x, transpose_b=True)
        h = h + pieces[1][:, :, None]
        for kernel, bias in zip(kernels[1:], pieces[3::2]):
            h = tf.matmul(kernel, tf.nn.relu(h)) + bias[:, :, None]
        return h


def transposed_kernel_order(param_shapes) -> np.ndarray:
    """int32 [P]: the flat order with every 2-D kernel (fan_in, fan_out) stored as (fan_out, fan_in).

    Entry j is the flat index held at position j; other tensors (biases) keep their order.
    """
    order, offset = [], 0
    for shape in param_shapes:
        size = math.prod(shape)
        index = np.arange(offset, offset + size)
        order.append(index.reshape(shape).T.ravel() if len(shape) == 2 else index)
        offset += size
    return np.concatenate(order).astype(np.int32)
