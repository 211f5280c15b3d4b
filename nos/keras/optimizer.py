"""`RuleOptimizer`: a Keras 3 optimizer that applies any update rule of the language."""

from __future__ import annotations

import math
from numbers import Integral, Real

import keras
import sympy as sp
from keras import ops

from nos.keras.context import KerasContext
from search_space import GRAMMAR, InvalidRuleError, ParseError, Rule, parse, rule_problem
from search_space.context import BETA_1, BETA_2, BETA_3, MOMENTS
from search_space.grammar import is_unit_reference


@keras.saving.register_keras_serializable(package="nos")
class RuleOptimizer(keras.optimizers.Optimizer):
    """Optimizer that applies an update rule written in the NOS language.

    At step t = 1, 2, … (``iterations + 1``) and for each variable w with gradient g, it
    updates the moving averages the rule reads, then the variable:

        m_t = β1·m_{t-1} + (1 − β1)·g        (kept only if the rule reads m, sign(m) or adam)
        v_t = β2·v_{t-1} + (1 − β2)·g²       (only if it reads v, adam or rmsprop)
        y_t = β3·y_{t-1} + (1 − β3)·g³       (only if it reads y)
        w_t = w_{t-1} − lr·d,   d = rule(g, w, m_t, v_t, y_t, t)

    with the operands of the rule defined in `search_space.vocabulary` (``m`` is the
    bias-corrected m_t/(1 − β1^t), ``adam`` is keras.optimizers.Adam's direction, …). For
    example, PowerSign ``exp(sign(g)*sign(m))*g`` and AddSign ``(1 + sign(g)*sign(m))*g``
    (Bello et al. 2017):

        optimizer = RuleOptimizer("exp(sign(g)*sign(m))*g", learning_rate=0.01)
        model.compile(optimizer=optimizer, loss="mse")

    Sparse gradients (`tf.IndexedSlices`, e.g. from an Embedding) are applied to the touched
    rows only when that is exact: the rule keeps no state, draws no noise and is linear in g,
    d = c(w, t)·g (e.g. ``g``, ``g*ld``), as keras.optimizers.SGD does. Any other rule sees
    the dense gradient, zero on untouched rows, as keras.optimizers.Adam does.

    A rule that overflows is not an error: the weights become inf or nan, and the caller
    decides what divergence means.

    Args:
        rule_or_text: a `search_space.Rule`, or rule text parsed with the default grammar.
        learning_rate: a float, a `keras.optimizers.schedules.LearningRateSchedule`, or a
            callable taking no arguments. Defaults to `0.01`.
        beta_1: decay rate of m, the EMA of g. Defaults to `0.9`.
        beta_2: decay rate of v, the EMA of g². Defaults to `0.999`.
        beta_3: decay rate of y, the EMA of g³. Defaults to `0.999`.
        epsilon: the ε of the ``adam`` and ``rmsprop`` operands. Defaults to `1e-7`.
        decay_steps: D of the decay operands ``ld``, ``cd``, ``rd`` (the step is clipped to
            D, as in TF1's sign decays); required when the rule uses one. Defaults to `None`.
        seed: an int seeding the draws of random rows (noise, anoise, drop); `None` for a
            random seed. Defaults to `None`.
        name: Defaults to `"rule_optimizer"`.
        **kwargs: the other keyword arguments of `keras.optimizers.Optimizer`
            (`weight_decay`, `clipnorm`, `clipvalue`, `global_clipnorm`, `use_ema`, …).

    References:

    - [Bello et al., 2017](https://arxiv.org/abs/1709.07417), Neural Optimizer Search with
      Reinforcement Learning.
    """

    def __init__(
        self,
        rule_or_text,
        learning_rate=0.01,
        beta_1=BETA_1,
        beta_2=BETA_2,
        beta_3=BETA_3,
        epsilon=1e-7,
        decay_steps=None,
        seed=None,
        name="rule_optimizer",
        **kwargs,
    ):
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        self.rule = _as_rule(rule_or_text)
        problem = rule_problem(self.rule)
        if problem is not None:
            raise InvalidRuleError(
                f"Argument `rule_or_text` is a rule that must not be trained: {self.rule} ({problem})."
            )
        self.beta_1 = _check_beta("beta_1", beta_1, "m")
        self.beta_2 = _check_beta("beta_2", beta_2, "v")
        self.beta_3 = _check_beta("beta_3", beta_3, "y")
        if isinstance(epsilon, bool) or not isinstance(epsilon, Real) or not 0 <= epsilon < math.inf:
            raise ValueError(
                "Argument `epsilon` must be a finite number >= 0; it keeps the denominators "
                f"√v̂ + ε of the adam and rmsprop operands away from zero. Received: epsilon={epsilon!r}"
            )
        self.epsilon = float(epsilon)
        self.decay_steps = _check_decay_steps(decay_steps, self.rule)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, Integral)):
            raise ValueError(
                f"Argument `seed` must be an int or None; it seeds the rule's random draws. Received: seed={seed!r}"
            )
        self.seed = None if seed is None else int(seed)
        self._seed_generator = None
        if self.rule.stochastic:
            self._seed_generator = keras.random.SeedGenerator(self.seed, name=f"{self.name}_seed_generator")
            self._track_variable(self._seed_generator.state)
        self._sparse_exact = None  # applies_sparsely(rule), decided at the first sparse gradient

    def build(self, var_list):
        """Create the moving averages the rule reads (`m`, `v`, `y`), one per variable."""
        if self.built:
            return
        super().build(var_list)
        names = [moment.name for moment in MOMENTS if moment.name in self.rule.needs]
        self._slots = dict(zip(names, self.add_optimizer_variables(var_list, names))) if names else {}

    def update_step(self, gradient, variable, learning_rate):
        """Update the moving averages, then ``variable ← variable − lr·d``."""
        dtype = keras.backend.standardize_dtype(variable.dtype)
        lr = ops.cast(learning_rate, dtype)
        t = ops.cast(self.iterations + 1, dtype)
        slices = _indexed_slices(gradient)
        if slices is not None:
            if self._sparse_exact is None:
                self._sparse_exact = applies_sparsely(self.rule)
            if self._sparse_exact:
                self._sparse_update_step(slices, variable, lr, t, dtype)
                return
            gradient = _densify(slices)
        g = ops.cast(gradient, dtype)

        index = self._get_variable_index(variable)
        moments = {}
        for moment in MOMENTS:
            if moment.name in self._slots:
                slot = self._slots[moment.name][index]
                moments[moment.name] = moment.update(slot, g, getattr(self, moment.beta))
                self.assign(slot, moments[moment.name])
        d = self.rule.evaluate(self._context(g, variable, t, dtype, **moments))
        self.assign_sub(variable, ops.multiply(lr, ops.cast(d, dtype)))

    def _sparse_update_step(self, slices, variable, lr, t, dtype):
        """Touched rows only; exact because d = c(w, t)·g sums over repeated indices."""
        import tensorflow as tf

        g = ops.cast(slices.values, dtype)
        w = tf.gather(variable, slices.indices)
        d = ops.cast(self.rule.evaluate(self._context(g, w, t, dtype)), dtype)
        self.assign_sub(variable, tf.IndexedSlices(lr * d, slices.indices, slices.dense_shape))

    def _context(self, g, w, t, dtype, **moments):
        return KerasContext(
            g=g,
            w=w,
            t=t,
            decay_steps=None if self.decay_steps is None else float(self.decay_steps),
            beta_1=self.beta_1,
            beta_2=self.beta_2,
            beta_3=self.beta_3,
            epsilon=self.epsilon,
            dtype=dtype,
            seed_generator=self._seed_generator,
            **moments,
        )

    def get_config(self):
        unknown = _rows_outside_default_grammar(self.rule)
        if unknown:
            raise ValueError(
                f"RuleOptimizer cannot serialize the rule {self.rule}: it uses {', '.join(unknown)}, "
                "which the default grammar (search_space.GRAMMAR) does not define, so its text could "
                "not be parsed back. Save the weights instead, and rebuild the optimizer in code."
            )
        config = super().get_config()
        config.update(
            {
                "rule": str(self.rule),
                "beta_1": self.beta_1,
                "beta_2": self.beta_2,
                "beta_3": self.beta_3,
                "epsilon": self.epsilon,
                "decay_steps": self.decay_steps,
                "seed": self.seed,
            }
        )
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        """Rebuild from `get_config`; the rule text is parsed with the default grammar."""
        config = dict(config)
        config["rule_or_text"] = parse(config.pop("rule"), GRAMMAR)
        return super().from_config(config, custom_objects=custom_objects)


