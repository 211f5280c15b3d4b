"""Per-lane parameter initialisers over flat [K, P] parameter matrices."""

import math

import numpy as np
import tensorflow as tf

from nos.engine.tasks import rng


def glorot_limits(shapes) -> np.ndarray:
    """float32 [P]: the Glorot-uniform bound sqrt(6 / (fan_in + fan_out)) for every kernel entry, 0 for biases.

    Fans follow Keras: a kernel of shape (..., fan_in_channels, fan_out_channels)
    has fan_in = receptive * shape[-2], fan_out = receptive * shape[-1] with
    receptive = prod(shape[:-2]); one-dimensional shapes are biases.
    """
    limits = []
    for shape in shapes:
        size = math.prod(shape)
        if len(shape) < 2:
            limits.append(np.zeros(size, np.float32))
            continue
        receptive = math.prod(shape[:-2])
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        limits.append(np.full(size, math.sqrt(6.0 / (fan_in + fan_out)), np.float32))
    return np.concatenate(limits)


def glorot_uniform(seeds, shapes) -> tf.Tensor:
    """[K, P]: kernels ~ U(-limit, limit) (Keras' default Dense/Conv init), biases 0, from each lane's seed."""
    limits = tf.constant(glorot_limits(shapes))
    keys = rng.lane_keys(seeds, rng.STREAM_INIT)
    return (2.0 * rng.uniform(keys, limits.shape[0]) - 1.0) * limits
