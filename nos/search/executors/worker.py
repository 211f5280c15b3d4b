"""The work of one chunk, the same in-process or in a Ray worker: rules through the batched engine.

A chunk is a list of `work_item`s, plain data made in the driver: the text a test fault matches
(`faults`) and the rule's normal-form program as unit token names, which the worker turns back
into the `Rule` without parsing or checking it again (the driver checked it). `evaluate_chunk`
imports TensorFlow on first use; a worker process keeps it and its compiled loops (one per
shape) for every later chunk. It returns each rule's `nos.engine.outcome.Outcome` as the plain
dict of `Outcome.to_dict`, so nothing but data crosses process boundaries; the executor reads
them back with `Outcome.from_dict`.
"""

from __future__ import annotations

from nos.search.executors import faults
from search_space import Rule, resolve_rule
from search_space.program import Unit


def work_item(rule) -> tuple[str, list[list[str]]]:
    """(text, program) of `rule` (a Rule, catalog name or rule text): the text as given (a Rule's
    canonical text) and its normal-form units, five token names each."""
    text = rule if isinstance(rule, str) else str(rule)
    return text, [list(unit.tokens) for unit in resolve_rule(rule).normal_units]


def evaluate_chunk(items: list, child: dict, attempt: int = 0, fault: dict | None = None) -> list[dict]:
    """Train the `work_item`s `items` with `nos.engine.grid.evaluate(**child)`.

    Returns one `Outcome.to_dict()` per rule, in order. `attempt` and `fault` drive `faults.trigger`.
    """
    faults.trigger(fault, [text for text, _ in items], attempt)
    from nos.engine.grid import evaluate

    rules = [Rule([Unit(*unit) for unit in program]) for _, program in items]
    return [result.outcome().to_dict() for result in evaluate(rules, **child).results]
