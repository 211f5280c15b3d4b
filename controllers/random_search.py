"""Random search: programs drawn uniformly, the baseline every search is compared with."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from controllers.base import Controller, check_count, reward_stats
from search_space import Rule


@dataclasses.dataclass(frozen=True)
class RandomConfig:
    require_gradient: bool = False
    """Draw only programs whose output depends on g by construction (`SearchSpace.sample`):
    about 30 of the 36% of uniform draws that the validity checks reject are never drawn."""


class RandomSearch(Controller):
    """Each proposal is uniform over the legal programs of the space (with `require_gradient`,
    over those the space's gradient masks allow, slot by slot); `update` learns nothing."""

    name = "random"
    Config = RandomConfig

    def propose(self, n: int) -> list[Rule]:
        draw = self.config.require_gradient
        return [self.space.decode(self.space.sample(self.rng, draw)) for _ in range(check_count(n))]

    def update(self, rules: Sequence[Rule], rewards: Sequence[float]) -> dict[str, float]:
        _, rewards = self.batch(rules, rewards)
        return reward_stats(rewards)
