"""What a controller learns from: a repeat is not a discovery.

A search scores a rule once and serves its functional duplicates from the cache; the store
records every sample with its rule's reward. What the controller is *trained* on is shaped:

    learned reward of sample i = R_i                 if fingerprint(x_i) was never seen before
                                                     (earlier in the run, or earlier in the batch)
                                 repeat_reward       otherwise (0 by default; < 0 is a penalty)

Without this, once a policy has converged on one rule every reward in a batch is that rule's
and the advantage R − b is exactly zero: learning stops on whatever rule was found first (in
target mode with PowerSign as target the rnn sat on `g` forever). With it, repeating a rule is
worth nothing, so the policy must keep proposing rules it has not tried, while the baseline b
still favours the neighbourhoods where new rules scored well.

The seen set is rebuilt from the sampling order (a run's store keeps it), so a resumed search
shapes exactly as an uninterrupted one.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence


class NoveltyReward:
    """Maps (fingerprints, rewards) of a batch, in sampling order, to the rewards a controller learns from.

    `repeat_reward=None` turns shaping off: every sample teaches its full reward (a cache hit
    pays like a discovery, the behaviour before novelty existed).
    """

    def __init__(self, repeat_reward: float | None = 0.0, seen: Iterable[str] = ()):
        self.repeat_reward = None if repeat_reward is None else float(repeat_reward)
        self.seen: set[str] = set(seen)

    def novel(self, fingerprints: Sequence[str]) -> list[bool]:
        """Whether each fingerprint is new, in order; all of them are seen afterwards."""
        flags = []
        for fingerprint in fingerprints:
            flags.append(fingerprint not in self.seen)
            self.seen.add(fingerprint)
        return flags

    def shape(self, novel: Sequence[bool], rewards: Sequence[float]) -> list[float]:
        """The rewards to learn from, given which samples are new."""
        if len(novel) != len(rewards):
            raise ValueError(f"got {len(novel)} novelty flags but {len(rewards)} rewards")
        if self.repeat_reward is None:
            return [float(r) for r in rewards]
        return [float(r) if new else self.repeat_reward for new, r in zip(novel, rewards)]

    def __call__(self, fingerprints: Sequence[str], rewards: Sequence[float]) -> list[float]:
        """`shape(novel(fingerprints), rewards)`."""
        return self.shape(self.novel(fingerprints), rewards)

    def __repr__(self) -> str:
        return f"NoveltyReward(repeat_reward={self.repeat_reward}, seen={len(self.seen)})"
