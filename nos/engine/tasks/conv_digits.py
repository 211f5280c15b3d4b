"""A one-convolution network on the 8x8 digits, batched over lanes."""

import numpy as np
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

    Training layout (see `nos.engine.tasks.base`): the kernel as K^T [F, 9], the dense kernel as
    W^T [10, 9F] with its inputs ordered (filter, pooled position), and activations
    feature-major with the batch minor. The patches are gathered once per step, ordered (tap,
    pool-window member, pooled position, example): [9, 4·9·B] for a shared minibatch, so

        conv_w = reshape(K^T, [K·F, 9]) @ patches_w     per window member w: one 2-D matmul, [K, F, 9B]
        h      = relu(max_w conv_w + bias)              [K, F, 9B] = [K, 9F, B]
        z^T    = W^T[k] @ h[k] + b                      batched, class-major [K, 10, B]

    The window maximum is the same chain of maxima as `_max_pool`'s, so ties go the same way.

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
        self.training_order = _training_order(self.filters)

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

    def training_logits(self, params, x):
        kernel, bias, w_out, b_out = tf.split(params, self.param_sizes, axis=1)
        lanes, taps = tf.shape(params)[0], KERNEL * KERNEL
        index = tf.constant(_WINDOW_PATCHES)
        if x.shape.rank == 2:  # a [K·F, 9] x [9, 9·B] matmul per window member, for all lanes
            patches = tf.gather(tf.transpose(x), index)  # [9, 4, 9, B]
            kernel = tf.reshape(kernel, (-1, taps))
            member = [tf.matmul(kernel, tf.reshape(patches[:, w], (taps, -1))) for w in range(POOL * POOL)]
        else:
            patches = tf.gather(x, index, axis=2)  # [K, B, 9, 4, 9]
            kernel = tf.reshape(kernel, (-1, self.filters, taps))
            member = [tf.matmul(kernel, tf.reshape(tf.transpose(patches[:, :, :, w], (0, 2, 3, 1)), (lanes, taps, -1)))
                      for w in range(POOL * POOL)]
        member = [tf.reshape(m, (lanes, self.filters, -1)) for m in member]  # (di, dj) at w = 2 di + dj
        pooled = tf.maximum(tf.maximum(member[0], member[2]), tf.maximum(member[1], member[3]))
        h = tf.nn.relu(pooled + bias[:, :, None])
        h = tf.reshape(h, (lanes, POOL_SIDE * POOL_SIDE * self.filters, -1))
        return tf.matmul(tf.reshape(w_out, (lanes, NUM_CLASSES, -1)), h) + b_out[:, :, None]

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


def _window_patches() -> np.ndarray:
    """int32 [9, 4, 9]: the pixel read by tap (ti, tj) for window member (di, dj) at pooled position (pi, pj)."""
    index = np.zeros((KERNEL * KERNEL, POOL * POOL, POOL_SIDE * POOL_SIDE), np.int32)
    for ti, tj, di, dj, pi, pj in np.ndindex(KERNEL, KERNEL, POOL, POOL, POOL_SIDE, POOL_SIDE):
        row, col = POOL * pi + di + ti, POOL * pj + dj + tj
        index[KERNEL * ti + tj, POOL * di + dj, POOL_SIDE * pi + pj] = row * SIDE + col
    return index


_WINDOW_PATCHES = _window_patches()


def _training_order(filters: int) -> np.ndarray:
    """int32 [P]: K^T [F, 9] (tap-major flat kernel transposed), bias, W^T [10, (filter, position)], b."""
    taps, positions = KERNEL * KERNEL, POOL_SIDE * POOL_SIDE
    kernel = np.arange(taps * filters).reshape(taps, filters).T.ravel()
    bias = taps * filters + np.arange(filters)
    start = taps * filters + filters
    dense = np.arange(positions * filters * NUM_CLASSES).reshape(positions, filters, NUM_CLASSES)  # Keras flatten order
    dense = start + dense.transpose(2, 1, 0).ravel()
    out = start + positions * filters * NUM_CLASSES + np.arange(NUM_CLASSES)
    return np.concatenate([kernel, bias, dense, out]).astype(np.int32)