def applies_sparsely(rule: Rule) -> bool:
    """True when a sparse gradient can update only its rows: d = c(w, t)·g, no state, no noise.

    Then rows with g = 0 get d = 0 and repeated indices add up exactly, as for plain SGD.
    Decided on the rule's sympy form: d(g = 0) = 0 and ∂d/∂g free of g.
    """
    if rule.needs or rule.stochastic or not rule.grammar.has("g"):
        return False
    d = rule.to_sympy()
    g = rule.grammar.row("g").symbol()
    return d.subs(g, 0) == 0 and g not in sp.diff(d, g).free_symbols


def _as_rule(rule_or_text) -> Rule:
    if isinstance(rule_or_text, Rule):
        return rule_or_text
    if isinstance(rule_or_text, str):
        try:
            return parse(rule_or_text, GRAMMAR)
        except ParseError as error:
            raised = ParseError(
                f"Argument `rule_or_text`={rule_or_text!r} is not a rule: {error}", rule_or_text
            )
            raised.position = error.position
            raise raised from None
    raise TypeError(
        "Argument `rule_or_text` must be a search_space.Rule or rule text such as "
        f"'exp(sign(g)*sign(m))*g'. Received: {type(rule_or_text).__name__} {rule_or_text!r}"
    )


def _check_beta(argument: str, beta, slot: str) -> float:
    if isinstance(beta, bool) or not isinstance(beta, Real) or not 0 <= beta < 1:
        raise ValueError(
            f"Argument `{argument}` must be in [0, 1): it is the decay rate of the moving average "
            f"{slot}, which at 1 never leaves zero and whose bias correction 1 − {argument}^t "
            f"divides by zero. Received: {argument}={beta!r}"
        )
    return float(beta)


