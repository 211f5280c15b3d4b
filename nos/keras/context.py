"""What a rule sees inside `RuleOptimizer.update_step`: the Keras back end of a rule's context.

`rule.evaluate(ctx)` reads its operands through ``ctx.xp``; here that is ``keras.ops``, so the
same grammar rows that give the numpy reference (`search_space.NumpyContext`) build the Keras
update. The fields follow `search_space.context`:

    g            the gradient (dense), cast to the variable's dtype
    w            the variable's current value
    m, v, y      the raw EMAs after this step's update (only those the rule needs):
                 m_t = β1·m + (1 − β1)·g,  v_t = β2·v + (1 − β2)·g²,  y_t = β3·y + (1 − β3)·g³
    t            the 1-based step (``optimizer.iterations + 1``) as a float of the variable's dtype
    decay_steps  D of the decay operands ld, cd, rd (None when the rule uses none)

Random rows (noise, annealed noise, dropout) draw through `normal` and `uniform` from a
`keras.random.SeedGenerator`, so a fixed seed replays the same draws.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
from keras import ops

from search_space.context import BETA_1, BETA_2, BETA_3, EPSILON


@dataclass
class KerasContext:
    """A rule's inputs as Keras tensors; ``xp`` is ``keras.ops``."""

    g: Any
    w: Any = None
    m: Any = None
    v: Any = None
    y: Any = None
    t: Any = 1.0
    decay_steps: Any = None
    beta_1: float = BETA_1
    beta_2: float = BETA_2
    beta_3: float = BETA_3
    epsilon: float = EPSILON
    dtype: str = "float32"
    seed_generator: keras.random.SeedGenerator | None = None
    xp: Any = ops

    def normal(self, like):
        """Standard normal draws with the shape of `like`."""
        return keras.random.normal(ops.shape(like), dtype=self.dtype, seed=self._seed())

    def uniform(self, like):
        """Uniform [0, 1) draws with the shape of `like`."""
        return keras.random.uniform(ops.shape(like), dtype=self.dtype, seed=self._seed())

    def _seed(self):
        if self.seed_generator is None:
            raise ValueError("this rule draws random numbers: give the context a keras.random.SeedGenerator")
        return self.seed_generator
