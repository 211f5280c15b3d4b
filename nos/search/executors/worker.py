"""The work of one chunk, the same in-process or in a Ray worker: rules through the batched engine.

`evaluate_chunk` imports TensorFlow on first use; a worker process keeps it and its compiled
loops (one per shape) for every later chunk. It returns each rule's `nos.engine.outcome.Outcome`
as the plain dict of `Outcome.to_dict`, so nothing but data crosses process boundaries; the
executor reads them back with `Outcome.from_dict`.
"""

from __future__ import annotations

from nos.search.executors import faults


def evaluate_chunk(texts: list[str], child: dict, attempt: int = 0, fault: dict | None = None) -> list[dict]:
    """Train the rules `texts` (rule text or catalog names) with `nos.engine.grid.evaluate(**child)`.

    Returns one `Outcome.to_dict()` per rule, in order. `attempt` and `fault` drive `faults.trigger`.
    """
    faults.trigger(fault, texts, attempt)
    from nos.engine.grid import evaluate

    return [result.outcome().to_dict() for result in evaluate(texts, **child).results]
