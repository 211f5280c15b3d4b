"""A ReLU multilayer perceptron on the 8x8 digits."""

import tensorflow as tf

from nos.limits import MAX_SEED
from nos.tasks import initializers
from nos.tasks.base import check_param_count, check_positive_int, transposed_kernel_order
from nos.tasks.digits import digits
from nos.tasks.supervised import SupervisedTask, dense

NUM_FEATURES, NUM_CLASSES = 64, 10


class MLPDigits(SupervisedTask):
    """logits = W_L relu(... relu(W_1 x + b_1) ...) + b_L on 64 pixels -> 10 classes.

    Data: ``digits(split_seed)``, 1437 train / 360 validation. Parameters in
    Keras order [W1 (64, h1), b1 (h1,), ..., WL (h_last, 10), bL (10,)]; the
    default (32,) hidden layer gives P = 64*32 + 32 + 32*10 + 10 = 2410.
    Kernels start Glorot-uniform from the lane seed, biases at zero (Keras'
    Dense defaults). Loss: softmax cross-entropy on minibatches sampled with
    replacement (see ``SupervisedTask``).

    Training layout (see `nos.tasks.base`): kernels transposed, W_l^T [out, in] per lane, and
    activations feature-major, h^T [K, width, B], so every matmul of a step is canonical:

        shared x [B, 64]:  H1^T = reshape(W1^T, [K*h1, 64]) @ x^T    one 2-D matmul for all lanes
        per-lane x [K, B, 64]:  H1^T[k] = W1^T[k] @ x[k]^T           batched
        later layers:  H^T[k] = W^T[k] @ H_prev^T[k] + b[k]          batched, [K, out, in] x [K, in, B]

    and their gradients, dW1^T = dH1^T @ x (one [K*h1, B] x [B, 64] matmul with a shared
    batch) and dW^T[k] = dH^T[k] @ H_prev[k], come out in the same layout with no transposes.
    Each row of a 2-D product reads only its own lane's kernel row, so lanes stay independent.

    Arguments:
        hidden_sizes: widths of the hidden layers (default (32,)).
        batch_size: examples per lane and step (default 128).
        split_seed: seed of the stratified train/validation split (default 0).
    """

    kind = "mlp_digits"
    num_outputs = NUM_CLASSES

    def __init__(self, hidden_sizes=(32,), batch_size=128, split_seed=0):
        if isinstance(hidden_sizes, (int, str)) or not hasattr(hidden_sizes, "__iter__"):
            raise ValueError(f"mlp_digits: hidden_sizes must be a sequence of positive ints, got {hidden_sizes!r}")
        hidden = tuple(check_positive_int(self.kind, "hidden_sizes[]", h) for h in hidden_sizes)
        split_seed = check_positive_int(self.kind, "split_seed", split_seed, minimum=0, maximum=MAX_SEED)
        super().__init__(digits(split_seed), batch_size)
        self.hidden_sizes = hidden
        self.config = {"hidden_sizes": hidden, "batch_size": self.batch_size, "split_seed": split_seed}
        widths = (NUM_FEATURES, *hidden, NUM_CLASSES)
        self.name = "mlp_digits_" + "x".join(map(str, widths)) + f"_b{self.batch_size}"
        if split_seed:
            self.name += f"_split{split_seed}"
        self.param_shapes = tuple(
            shape for fan_in, fan_out in zip(widths[:-1], widths[1:]) for shape in ((fan_in, fan_out), (fan_out,)))
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

        layers = [keras.Input((NUM_FEATURES,))]
        layers += [keras.layers.Dense(width, activation="relu") for width in self.hidden_sizes]
        layers.append(keras.layers.Dense(NUM_CLASSES))
        return keras.Sequential(layers, name=self.name)
