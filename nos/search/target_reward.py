"""Target mode: reward a rule by how closely its updates follow a hidden target rule's.

No child model is trained. A fixed bundle of gradient streams (S streams × C coordinates × T
steps, from a fixed seed) is run through each rule with the optimizer's state, exactly as the
optimizer would see it: at step t = 1 … T the EMAs are updated first,

    m_t = β1·m_{t−1} + (1 − β1)·g_t,  v_t = β2·v_{t−1} + (1 − β2)·g_t²,  y_t = β3·y_{t−1} + (1 − β3)·g_t³

then the rule computes d_t from (g_t, w_t, m_t, v_t, y_t, t) with decay_steps D = DECAY_FRACTION·T
(0.8·T: the decays reach their end inside the bundle, so `sign(ld)` is not 1 on every step and
`sign(ld)*AddSign` is not AddSign's equal, as it was with D = T). The streams
are open loop (they do not depend on the rule), so every state is precomputed once and a rule
is evaluated in one vectorised call over all T·S·C entries.

Similarity of a candidate's updates d to the target's d* (both [T, S, C]). Each entry is first
divided by a unit u taken from the target, so that no coordinate dominates by sheer scale:

    relative (default): u = |d*| per entry, and where d* = 0, u = ZERO_SCALE (0.1) × the
                        coordinate's RMS over steps; reward = mean over streams s of
                        max(0, cos(d/u, d*/u)), the cosine taken over the stream's steps and
                        coordinates together (1 iff d = c·d* on the stream, one c > 0 for all
                        its steps: a decaying factor such as `ld*powersign` is not the target),
                        times the support factor (1 + z)/2 when the target is 0 somewhere:
                        z = the fraction of the target's zero entries where d is exactly 0
    cosine:             u = RMS over steps of d* per coordinate; same formula
    mse:                u as for cosine; reward = mean over (t, s) of 1/(1 + ‖(d − d*)/u‖²/‖d*/u‖²)

All lie in [0, 1] and equal 1.0 exactly for a rule computing the target's updates (relative and
cosine: also for positive multiples of them, as a learning rate absorbs the scale). `relative`
tells near-misses apart best; measured on the default bundle with target PowerSign (which is
nowhere 0, so ZERO_SCALE does not enter):

    rule          relative  cosine  mse        rule          relative  cosine  mse
    powersign_2   0.955     0.999   0.935      sgd           0.706     0.932   0.709
    addsign       0.836     0.998   0.931      sign_sgd      0.074     0.290   0.000

A target that is 0 on part of its domain (AddSign, where sign(g) ≠ sign(m)) needs the
ZERO_SCALE floor: with u → 0 there (the floor used to be 10⁻¹²·max) any nonzero entry dominates
the cosine and every rule but the exact target scored ≈ 0.02, no gradient of reward at all;
with u = RMS near-misses scored 0.997–0.999 against AddSign's 1.0, too flat at the top. With
0.1 × RMS (target AddSign, per-step cosines at the time): sgd 0.21, PowerSign 0.81,
`exp(exp(sign(g))^sign(m))*g` 0.89.
No floor separates a rule that leaks only below float64 round-off from the target, though:
`exp(exp(sign(g))^sign(m))^exp(exp(sign(g))^sign(m))*g` is 7.8·10¹⁷·|g| where signs agree and
1.7·|g| where they do not, cosine 1.0 at every floor down to 10⁻⁴, and the rnn settled on it in
searches for AddSign. The support factor scores what the cosine cannot see, whether the rule
stays exactly still where the target does: that rule now scores 0.5 (sgd 0.09, PowerSign
0.40, `exp(exp(sign(g))^sign(m))*g` 0.44), AddSign and its exact equivalents 1.0. A target
that is nowhere 0 (PowerSign) has no support factor.

Cosines were once taken per step (mean over (t, s)); then any rule times a positive schedule
scored 1.0 — `cd*AddSign/2` and `ld*PowerSign` were optima of the reward that are not the
target, and the rnn settled on such rules. Per stream they score 0.83 and 0.87.

`signature(rule)` hashes what the metric sees (each stream's updates up to a positive factor
for relative and cosine): rules with equal signatures get equal rewards, so a search can tell a
repeat from a discovery (`controllers.novelty`).

A rule whose update is non-finite anywhere on the bundle gets 0, as a diverged child run would;
an all-zero stream scores 0 (relative, cosine) and an all-zero step 1/2 (mse). Stochastic rules draw their noise from a
generator seeded anew for each evaluation, so rewards are deterministic. Validity
(`rule_problem`) is not checked here: that is the caller's job, as in the real search.

Streams alternate between two kinds, each coordinate with its own scale 10^U(−3, 1):
  quadratic   — g = h·w + σ·ξ along an SGD trajectory (learning rate 0.1) on a diagonal
                quadratic, h ~ 10^U(−1, 0), σ = |h·w_0|, so sign(g) and sign(m) disagree more
                often as w shrinks;
  random walk — g an AR(1) process with per-coordinate correlation ρ ~ U(0, 0.95), and
                w_{t+1} = w_t − 0.01·g_t.
On the default bundle sign(g) = sign(m) on 70% of the entries.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from search_space import NumpyContext, Rule, resolve_rule
from search_space.context import BETA_1, BETA_2, BETA_3, EPSILON, MOMENTS, ema

METRICS = ("relative", "cosine", "mse")
DECAY_FRACTION = 0.8
"""decay_steps D of the bundle as a fraction of its T steps."""
STREAM = (0, 2)
"""The axes (steps, coordinates) of one stream in [T, S, C] arrays."""
ZERO_SCALE = 0.1
"""relative: where the target's update is 0, a candidate's entry is measured in this fraction of
the coordinate's RMS (see the module docstring)."""


