"""A ReLU multilayer perceptron over a fixed data set, batched over lanes (the MLP tasks' network)."""

import tensorflow as tf

from nos.engine.tasks import initializers
from nos.engine.tasks.base import check_param_count, check_positive_int, transposed_kernel_order
from nos.engine.tasks.supervised import SupervisedTask, dense


def check_hidden_sizes(task_kind: str, hidden_sizes) -> tuple:
    """``hidden_sizes`` as a tuple of ints, or a one-line ValueError naming the key."""
    if isinstance(hidden_sizes, (int, str)) or not hasattr(hidden_sizes, "__iter__"):
        raise ValueError(f"{task_kind}: hidden_sizes must be a sequence of positive ints, got {hidden_sizes!r}")
    return tuple(check_positive_int(task_kind, "hidden_sizes[]", h) for h in hidden_sizes)


class MLP(SupervisedTask):
    """outputs = W_L relu(... relu(W_1 x + b_1) ...) + b_L, widths (d_0, d_1, ..., d_L).

    Parameters in Keras order [W1 (d_0, d_1), b1 (d_1,), ..., WL (d_{L-1}, d_L), bL (d_L,)];
    kernels start Glorot-uniform from the lane seed, biases at zero (Keras' Dense defaults).
    The loss is `SupervisedTask`'s: cross-entropy of the logits, or squared error for a regressor.

    Training layout (see `nos.engine.tasks.base`): kernels transposed, W_l^T [out, in] per lane, and
    activations feature-major, h^T [K, width, B], so every matmul of a step is canonical:

        shared x [B, d_0]:  H1^T = reshape(W1^T, [K*d_1, d_0]) @ x^T    one 2-D matmul for all lanes
        per-lane x [K, B, d_0]:  H1^T[k] = W1^T[k] @ x[k]^T             batched
        later layers:  H^T[k] = W^T[k] @ H_prev^T[k] + b[k]             batched, [K, out, in] x [K, in, B]

    and their gradients, dW1^T = dH1^T @ x (one [K*d_1, B] x [B, d_0] matmul with a shared
    batch) and dW^T[k] = dH^T[k] @ H_prev[k], come out in the same layout with no transposes.
    Each row of a 2-D product reads only its own lane's kernel row, so lanes stay independent.

    Subclasses set ``kind``, ``name``, ``config`` and call ``MLP.__init__(data, widths, batch_size)``.
    """

    def __init__(self, data, widths, batch_size):
        super().__init__(data, batch_size)
        self.widths = tuple(widths)
        self.hidden_sizes = self.widths[1:-1]
        self.num_outputs = self.widths[-1]
        self.param_shapes = tuple(
            shape for fan_in, fan_out in zip(self.widths[:-1], self.widths[1:]) for shape in ((fan_in, fan_out), (fan_out,)))
        check_param_count(self.kind, self.param_shapes)
        self.training_order = transposed_kernel_order(self.param_shapes)

    def init_params(self, seeds):
        return initializers.glorot_uniform(seeds, self.param_shapes)

    def logits(self, params, x):
        weights = self.split_params(params)
        h = x
        for i in range(0, len(weights), 2):
            h = dense(h, weights[i], weights[i + 1])
            if i + 2 < len(weights):
                h = tf.nn.relu(h)
        return h

    def training_logits(self, params, x):
        pieces = tf.split(params, self.param_sizes, axis=1)
        kernels = [tf.reshape(piece, (-1, fan_out, fan_in))
                   for piece, (fan_in, fan_out) in zip(pieces[::2], self.param_shapes[::2])]
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

    def keras_model(self):
        import keras

        layers = [keras.Input((self.widths[0],))]
        layers += [keras.layers.Dense(width, activation="relu") for width in self.hidden_sizes]
        layers.append(keras.layers.Dense(self.widths[-1]))
        return keras.Sequential(layers, name=self.name)
