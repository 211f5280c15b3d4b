"""A ReLU multilayer perceptron over a fixed data set, batched over lanes (the MLP tasks' network)."""

import tensorflow as tf

from nos.engine.tasks import initializers
from nos.engine.tasks.base import check_param_count, check_positive_int
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

    Its fast layout (kernels transposed, activations feature-major) is `nos.engine.layouts.mlp`.

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

    def keras_model(self):
        import keras

        layers = [keras.Input((self.widths[0],))]
        layers += [keras.layers.Dense(width, activation="relu") for width in self.hidden_sizes]
        layers.append(keras.layers.Dense(self.widths[-1]))
        return keras.Sequential(layers, name=self.name)
