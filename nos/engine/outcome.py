"""`Outcome`: what training one rule taught a search, the one shape it has from engine to store.

The engine makes it (`nos.engine.grid.RuleResult.outcome`: the best learning rate and score are
computed there, once); a worker sends it as the plain dict of `to_dict` and the executor reads
it back with `from_dict`; the reward code sets `reward` (`nos.search.reward`); the run store
writes it as one row's columns and reads it back as an Outcome (`nos.search.store`), so a
cache hit is an Outcome too. Fields, all JSON values:

    status   "ok" (trained, with a best learning rate), "diverged" (no learning rate ran
             without divergence on every seed), "invalid" (not trained: `reason` says why) or
             "failed" (the executor could not train it: `reason` says why)
    reason   why, for any status but a plain "ok" ("" or None then)
    score    the seed-mean signal at the best learning rate (lower is better); None unless ok
    best_lr  the best learning rate; None unless ok
    metrics  per learning rate and seed: learning_rates [L], val_loss [L][S] (None where not
             finite), diverged [L][S], other validation metrics [L][S]; on several tasks
             {"tasks": {name: metrics}, "rewards": {name: reward}}; for a failure {"attempts": n};
             None on a cache hit
    seconds  training time (this rule's share of its evaluation; 0 on a cache hit)
    reward   what the search rewards it with (0 until the reward code sets it)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

STATUSES = ("ok", "diverged", "invalid", "failed")


@dataclass(frozen=True)
class Outcome:
    """One rule's result: status, reason, score and best learning rate, metrics, time, reward."""

    status: str
    reason: str | None = None
    score: float | None = None
    best_lr: float | None = None
    metrics: dict | None = None
    seconds: float = 0.0
    reward: float = 0.0

    def to_dict(self) -> dict:
        """The fields as a plain dict (what crosses process boundaries)."""
        return {field.name: getattr(self, field.name) for field in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: dict) -> Outcome:
        """The Outcome that `to_dict` made `data` of."""
        return cls(**data)

    def repeated(self) -> Outcome:
        """This outcome as a repeat of the rule gets it: without metrics and time."""
        return dataclasses.replace(self, metrics=None, seconds=0.0)


def failed(reason: str, attempts: int = 1, seconds: float = 0.0) -> Outcome:
    """The outcome of a rule the executor could not train."""
    return Outcome("failed", reason, metrics={"attempts": attempts}, seconds=seconds)
