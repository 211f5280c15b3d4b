"""Functional fingerprints: a rule's outputs on a fixed bundle of random inputs, hashed.

Two rules with equal fingerprints compute the same numbers on the bundle, so a search may share
their reward (AutoML-Zero's functional-equivalence cache). Outputs are rounded to
`SIGNIFICANT_DIGITS` so that float round-off between equal formulas does not split them.
Random rows are made deterministic here: noise is a fixed draw of the bundle, and dropout's
uniform draw is a hash of its argument, so the same expression drops the same entries.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

import numpy as np

from search_space.context import NumpyContext

BUNDLE_SIZE = 64
SIGNIFICANT_DIGITS = 6
DECAY_STEPS = 100


class ProbeContext(NumpyContext):
    """A deterministic context: the bundle's noise, and dropout draws hashed from the argument."""

    def normal(self, like):
        return self.noise

    def uniform(self, like):
        x = np.asarray(like, dtype=np.float64)
        with np.errstate(all="ignore"):
            scrambled = np.sin(np.nan_to_num(x) * 12.9898 + 78.233) * 43758.5453
        return scrambled - np.floor(scrambled)


@lru_cache(maxsize=None)
def probe_bundle(seed: int = 0) -> dict:
    """Fields of a ProbeContext: gradients over several scales, EMAs, weights, steps."""
    rng = np.random.default_rng(seed)
    n = BUNDLE_SIZE
    scale = 10.0 ** rng.uniform(-3, 1, n)
    g = rng.standard_normal(n) * scale
    m = 0.5 * g + rng.standard_normal(n) * scale * 0.1
    return dict(
        g=g,
        m=m,
        v=m * m + np.abs(rng.standard_normal(n)) * scale**2 * 0.1,
        y=rng.standard_normal(n) * scale**3,
        w=rng.standard_normal(n),
        t=rng.integers(1, 2 * DECAY_STEPS, n).astype(np.float64),
        decay_steps=float(DECAY_STEPS),
        noise=rng.standard_normal(n),
    )


def probe(rule, seed: int = 0) -> np.ndarray:
    """The rule's update direction on probe bundle `seed`, in float64."""
    fields = dict(probe_bundle(seed))
    noise = fields.pop("noise")
    ctx = ProbeContext(**fields)
    ctx.noise = noise
    with np.errstate(all="ignore"):
        return np.asarray(rule.evaluate(ctx), dtype=np.float64) * np.ones(BUNDLE_SIZE)


def fingerprint(rule, up_to_scale: bool = False) -> str:
    """Hash of the rule's outputs on probe bundle 0, rounded to `SIGNIFICANT_DIGITS`.

    `up_to_scale`: of the outputs divided by their largest |value|, so that c·rule (c > 0) has
    the fingerprint of rule: the same optimizer once the learning rate is tuned.
    """
    values = probe(rule) + 0.0
    peak = np.max(np.abs(values)) if np.all(np.isfinite(values)) else 0.0
    if up_to_scale and peak > 0:
        values = values / peak
    text = ",".join(f"{x:.{SIGNIFICANT_DIGITS - 1}e}" if np.isfinite(x) else str(x) for x in values)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


PROBE_SEEDS = (0, 1)
"""Bundles a scale comparison looks at: two independent draws, so a coincidence on one fails."""


def positive_multiple(rule, target, rtol: float = 1e-6) -> float | None:
    """c > 0 such that rule = c·target on the probe bundles, else None.

    A positive multiple of a rule is the same optimizer once the learning rate is tuned
    (lr·c·d = (lr·c)·d), so a search that finds c·PowerSign has found PowerSign. The test:
    c = ⟨d, d*⟩/⟨d*, d*⟩ > 0 and |d − c·d*| ≤ rtol·|c·d*| entry by entry on every bundle of
    `PROBE_SEEDS`, with d exactly 0 wherever d* is (a huge c must not hide a nonzero update
    under round-off: `exp(e·exp(…))·g` is no multiple of AddSign); every value finite. c = 1 is
    functional equality up to rounding.
    """
    scale = None
    for seed in PROBE_SEEDS:
        d, target_d = probe(rule, seed), probe(target, seed)
        if not (np.all(np.isfinite(d)) and np.all(np.isfinite(target_d))) or not np.any(target_d):
            return None
        with np.errstate(all="ignore"):  # huge finite outputs may overflow a dot product: no multiple
            c = float(np.dot(d, target_d) / np.dot(target_d, target_d))
            if not (c > 0 and np.isfinite(c)):
                return None
            if np.any(np.abs(d - c * target_d) > rtol * np.abs(c * target_d)):
                return None
        if scale is not None and abs(c - scale) > rtol * scale:
            return None
        scale = c
    return scale