@dataclass(frozen=True)
class GradientStreams:
    """Gradients and weights [T, S, C], and the EMAs the optimizer holds after each step."""

    g: np.ndarray
    w: np.ndarray
    m: np.ndarray
    v: np.ndarray
    y: np.ndarray


def gradient_streams(
    streams=8, coordinates=64, steps=50, seed=0, beta_1=BETA_1, beta_2=BETA_2, beta_3=BETA_3
):
    """The fixed bundle: `streams` streams of `coordinates` coordinates over `steps` steps."""
    rng = np.random.default_rng(seed)
    shape = (steps, streams, coordinates)
    g, w = np.zeros(shape), np.zeros(shape)
    for s in range(streams):
        scale = 10.0 ** rng.uniform(-3, 1, coordinates)
        w_s = rng.standard_normal(coordinates)
        if s % 2 == 0:  # noisy quadratic, SGD trajectory with learning rate 0.1
            curvature = 10.0 ** rng.uniform(-1, 0, coordinates)
            noise = np.abs(curvature * w_s)
            for t in range(steps):
                g[t, s] = scale * (curvature * w_s + noise * rng.standard_normal(coordinates))
                w[t, s] = w_s
                w_s = w_s - 0.1 * g[t, s] / scale
        else:  # AR(1) random walk of the gradient
            rho = rng.uniform(0.0, 0.95, coordinates)
            previous = rng.standard_normal(coordinates)
            for t in range(steps):
                previous = rho * previous + np.sqrt(1 - rho**2) * rng.standard_normal(coordinates)
                g[t, s] = scale * previous
                w[t, s] = w_s
                w_s = w_s - 0.01 * g[t, s]
    betas = {"beta_1": beta_1, "beta_2": beta_2, "beta_3": beta_3}
    averages = {moment.name: np.zeros(shape) for moment in MOMENTS}
    for moment in MOMENTS:
        state = np.zeros((streams, coordinates))
        for t in range(steps):
            state = ema(state, g[t] ** moment.power, betas[moment.beta])  # numpy's power: the streams as recorded
            averages[moment.name][t] = state
    return GradientStreams(g=g, w=w, **averages)


