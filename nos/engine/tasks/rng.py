"""Counter-based random numbers for K lanes at once, identical under XLA and eager.

TensorFlow's stateless ops take one seed per call, and the batched-seed
`RandomIndexShuffle` has no XLA kernel, so K lanes with K seeds would need a
Python loop or a `while_loop`. Instead every random word here is a pure hash:

    key(seed, words)    = fmix32 chained over (low 32 bits of seed, high 32 bits, words...)
    bits(key, i)        = fmix32(key XOR fmix32(i * 0x9E3779B9 + 0x7F4A7C15))
    uniform(key, i)     = (bits >> 8) * 2^-24                   in [0, 1)

where fmix32 is MurmurHash3's 32-bit finaliser (a bijection on uint32). Lane k's
numbers depend only on seeds[k] and the words (for example a stream tag and the
step), never on K or the lane's position, and the integer arithmetic makes them
bit-identical eager and compiled. Statistical quality is that of a good hash;
nothing here is cryptographic.
"""

import tensorflow as tf

_M1 = 0x85EBCA6B
_M2 = 0xC2B2AE35
_GOLDEN = 0x9E3779B9
_COUNTER_SALT = 0x7F4A7C15


def _u32(value):
    return tf.constant(value, tf.uint32)


def fmix32(x):
    """MurmurHash3 finaliser on a uint32 tensor: a well-mixing bijection."""
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16)))
    x = x * _u32(_M1)
    x = tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(13)))
    x = x * _u32(_M2)
    return tf.bitwise.bitwise_xor(x, tf.bitwise.right_shift(x, _u32(16)))


def lane_keys(seeds, *words):
    """Hash int32/int64 seeds [K] and extra words (Python ints or integer scalars) into uint32 keys [K]."""
    seeds = tf.cast(tf.convert_to_tensor(seeds), tf.int64)
    low = tf.cast(seeds, tf.uint32)
    high = tf.cast(tf.bitwise.right_shift(seeds, tf.constant(32, tf.int64)), tf.uint32)
    key = fmix32(low + _u32(_GOLDEN))
    for word in (high, *words):
        word = tf.cast(word, tf.uint32) if tf.is_tensor(word) else _u32(word % 2**32)
        key = fmix32(tf.bitwise.bitwise_xor(key, fmix32(word + _u32(_GOLDEN))) + _u32(_GOLDEN))
    return key


def random_bits(keys, n):
    """uint32 [K, n]: word i of lane k is bits(keys[k], i)."""
    counters = tf.cast(tf.range(n), tf.uint32) * _u32(_GOLDEN) + _u32(_COUNTER_SALT)
    return fmix32(tf.bitwise.bitwise_xor(keys[:, None], fmix32(counters)[None, :]))


def uniform(keys, n):
    """float32 [K, n] uniform on [0, 1) with 24 random bits each."""
    top24 = tf.bitwise.right_shift(random_bits(keys, n), _u32(8))
    return tf.cast(top24, tf.float32) * (2.0**-24)


def normal(keys, n, terms=12):
    """float32 [K, n] approximately standard normal: the sum of ``terms`` uniforms minus terms / 2.

    Irwin-Hall with the default 12 terms: mean 0, variance 1, support [-6, 6]. Only additions are used, so
    a lane's values are bit-identical whatever K or its position; Box-Muller's
    log and cos are not, as vectorised and scalar code paths round differently.
    """
    total = tf.zeros([tf.shape(keys)[0], n], tf.float32)
    for term in range(terms):
        total += uniform(fmix32(tf.bitwise.bitwise_xor(keys, _u32(term + 1))), n)
    return total - 0.5 * terms


def indices(keys, n, maxval):
    """int32 [K, n] uniform on {0, ..., maxval - 1} (bias below maxval / 2^32)."""
    return tf.cast(tf.cast(random_bits(keys, n), tf.int64) % maxval, tf.int32)


STREAM_INIT = 1
STREAM_BATCH = 2
STREAM_NOISE = 3
