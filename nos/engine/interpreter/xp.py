"""A thin TensorFlow namespace with numpy's names, the ``ctx.xp`` of the batched interpreter.

Grammar rows compute their values through ``ctx.xp`` (see `search_space.context`), so the same
row definitions run on numpy arrays in the reference and on [K, P] tensors here. ``xp.NAME`` is
TensorFlow's function in the ``"tf"`` column of `search_space.functions` (``tf.math.NAME``
unless the table says otherwise), except `power`, computed here for speed.
"""

from __future__ import annotations

import tensorflow as tf

from search_space.functions import spelling


def __getattr__(name: str):
    """TensorFlow's spelling of numpy's `name`, resolved once (PEP 562)."""
    if name.startswith("__"):
        raise AttributeError(name)
    function = tf
    for part in spelling(name, "tf").split(".")[1:]:
        function = getattr(function, part, None)
        if function is None:
            raise AttributeError(f"TensorFlow has no {spelling(name, 'tf')} for xp.{name}")
    globals()[name] = function
    return function


def _float(x):
    return tf.convert_to_tensor(x, tf.float32) if not tf.is_tensor(x) else x


def power(x, y):
    """numpy's float `power`, computed as ±exp(y·log|x|) with C99's special cases.

    XLA on CPU lowers ``tf.pow`` to one scalar libm call per element, about ten times slower
    than its vectorised exp and log. Special cases as numpy: x^0 = 1 and 1^y = 1 (even for nan),
    (±1)^±inf = 1, a negative x (−0 and −inf included) with an odd integer y gives a negative
    result, a finite negative x with a fractional y gives nan. Relative error about |y·log x|·2⁻²⁴
    against a correctly rounded pow; subnormal inputs count as zero, as everywhere in XLA on CPU.

    The special cases only set the exponent (0 where the result is 1) and a factor (±1 or nan)
    that multiplies the one exp: a select between exp(..) and −exp(..) would use that expensive
    value twice, and XLA would then refuse to fuse the rule's update into one loop.
    """
    x, y = _float(x), _float(y)
    size = tf.abs(x)
    integer = tf.equal(tf.floor(y), y)
    half = 0.5 * y
    odd = integer & tf.not_equal(tf.floor(half), half)
    negative = (tf.bitcast(x, tf.int32) < 0) & odd
    fractional_of_negative = (x < 0.0) & tf.math.is_finite(x) & ~integer
    factor = tf.where(fractional_of_negative, tf.constant(float("nan")), tf.where(negative, -1.0, 1.0))
    one = tf.equal(y, 0.0) | tf.equal(x, 1.0) | (tf.equal(size, 1.0) & tf.math.is_inf(y))
    return factor * tf.exp(tf.where(one, tf.zeros_like(y), y * tf.math.log(size)))
