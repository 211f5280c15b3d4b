"""The work of one chunk, the same in-process or in a Ray worker: rules through the batched engine.

`evaluate_chunk` imports TensorFlow on first use; a worker process keeps it and its compiled
loops (one per shape) for every later chunk. Its records are plain dicts of numpy arrays and
numbers, so nothing but data crosses process boundaries.
"""

from __future__ import annotations

from nos.search.executors import faults


def evaluate_chunk(texts: list[str], child: dict, attempt: int = 0, fault: dict | None = None) -> list[dict]:
    """Train the rules `texts` (rule text or catalog names) with `nos.engine.grid.evaluate(**child)`.

    Returns one `record` per rule, in order. `attempt` and `fault` drive `faults.trigger`.
    """
    faults.trigger(fault, texts, attempt)
    from nos.engine.grid import evaluate

    return [record(result) for result in evaluate(texts, **child).results]


def record(result) -> dict:
    """What the reward needs of a `nos.engine.grid.RuleResult`: its score and best learning rate,
    [L, S] arrays, [L, S, C] curves."""
    return {
        "status": result.status,
        "reason": result.reason,
        "best_lr": result.best_lr,
        "score": result.score,
        "learning_rates": result.learning_rates,
        "val_loss": result.val_loss,
        "val_metrics": dict(result.val_metrics),
        "diverged": result.diverged,
        "curves": result.curves,
        "seconds": result.seconds,
    }