def _check_decay_steps(decay_steps, rule: Rule):
    if decay_steps is not None and (
        isinstance(decay_steps, bool) or not isinstance(decay_steps, Integral) or decay_steps < 1
    ):
        raise ValueError(
            "Argument `decay_steps` must be a positive int (D, the steps over which the decays "
            f"ld, cd, rd fall) or None. Received: decay_steps={decay_steps!r}"
        )
    if decay_steps is None and rule.uses_decay:
        decays = sorted(o.name for o in rule.operands if o.uses_decay)
        raise ValueError(
            f"The rule {rule} uses the decay {', '.join(decays)}, which is undefined without its "
            "length: set `decay_steps` (usually the number of training steps). Received: decay_steps=None"
        )
    return None if decay_steps is None else int(decay_steps)


def _rows_outside_default_grammar(rule: Rule) -> list[str]:
    names = {name for unit in rule.normal_units for name in unit.tokens if not is_unit_reference(name)}
    return sorted(n for n in names if not GRAMMAR.has(n) or GRAMMAR.row(n) != rule.grammar.row(n))


def _indexed_slices(gradient):
    """`gradient` if it is a `tf.IndexedSlices` (TensorFlow back end), else None."""
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return gradient if isinstance(gradient, tf.IndexedSlices) else None


def _densify(slices):
    import tensorflow as tf

    return tf.convert_to_tensor(slices)
