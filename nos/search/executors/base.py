"""The executor protocol: train rules in chunks, retry chunks that fail, report what failed.

A chunk comes back as the outcome dicts of `worker.evaluate_chunk` or, when it could not be
trained, as one "failed" `Outcome` (`failed`) for all its rules; `Executor.run` returns an
`Outcome` per rule either way."""

from __future__ import annotations

import abc
import math
import time
from typing import ClassVar

from nos.engine.outcome import Outcome, failed
from nos.limits import LANES_PER_CHUNK
from nos.search.config import ExecutorConfig
from nos.search.executors import faults
from nos.search.executors.worker import work_item

REASON_LENGTH = 300


class Executor(abc.ABC):
    """Subclasses implement `run_chunks`; `run` splits, injects test faults and reassembles."""

    name: ClassVar[str]

    def __init__(self, config: ExecutorConfig):
        self.config = config

    def run(self, rules: list, child: dict, deadline: float | None = None) -> list:
        """Train every rule of `rules` (Rules, catalog names or rule texts) with `child` (keyword
        arguments of `nos.engine.grid.evaluate`), sent as `worker.work_item`s.

        Returns one `Outcome` per rule, in order ("failed" where its chunk could not be
        trained: the reason, ``metrics["attempts"]``). With a `deadline` (a `time.perf_counter` value), chunks are at most one
        compiled call (`LANES_PER_CHUNK` lanes) and run `slots()` at a time; none starts after
        the deadline, so the outcomes may cover only a prefix of `rules`.
        """
        if not rules:
            return []
        items = [work_item(rule) for rule in rules]
        size = self.chunk_size(len(items))
        if deadline is not None and not self.config.chunk_size:
            lanes_per_rule = len(child["learning_rates"]) * len(child["seeds"])
            size = min(size, max(1, LANES_PER_CHUNK // lanes_per_rule))
        chunks = [items[i : i + size] for i in range(0, len(items), size)]
        group = len(chunks) if deadline is None else self.slots()
        outcomes = []
        for start in range(0, len(chunks), group):
            if deadline is not None and time.perf_counter() > deadline:
                break
            part = chunks[start : start + group]
            for chunk, outcome in zip(part, self.run_chunks(part, child, faults.from_environment())):
                outcomes += [Outcome.from_dict(o) for o in outcome] if isinstance(outcome, list) else [outcome] * len(chunk)
        return outcomes

    def chunk_size(self, n: int) -> int:
        """Rules per chunk: the configured size, else ``ceil(n / slots())``."""
        return self.config.chunk_size or math.ceil(n / self.slots())

    def slots(self) -> int:
        """How many chunks can run at once."""
        return 1

    @abc.abstractmethod
    def run_chunks(self, chunks: list[list], child: dict, fault: dict | None) -> list:
        """One outcome per chunk: `worker.evaluate_chunk`'s list of dicts (one per rule) or a
        "failed" `Outcome` for all of them."""

    def close(self) -> None:
        """Release what the executor holds (a Ray connection it made)."""


def one_line(error: BaseException) -> str:
    """`error` as a short single line: ``Type: message``."""
    text = " ".join(str(error).split()) or "(no message)"
    text = f"{type(error).__name__}: {text}"
    return text if len(text) <= REASON_LENGTH else text[: REASON_LENGTH - 1] + "…"


def gave_up(reason: str, attempts: int, seconds: float) -> Outcome:
    return failed(f"{reason} ({attempts} attempt{'s' if attempts > 1 else ''})", attempts, seconds)
