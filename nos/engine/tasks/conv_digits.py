"""A one-convolution network on the 8x8 digits, batched over lanes."""

import tensorflow as tf

from nos.engine.tasks import initializers
from nos.engine.tasks.base import check_param_count, check_positive_int
from nos.engine.tasks.digits import digits
from nos.engine.tasks.supervised import SupervisedTask, dense
from nos.limits import MAX_SEED

SIDE, KERNEL, POOL, NUM_CLASSES = 8, 3, 2, 10
CONV_SIDE = SIDE - KERNEL + 1
POOL_SIDE = CONV_SIDE // POOL


class ConvDigits(SupervisedTask):
    """8x8x1 image -> conv 3x3 (F filters, valid) -> ReLU -> 2x2 max-pool -> flatten -> dense 10.

    The equivalent Keras model is Reshape(8, 8, 1), Conv2D(F, 3, relu),
    MaxPooling2D(2), Flatten, Dense(10), fed the same [N, 64] pixels. Parameters
    in Keras order [kernel (3, 3, 1, F), bias (F,), W (9F, 10), b (10,)]; F = 8
    gives P = 72 + 8 + 720 + 10 = 810. Glorot-uniform kernels, zero biases.

    The convolution is a patch matrix times a per-lane kernel: the 9 shifted 6x6
    views of each image are stacked into patches [.., 6, 6, 9] (tap (i, j) at
    position 3 i + j, Keras' kernel order) and contracted with the kernels
    reshaped to [K, 9, F] in one einsum, which XLA compiles on CPU without
    per-lane loops (shared x, as in ``validation``, makes it one 2-D matmul for all lanes).
    The 2x2 max-pool is an elementwise maximum of strided views (`_max_pool`).

    Its fast layout (window-gathered patch matmuls, feature-major) is `nos.engine.layouts.conv_digits`.

    Arguments:
        filters: F, the number of 3x3 filters (default 8).
        batch_size: examples per lane and step (default 128).
        split_seed: seed of the stratified train/validation split (default 0).
    """

    kind = "conv_digits"
    num_outputs = NUM_CLASSES

    def __init__(self, filters=8, batch_size=128, split_seed=0):
        self.filters = check_positive_int(self.kind, "filters", filters)
        split_seed = check_positive_int(self.kind, "split_seed", split_seed, minimum=0, maximum=MAX_SEED)
        super().__init__(digits(split_seed), batch_size)
        self.config = {"filters": self.filters, "batch_size": self.batch_size, "split_seed": split_seed}
        self.name = f"conv_digits_3x3x{self.filters}_b{self.batch_size}"
        if split_seed:
            self.name += f"_split{split_seed}"
        flat = POOL_SIDE * POOL_SIDE * self.filters
        self.param_shapes = ((KERNEL, KERNEL, 1, self.filters), (self.filters,), (flat, NUM_CLASSES), (NUM_CLASSES,))
        check_param_count(self.kind, self.param_shapes)

    def init_params(self, seeds):
        return initializers.glorot_uniform(seeds, self.param_shapes)

    def logits(self, params, x):
        kernel, bias, w_out, b_out = self.split_params(params)
        lanes = tf.shape(params)[0]
        images = tf.reshape(x, tf.concat([tf.shape(x)[:-1], [SIDE, SIDE]], 0))
        patches = tf.stack([images[..., i:i + CONV_SIDE, j:j + CONV_SIDE]
                            for i in range(KERNEL) for j in range(KERNEL)], axis=-1)
        equation = "bhwp,kpf->kbhwf" if x.shape.rank == 2 else "kbhwp,kpf->kbhwf"
        kernel = tf.reshape(kernel, (-1, KERNEL * KERNEL, self.filters))
        h = tf.nn.relu(tf.einsum(equation, patches, kernel) + bias[:, None, None, None, :])
        h = _max_pool(h[:, :, :POOL * POOL_SIDE, :POOL * POOL_SIDE])
        h = tf.reshape(h, (lanes, -1, POOL_SIDE * POOL_SIDE * self.filters))
        return dense(h, w_out, b_out)

    def keras_model(self):
        import keras

        return keras.Sequential([
            keras.Input((SIDE * SIDE,)),
            keras.layers.Reshape((SIDE, SIDE, 1)),
            keras.layers.Conv2D(self.filters, KERNEL, activation="relu"),
            keras.layers.MaxPooling2D(POOL),
            keras.layers.Flatten(),
            keras.layers.Dense(NUM_CLASSES),
        ], name=self.name)


def _max_pool(h):
    """[..., 2n, 2n, F] -> [..., n, n, F]: the maximum of each 2x2 window.

    An elementwise maximum of the four strided views, which XLA fuses with its gradient; a
    reduce_max over window axes has a costly gradient (it splits ties evenly, counting them).
    A tie (in practice of ReLU zeros) sends the whole gradient to one of the tied inputs, as
    Keras' pooling does, though not always to the same one.
    """
    rows = tf.maximum(h[..., 0::POOL, :, :], h[..., 1::POOL, :, :])
    return tf.maximum(rows[..., 0::POOL, :], rows[..., 1::POOL, :])

