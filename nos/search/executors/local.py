"""The local executor: chunks run one after another in this process, through the batched engine.

What a process cannot do to itself: stop a chunk mid-way. An XLA call does not return to Python
until it is done, and a thread cannot be killed, so the time budget is checked when a chunk
returns: a chunk that took longer than ``timeout_seconds`` has its rules failed ("timeout after
Ns") even though it finished, which keeps the outcome the same as on Ray, where the task is
stopped. A hang inside a chunk hangs the search (use the ray executor to guard against that),
and a crash of the process (``os._exit``, a segfault, the OOM killer) ends the search; its
committed steps survive and ``--resume`` continues. Exceptions raised by a chunk are retried
``retries`` times, then its rules are failed with the exception as the reason.
"""

from __future__ import annotations

import time

from nos.engine.outcome import failed
from nos.search.executors.base import Executor, gave_up, one_line
from nos.search.executors.worker import evaluate_chunk


class LocalExecutor(Executor):
    name = "local"

    def chunk_size(self, n: int) -> int:
        return self.config.chunk_size or n

    def run_chunks(self, chunks, child, fault):
        return [self._run_one(chunk, child, fault) for chunk in chunks]

    def _run_one(self, chunk, child, fault):
        limit = self.config.timeout_seconds
        spent = 0.0
        for attempt in range(self.config.retries + 1):
            started = time.perf_counter()
            try:
                outcomes = evaluate_chunk(chunk, child, attempt, fault)
            except Exception as error:  # noqa: BLE001 — a bug in one chunk must not end the search
                spent += time.perf_counter() - started
                reason = one_line(error)
                continue
            elapsed = time.perf_counter() - started
            if limit and elapsed > limit:
                return failed(f"timeout after {limit:g}s", attempt + 1, spent + elapsed)
            return outcomes
        return gave_up(reason, self.config.retries + 1, spent)