class TargetReward:
    """Callable: a list of rules -> rewards [n] in [0, 1], similarity to `target`'s updates.

    `target` is a Rule, a catalog name ("powersign") or rule text.
    """

    def __init__(
        self,
        target: Rule | str = "powersign",
        *,
        streams: int = 8,
        coordinates: int = 64,
        steps: int = 50,
        seed: int = 0,
        metric: str = "relative",
        zero_scale: float = ZERO_SCALE,
        beta_1: float = BETA_1,
        beta_2: float = BETA_2,
        beta_3: float = BETA_3,
        epsilon: float = EPSILON,
        cache: bool = True,
    ):
        if metric not in METRICS:
            raise ValueError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
        target = resolve_rule(target)
        self.target = target
        self.metric = metric
        self.seed = seed
        self.betas = {"beta_1": beta_1, "beta_2": beta_2, "beta_3": beta_3, "epsilon": epsilon}
        self.streams = gradient_streams(streams, coordinates, steps, seed, beta_1, beta_2, beta_3)
        self._cache: dict | None = {} if cache else None
        self._target = self.updates(target)
        if not np.all(np.isfinite(self._target)) or not np.any(self._target):
            raise ValueError(f"target {target} has non-finite or all-zero updates on the streams")
        zeros = _zeros(self._target)
        self._units = _units(self._target, zeros, elementwise=metric == "relative", zero_scale=zero_scale)
        self._zeros = zeros if metric == "relative" and np.any(zeros) else None
        self._target_scaled = _scaled(self._target / self._units)
        self._target_norm2 = np.sum((self._target / self._units) ** 2, axis=-1)

    def __repr__(self) -> str:
        T, S, C = self.streams.g.shape
        return f"TargetReward({str(self.target)!r}, metric={self.metric!r}, streams={S}, coordinates={C}, steps={T})"

    def updates(self, rule: Rule) -> np.ndarray:
        """The rule's update directions d [T, S, C] along the streams, in float64."""
        bundle = self.streams
        steps = bundle.g.shape[0]
        ctx = NumpyContext(
            g=bundle.g,
            w=bundle.w,
            m=bundle.m,
            v=bundle.v,
            y=bundle.y,
            t=np.arange(1.0, steps + 1.0).reshape(steps, 1, 1),
            decay_steps=float(round(DECAY_FRACTION * steps)),
            rng=np.random.default_rng(self.seed),
            **self.betas,
        )
        with np.errstate(all="ignore"):
            return np.asarray(rule.evaluate(ctx), dtype=np.float64) * np.ones_like(bundle.g)

    def score(self, rule: Rule) -> float:
        """The reward of one rule (cached by normal form)."""
        return self.evaluate(rule)[0]

    def signature(self, rule: Rule) -> str:
        """A hash of what the metric sees of the rule: equal signatures, equal rewards.

        relative and cosine see each stream's updates only up to a positive factor, so `g`
        and `2*g` share a signature (`ld*g` does not); mse sees the updates themselves.
        """
        return self.evaluate(rule)[1]

    def evaluate(self, rule: Rule) -> tuple[float, str]:
        """(reward, signature) of one rule, cached by normal form."""
        if self._cache is not None and rule in self._cache:
            return self._cache[rule]
        d = self.updates(rule)
        result = (self._similarity(d), _signature(d, up_to_scale=self.metric != "mse"))
        if self._cache is not None:
            self._cache[rule] = result
        return result

    def __call__(self, rules) -> np.ndarray:
        return np.array([self.score(rule) for rule in rules], dtype=np.float64)

    def _similarity(self, d: np.ndarray) -> float:
        if not np.all(np.isfinite(d)):
            return 0.0
        with np.errstate(all="ignore"):
            if self.metric in ("cosine", "relative"):
                a, b = _scaled(d / self._units), self._target_scaled
                # dot / sqrt(|a|²·|b|²) per stream: exactly 1.0 when a == b (sqrt(x·x) == x in IEEE arithmetic)
                cos = np.sum(a * b, axis=STREAM) / np.sqrt(np.sum(a * a, axis=STREAM) * np.sum(b * b, axis=STREAM))
                similarity = np.clip(np.nan_to_num(cos, nan=0.0), 0.0, 1.0)
                if self._zeros is not None:
                    similarity = similarity * (1.0 + np.mean(d[self._zeros] == 0)) / 2.0
            else:
                error = np.sum(((d - self._target) / self._units) ** 2, axis=-1) / self._target_norm2
                similarity = 1.0 / (1.0 + np.nan_to_num(error, nan=np.inf))
        return float(np.mean(similarity))


def _signature(d: np.ndarray, up_to_scale: bool) -> str:
    """sha256 of d (divided by each stream's largest |entry| if `up_to_scale`), mantissas rounded
    to 6 decimals so that round-off between equal formulas does not split them."""
    with np.errstate(all="ignore"):
        values = _scaled(d) if up_to_scale and np.all(np.isfinite(d)) else d
        mantissa, exponent = np.frexp(values)
    mantissa = np.round(mantissa, 6) + 0.0  # + 0.0 turns −0 into 0
    return hashlib.sha256(mantissa.tobytes() + exponent.tobytes()).hexdigest()[:16]


def _rms(target: np.ndarray) -> np.ndarray:
    """Each coordinate's RMS over steps, floored at 10⁻¹² of the largest."""
    rms = np.sqrt(np.mean(target**2, axis=0, keepdims=True))
    return np.maximum(rms, 1e-12 * rms.max())


def _zeros(target: np.ndarray) -> np.ndarray:
    """Where the target is zero: |d*| at most 10⁻¹² of its coordinate's RMS."""
    return np.abs(target) <= 1e-12 * _rms(target)


def _units(target: np.ndarray, zeros: np.ndarray, elementwise: bool, zero_scale: float = 1.0) -> np.ndarray:
    """The target's magnitude per coordinate (its RMS) or, elementwise, |d*| where d* is not zero
    and `zero_scale` × the coordinate's RMS where it is."""
    rms = _rms(target)
    if not elementwise:
        return rms * np.ones_like(target)
    return np.where(zeros, zero_scale * rms, np.abs(target))


def _scaled(d: np.ndarray) -> np.ndarray:
    """Each stream d[:, s] divided by its largest |entry| (zero streams stay zero): dot products
    cannot overflow."""
    peak = np.max(np.abs(d), axis=STREAM, keepdims=True)
    return np.divide(d, peak, out=np.zeros_like(d), where=peak > 0)
