"""An ill-conditioned diagonal quadratic, optionally with noisy gradients."""

import numpy as np
import tensorflow as tf

from nos.engine.tasks import rng
from nos.engine.tasks.base import Task, check_positive_int
from nos.limits import MAX_PARAMS


class Quadratic(Task):
    """f(x) = 0.5 * sum_i c_i x_i^2 with c_i = cond^(i / (d - 1)), i = 0..d-1.

    The curvatures are log-spaced from 1 to ``cond`` (the condition number);
    minimum f(0) = 0. Lane k starts at x ~ N(0, I_d) drawn from seeds[k]
    (``rng.normal``: the 12-uniform Irwin-Hall approximation).

    ``train_loss`` is f(x) + noise_std * <eps, x> with eps ~ N(0, I_d) drawn from
    (seeds[k], step) the same way, so its gradient is c * x + noise_std * eps: unbiased, with
    noise of standard deviation ``noise_std`` per coordinate. The default is
    noiseless. ``validation`` returns the noiseless f.

    Arguments:
        dim: d, the number of parameters (default 10).
        cond: condition number c_max / c_min, >= 1 (default 100).
        noise_std: gradient noise standard deviation, >= 0 (default 0).
    """

    kind = "quadratic"

    def __init__(self, dim=10, cond=100.0, noise_std=0.0):
        self.dim = check_positive_int(self.kind, "dim", dim, maximum=MAX_PARAMS)
        if isinstance(cond, bool) or not isinstance(cond, (int, float)) or not cond >= 1.0:
            raise ValueError(f"quadratic: cond must be a number >= 1, got {cond!r}")
        if isinstance(noise_std, bool) or not isinstance(noise_std, (int, float)) or not noise_std >= 0.0:
            raise ValueError(f"quadratic: noise_std must be a number >= 0, got {noise_std!r}")
        self.cond, self.noise_std = float(cond), float(noise_std)
        self.config = {"dim": self.dim, "cond": self.cond, "noise_std": self.noise_std}
        self.name = f"quadratic_d{self.dim}_cond{self.cond:g}" + (f"_noise{self.noise_std:g}" if self.noise_std else "")
        self.param_shapes = ((self.dim,),)
        exponents = np.arange(self.dim) / max(self.dim - 1, 1)
        self.curvatures = (self.cond ** exponents).astype(np.float32)
        self._c = tf.constant(self.curvatures)

    def init_params(self, seeds):
        return rng.normal(rng.lane_keys(seeds, rng.STREAM_INIT), self.dim)

    def train_loss(self, params, step, seeds):
        loss = self._value(params)
        if self.noise_std:
            eps = rng.normal(rng.lane_keys(seeds, rng.STREAM_NOISE, step), self.dim)
            loss += self.noise_std * tf.reduce_sum(eps * params, axis=1)
        return loss

    def validation(self, params):
        return {"loss": self._value(params)}

    def _value(self, params):
        return 0.5 * tf.reduce_sum(self._c * tf.square(params), axis=1)
