"""The paper's child task: a small two-layer 3x3 ConvNet on CIFAR-10, batched over lanes."""

import hashlib
import os

import numpy as np
import tensorflow as tf

from nos.engine.tasks import initializers
from nos.engine.tasks.base import check_param_count, check_positive_int
from nos.engine.tasks.cifar10 import CHANNELS, NUM_CLASSES, RECORDS_PER_FILE, SIDE, TRAIN_FILES, load_cifar10
from nos.engine.tasks.conv_digits import _max_pool
from nos.engine.tasks.supervised import Dataset, SupervisedTask, class_major_losses, dense
from nos.limits import MAX_DATA_VALUES

KERNEL, POOL = 3, 2
SIDE_1 = (SIDE - KERNEL + 1) // POOL  # 15: after conv 1 and its pool
SIDE_2 = (SIDE_1 - KERNEL + 1) // POOL  # 6: after conv 2 and its pool (13 -> 6, the last row dropped)
VAL_BLOCK = 50
"""Validation examples per block: ``validation`` runs the validation set through in blocks of this
many, so that its activations take no more memory than a training step's."""


class Cifar10Conv(SupervisedTask):
    """32x32x3 image -> [conv 3x3 (F1) -> 2x2 max-pool -> ReLU] -> [conv 3x3 (F2) -> 2x2 max-pool -> ReLU]
    -> flatten -> dense 10, softmax cross-entropy.

    Bello et al. (2017) scored rules by a small two-layer 3x3 ConvNet on CIFAR-10; this is that
    network with widths F1, F2 (default 16, 32) and a 2x2 max-pool after each convolution, which
    makes it CPU-sized (32 -> 30 -> 15 -> 13 -> 6 pixels a side). Pooling before the bias and ReLU
    gives the same values as after them (both are monotone), so the Keras model below, Conv2D(F,
    3, relu) then MaxPooling2D(2) twice, Flatten, Dense(10), computes the same function.
    Parameters in Keras order [K1 (3, 3, 3, F1), b1 (F1,), K2 (3, 3, F1, F2), b2 (F2,),
    W (36 F2, 10), b (10,)]; the defaults give P = 432 + 16 + 4608 + 32 + 11520 + 10 = 16618.
    Glorot-uniform kernels, zero biases.

    Data (`nos.engine.tasks.cifar10`): the first ``num_train`` records of data_batch_1.bin, 2, … and the
    first ``num_val`` of test_batch.bin, as x = (pixel / 255 - mu_c) / sigma_c with mu_c, sigma_c
    the per-channel mean and standard deviation of the training subset. Minibatches are sampled
    with replacement (see ``SupervisedTask``); the loss is the mean softmax cross-entropy
    -log softmax(z)_y; ``validation`` adds "accuracy".

    A convolution is patches times a per-lane kernel: the 9 shifted views of h [..., S, S, C] are
    concatenated into patches [..., S-2, S-2, 9C] (tap (i, j), channel c at position
    (3 i + j) C + c, Keras' kernel order) and contracted with the kernels [K, 9C, F] in one einsum.
    Memory: a step's forward pass holds about K·B·(900 F1 + 169·9 F1 + 169 F2) float32 values,
    about 3 GB at the defaults with K = 256 lanes, and its backward pass as much again.
    The shared-batch path (``class_major_logits`` with x [B, 32, 32, 3], used by ``validation``
    and by the layout `nos.engine.layouts.cifar10_conv`) runs the first convolution for all lanes as ONE 2-D matmul, patches
    [B·900, 27] x kernels [27, K·F1] (lane k's filters are columns k F1 … k F1 + F1 - 1), then
    pools, and the second as the batched einsum over lanes; logits come back class-major
    [K, 10, B]. (``tf.nn.conv2d`` with K·F1 output channels computes the same, but XLA on CPU
    compiles its filter gradient inside the training loop's while-loop some 200 times slower.)

    Arguments:
        filters: (F1, F2), the two convolutions' widths (default (16, 32)).
        batch_size: examples per lane and step (default 64).
        num_train: training examples, the first of data_batch_1.bin … (default 5000, at most 50000).
        num_val: validation examples, the first of test_batch.bin (default 1000, at most 10000).
        data_dir: the directory holding cifar-10-batches-bin (default: $NOS_DATA_DIR, else ~/.nos/data).
    """

    kind = "cifar10_conv"
    num_outputs = NUM_CLASSES

    def __init__(self, filters=(16, 32), batch_size=64, num_train=5000, num_val=1000, data_dir=None):
        widths = tuple(filters) if hasattr(filters, "__iter__") and not isinstance(filters, str) else ()
        if len(widths) != 2:
            raise ValueError(f"{self.kind}: filters must be two positive ints (the two convolutions' widths), "
                             f"got {filters!r}")
        f1, f2 = (check_positive_int(self.kind, "filters[]", f) for f in widths)
        n_train = check_positive_int(self.kind, "num_train", num_train, maximum=len(TRAIN_FILES) * RECORDS_PER_FILE)
        n_val = check_positive_int(self.kind, "num_val", num_val, maximum=RECORDS_PER_FILE)
        values = (n_train + n_val) * SIDE * SIDE * CHANNELS
        if values > MAX_DATA_VALUES:
            raise ValueError(f"{self.kind}: (num_train + num_val) * 3072 = {values:,} values, "
                             f"above the limit of {MAX_DATA_VALUES:,}")
        if data_dir is not None and (not isinstance(data_dir, (str, os.PathLike)) or not str(data_dir)):
            raise ValueError(f"{self.kind}: data_dir must be a non-empty path, got {data_dir!r}")
        self.filters = (f1, f2)
        self.param_shapes = ((KERNEL, KERNEL, CHANNELS, f1), (f1,), (KERNEL, KERNEL, f1, f2), (f2,),
                             (SIDE_2 * SIDE_2 * f2, NUM_CLASSES), (NUM_CLASSES,))
        check_param_count(self.kind, self.param_shapes)
        batch_size = check_positive_int(self.kind, "batch_size", batch_size)
        super().__init__(_standardized(*load_cifar10(data_dir, n_train, n_val, who=self.kind)), batch_size)
        self.config = {"filters": self.filters, "batch_size": self.batch_size, "num_train": n_train,
                       "num_val": n_val, "data_dir": None if data_dir is None else str(data_dir)}
        # the data's digest is part of the name: compiled loops are cached by name, data baked in
        digest = hashlib.sha256(self.data.x_train.tobytes() + self.data.y_train.tobytes()).hexdigest()[:8]
        self.name = f"cifar10_conv_3x3x{f1}_3x3x{f2}_b{self.batch_size}_n{n_train}_v{n_val}_data{digest}"
        blocks = -(-n_val // VAL_BLOCK)
        pad = blocks * VAL_BLOCK - n_val
        x_val = np.concatenate([self.data.x_val, np.zeros((pad, SIDE, SIDE, CHANNELS), np.float32)])
        y_val = np.concatenate([self.data.y_val, np.zeros(pad, np.int32)])
        self._val_blocks = (tf.constant(x_val.reshape(blocks, VAL_BLOCK, SIDE, SIDE, CHANNELS)),
                            tf.constant(y_val.reshape(blocks, VAL_BLOCK)),
                            tf.constant((np.arange(blocks * VAL_BLOCK) < n_val).astype(np.float32).reshape(blocks, -1)))

    def init_params(self, seeds):
        return initializers.glorot_uniform(seeds, self.param_shapes)

    def logits(self, params, x):
        k1, b1, k2, b2, w, b = self.split_params(params)
        h = _conv_pool_relu(x, k1, b1)
        h = _conv_pool_relu(h, k2, b2)
        return dense(tf.reshape(h, (tf.shape(params)[0], tf.shape(h)[1], -1)), w, b)

    def class_major_logits(self, params, x):
        """params [K, P]; x per lane [K, B, 32, 32, 3] or shared [B, 32, 32, 3] -> logits [K, 10, B]."""
        if x.shape.rank != 4:  # per-lane minibatches: the reference path
            return tf.transpose(self.logits(params, x), (0, 2, 1))
        k1, b1, k2, b2, w, b = self.split_params(params)
        lanes, f1, taps = tf.shape(params)[0], self.filters[0], KERNEL * KERNEL * CHANNELS
        kernel = tf.reshape(tf.transpose(tf.reshape(k1, (-1, taps, f1)), (1, 0, 2)), (taps, -1))  # [27, K F1]
        side = SIDE - KERNEL + 1
        patches = tf.concat([x[:, i:i + side, j:j + side, :] for i in range(KERNEL) for j in range(KERNEL)], axis=-1)
        h = tf.matmul(tf.reshape(patches, (-1, taps)), kernel)  # one [B 900, 27] x [27, K F1] matmul for all lanes
        h = _max_pool(tf.reshape(h, (-1, side, side, lanes * f1)))
        h = tf.nn.relu(h + tf.reshape(b1, (-1,)))  # [B, 15, 15, K F1]
        h = tf.transpose(tf.reshape(h, (-1, SIDE_1, SIDE_1, lanes, f1)), (3, 0, 1, 2, 4))  # [K, B, 15, 15, F1]
        h = _conv_pool_relu(h, k2, b2)
        return tf.einsum("kbi,kio->kob", tf.reshape(h, (lanes, tf.shape(x)[0], -1)), w) + b[:, :, None]

    def validation(self, params):
        """{"loss", "accuracy"} over the validation set, run through in blocks of `VAL_BLOCK` examples."""
        x_blocks, y_blocks, weights = self._val_blocks
        lanes = tf.shape(params)[0]

        def body(i, loss_sum, correct_sum):
            z = self.class_major_logits(params, x_blocks[i])  # [K, 10, VAL_BLOCK]
            correct = tf.cast(tf.equal(tf.argmax(z, axis=1, output_type=tf.int32), y_blocks[i]), tf.float32)
            return (i + 1, loss_sum + tf.reduce_sum(class_major_losses(z, y_blocks[i]) * weights[i], axis=1),
                    correct_sum + tf.reduce_sum(correct * weights[i], axis=1))

        zeros = tf.zeros([lanes], tf.float32)
        _, loss_sum, correct_sum = tf.while_loop(
            lambda i, *_: i < x_blocks.shape[0], body, (tf.constant(0), zeros, zeros))
        count = float(self.data.x_val.shape[0])
        return {"loss": loss_sum / count, "accuracy": correct_sum / count}

    def keras_model(self):
        import keras

        f1, f2 = self.filters
        return keras.Sequential([
            keras.Input((SIDE, SIDE, CHANNELS)),
            keras.layers.Conv2D(f1, KERNEL, activation="relu"),
            keras.layers.MaxPooling2D(POOL),
            keras.layers.Conv2D(f2, KERNEL, activation="relu"),
            keras.layers.MaxPooling2D(POOL),
            keras.layers.Flatten(),
            keras.layers.Dense(NUM_CLASSES),
        ], name=self.name)


def _conv_pool_relu(h, kernel, bias):
    """relu(maxpool_2x2(conv_3x3(h)) + bias) per lane.

    h: shared [B, S, S, C] or per-lane [K, B, S, S, C]; kernel [K, 3, 3, C, F]; bias [K, F]
    -> [K, B, (S - 2) // 2, (S - 2) // 2, F] (an odd side drops its last row and column, as Keras).
    """
    side = h.shape[-2] - KERNEL + 1
    channels, filters = kernel.shape[-2], kernel.shape[-1]
    patches = tf.concat([h[..., i:i + side, j:j + side, :] for i in range(KERNEL) for j in range(KERNEL)], axis=-1)
    equation = "bhwp,kpf->kbhwf" if h.shape.rank == 4 else "kbhwp,kpf->kbhwf"
    z = tf.einsum(equation, patches, tf.reshape(kernel, (-1, KERNEL * KERNEL * channels, filters)))
    even = POOL * (side // POOL)
    return tf.nn.relu(_max_pool(z[:, :, :even, :even]) + bias[:, None, None, None, :])


def _standardized(x_train, y_train, x_val, y_val) -> Dataset:
    """uint8 images and labels -> `Dataset` of float32 (pixel / 255 - mu_c) / sigma_c and int32 labels.

    mu_c and sigma_c are the mean and (population) standard deviation of channel c over the
    training images; a constant channel keeps sigma_c = 1.
    """
    train = x_train.astype(np.float64) / 255.0
    mean = train.mean(axis=(0, 1, 2))
    std = train.std(axis=(0, 1, 2))
    std = np.where(std > 0, std, 1.0)
    arrays = [((train - mean) / std).astype(np.float32), y_train.astype(np.int32),
              ((x_val.astype(np.float64) / 255.0 - mean) / std).astype(np.float32), y_val.astype(np.int32)]
    for array in arrays:
        array.setflags(write=False)
    return Dataset(*arrays)
