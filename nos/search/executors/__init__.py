"""Executors: where the search trains its rules.

    executor = make_executor(ExecutorConfig(name="ray", address="auto"))
    outcomes = executor.run(["exp(sign(g)*sign(m))*g", "adam"], child)   # child: evaluate() kwargs
    # one nos.engine.outcome.Outcome per rule, in order ("failed" where it could not be trained)

The rules of a call are split into chunks; a chunk is the unit of work, retry and failure.
Every chunk runs `nos.search.executors.worker.evaluate_chunk` (the batched engine,
`nos.engine.grid.evaluate`), in this process (`local`) or in a Ray task (`ray`), so both give the
same numbers. A chunk whose worker dies or raises is run again up to ``retries`` times, then its
rules come back as "failed" outcomes with the reason; one that runs past ``timeout_seconds``
comes back as failed with reason "timeout after Ns". Nothing is lost and the search goes on.
"""

from __future__ import annotations

from nos.search.config import ExecutorConfig
from nos.search.executors.base import Executor
from nos.search.executors.local import LocalExecutor

__all__ = ["Executor", "LocalExecutor", "make_executor"]


def make_executor(config: ExecutorConfig | None = None) -> Executor:
    """The executor `config` names ("local" by default); a NosError if it cannot start."""
    config = config or ExecutorConfig()
    if config.name == "ray":
        from nos.search.executors.ray_executor import RayExecutor

        return RayExecutor(config)
    return LocalExecutor(config)
