"""The controller protocol: propose rules, learn from their rewards, save and restore.

    rules = controller.propose(n)             # n rules of controller.space
    stats = controller.update(rules, rewards) # {"losses/pg_loss": …, "controller/entropy": …}
    controller.save(directory)                # JSON (+ TensorFlow checkpoint for the rnn)
    other.restore(directory)                  # `other` now continues exactly as `controller`

A controller is built from its space, an explicit seed and a config dataclass (`Config`, one
docstring per field). Everything random flows from the seed through generators whose state is
saved, so a restored controller makes the same next proposals and the same updates as the one
that was saved. Nothing is pickled: state is JSON, weights are TensorFlow checkpoints.
"""

from __future__ import annotations

import abc
import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar

import numpy as np

from search_space import Rule
from search_space.tokens import SearchSpace

STATE_FILE = "controller.json"


@dataclasses.dataclass(frozen=True)
class NoConfig:
    """A controller without options."""


class Controller(abc.ABC):
    """Base class: subclasses set `name` and `Config`, and implement `propose` and `update`."""

    name: ClassVar[str]
    Config: ClassVar[type] = NoConfig

    def __init__(self, space: SearchSpace, seed: int = 0, **config):
        if not isinstance(space, SearchSpace):
            raise TypeError(f"space must be a controllers.SearchSpace, got {type(space).__name__}")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        unknown = sorted(set(config) - set(self.options()))
        if unknown:
            valid = ", ".join(self.options()) or "(none)"
            raise ValueError(
                f"controller {self.name!r} has no option {', '.join(map(repr, unknown))}; "
                f"valid options: {valid}"
            )
        self.config = self.Config(**config)
        self.space = space
        self.seed = int(seed)
        self.rng = np.random.default_rng(self.seed)

    @classmethod
    def options(cls) -> dict:
        """Config keys and their defaults."""
        return {f.name: _default(f) for f in dataclasses.fields(cls.Config)}

    @abc.abstractmethod
    def propose(self, n: int) -> list[Rule]:
        """n rules of the space (not necessarily distinct, not necessarily valid)."""

    @abc.abstractmethod
    def update(self, rules: Sequence[Rule], rewards: Sequence[float]) -> dict[str, float]:
        """Learn from the rewards of `rules`; return statistics with namespaced names."""

    # --- persistence: JSON state here, subclasses add theirs -------------------------------

    def state(self) -> dict:
        """JSON-able state beyond the numpy generator (populations, baselines, counters)."""
        return {}

    def load_state(self, state: dict) -> None:
        """Inverse of `state`."""

    def save_weights(self, directory: Path) -> None:
        """Write non-JSON state (weights, optimizer, TF generators) into `directory`."""

    def restore_weights(self, directory: Path) -> None:
        """Inverse of `save_weights`."""

    def save(self, directory) -> None:
        """Write everything needed to continue into `directory` (created if missing)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        document = {
            "controller": self.name,
            "seed": self.seed,
            "config": dataclasses.asdict(self.config),
            "space": self.space.describe(),
            "rng": self.rng.bit_generator.state,
            "state": self.state(),
        }
        self.save_weights(directory)
        (directory / STATE_FILE).write_text(json.dumps(document, indent=1))

    def restore(self, directory) -> None:
        """Continue from a checkpoint that `save` wrote with the same controller, config and space."""
        directory = Path(directory)
        path = directory / STATE_FILE
        if not path.is_file():
            raise FileNotFoundError(f"no controller checkpoint in {directory} (missing {STATE_FILE})")
        document = json.loads(path.read_text())
        if document["controller"] != self.name:
            raise ValueError(f"{directory} holds a {document['controller']!r} controller, not {self.name!r}")
        if document["space"] != self.space.describe():
            raise ValueError(f"{directory} was saved with a different search space than {self.space!r}")
        saved, mine = document["config"], _jsonable(dataclasses.asdict(self.config))
        differing = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
        if differing:
            shown = ", ".join(f"{k}={saved.get(k)!r} (here {mine.get(k)!r})" for k in differing)
            raise ValueError(f"{directory} was saved with a different config: {shown}")
        self.seed = document["seed"]
        self.rng.bit_generator.state = document["rng"]
        self.load_state(document["state"])
        self.restore_weights(directory)

    # --- helpers for subclasses --------------------------------------------------------------

    def batch(self, rules: Sequence[Rule], rewards: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
        """Tokens [n, 5U] of `rules` and rewards [n] as float64; ValueError on a mismatch."""
        rules = list(rules)
        rewards = np.asarray(rewards, dtype=np.float64).reshape(-1)
        if len(rules) != len(rewards):
            raise ValueError(f"got {len(rules)} rules but {len(rewards)} rewards")
        bad = np.flatnonzero(~np.isfinite(rewards))
        if bad.size:
            raise ValueError(f"rewards must be finite; reward {bad[0]} is {rewards[bad[0]]}")
        tokens = np.array([self.space.encode(rule) for rule in rules], dtype=np.int64)
        return tokens.reshape(len(rules), self.space.length), rewards

    def decode(self, tokens) -> list[Rule]:
        return [self.space.decode(row) for row in np.asarray(tokens)]

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.space!r}, seed={self.seed}, {self.config})"


def reward_stats(rewards: np.ndarray) -> dict[str, float]:
    """Statistics every controller reports about a batch of rewards."""
    if rewards.size == 0:
        return {}
    return {
        "controller/reward_mean": float(rewards.mean()),
        "controller/reward_max": float(rewards.max()),
    }


def check_count(n) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"the number of proposals must be a non-negative int, got {n!r}")
    return int(n)


def _default(field):
    if field.default is not dataclasses.MISSING:
        return field.default
    return field.default_factory()


def _jsonable(value):
    return json.loads(json.dumps(value))
