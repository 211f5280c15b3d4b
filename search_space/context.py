"""What a rule sees when it computes an update: the gradient, the weights and optimizer state.

Every grammar row computes its value from a context through ``ctx.xp``, a module with numpy's
array API (``numpy`` itself, or ``keras.ops`` in the TensorFlow back ends). One definition of a
row therefore serves the numpy reference, the Keras optimizer and the batched interpreter.

State, updated *before* the rule is evaluated at step t = 1, 2, …:

    m_t = β1·m_{t-1} + (1 − β1)·g        (bias-corrected m̂ = m_t / (1 − β1^t))
    v_t = β2·v_{t-1} + (1 − β2)·g²       (v̂ = v_t / (1 − β2^t))
    y_t = β3·y_{t-1} + (1 − β3)·g³       (γ̂ = y_t / (1 − β3^t))

A back end provides the attributes below; ``m``, ``v``, ``y`` are the raw EMAs above, and only
those the rule needs have to be present.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

EPSILON = 1e-7


def ema(old, value, beta):
    """One exponential-moving-average step: β·old + (1 − β)·value."""
    return beta * old + (1.0 - beta) * value


@dataclass(frozen=True)
class Moment:
    """A moving average of a power of g kept per variable: `name` ← β·`name` + (1 − β)·g^`power`.

    `beta` names its decay rate (a hyperparameter of every back end and export) and `default`
    is that rate's default; rules read the average bias-corrected (see the m, v, y operands).
    """

    name: str
    beta: str
    default: float
    power: int
    doc: str

    @property
    def statistic(self) -> str:
        """g^`power` as Python source (products, which every back end computes alike)."""
        return " * ".join(["g"] * self.power)

    @property
    def statistic_text(self) -> str:
        return "g" + {1: "", 2: "²", 3: "³"}[self.power]

    def update(self, old, g, beta):
        """The average after one step with gradient `g` and decay rate `beta`."""
        value = g
        for _ in range(self.power - 1):
            value = value * g
        return ema(old, value, beta)


MOMENTS = (
    Moment("m", "beta_1", 0.9, 1, "the EMA of g"),
    Moment("v", "beta_2", 0.999, 2, "the EMA of g²"),
    Moment("y", "beta_3", 0.999, 3, "the EMA of g³"),
)
"""The optimizer state a rule can read: every back end, export and reference reads this table."""
BETA_1, BETA_2, BETA_3 = (moment.default for moment in MOMENTS)


@dataclass
class NumpyContext:
    """The numpy back end: the reference semantics used by tests and fingerprints.

    ``t`` is the 1-based step of the update being computed; ``decay_steps`` is D of the
    decay operands. ``rng`` draws the noise and dropout of stochastic rows.
    """

    g: Any
    w: Any = None
    m: Any = None
    v: Any = None
    y: Any = None
    t: Any = 1
    decay_steps: Any = None
    beta_1: float = BETA_1
    beta_2: float = BETA_2
    beta_3: float = BETA_3
    epsilon: float = EPSILON
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    xp: Any = np

    def normal(self, like):
        """Standard normal draws with the shape of `like`."""
        return self.rng.standard_normal(np.shape(like))

    def uniform(self, like):
        """Uniform [0, 1) draws with the shape of `like`."""
        return self.rng.random(np.shape(like))
