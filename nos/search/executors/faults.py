"""Fault injection, for testing how executors survive crashes, errors and hangs.

    NOS_INJECT_FAULT='{"rule": "exp(g3)", "action": "exit", "attempts": 1}'

A chunk that holds the rule text `rule` (as the executor sends it: canonical text, or a catalog
name) misbehaves before training: ``"exit"`` ends the worker process at once (``os._exit(70)``,
what a segfault or the OOM killer does), ``"raise"`` raises a RuntimeError inside the
evaluation, ``"sleep"`` hangs for ``seconds`` (default 3600), ``"slow-start"`` makes a cold Ray
worker's set-up (TensorFlow's import) take ``seconds`` longer, whatever `rule` is. ``attempts``
(default: all) limits the fault to the chunk's first N attempts, so that a retry can succeed.

The executor reads the variable in the driver at each call and sends the fault with every
chunk, so Ray workers need not have it in their environment. Unset, nothing happens.
"""

from __future__ import annotations

import json
import os
import time

VARIABLE = "NOS_INJECT_FAULT"
ACTIONS = ("exit", "raise", "sleep", "slow-start")


def from_environment() -> dict | None:
    """The fault described by $NOS_INJECT_FAULT, checked; None when it is unset or empty."""
    text = os.environ.get(VARIABLE, "").strip()
    if not text:
        return None
    try:
        fault = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"${VARIABLE} is not JSON: {error}") from None
    if not (isinstance(fault, dict) and isinstance(fault.get("rule"), str) and fault.get("action") in ACTIONS):
        shape = f'{{"rule": TEXT, "action": {"|".join(ACTIONS)}, ...}}'
        raise ValueError(f"${VARIABLE} must be {shape}, got {text}")
    return fault


def trigger(fault: dict | None, texts: list[str], attempt: int) -> None:
    """Misbehave as `fault` says when this chunk holds its rule and the attempt is covered."""
    if not fault or fault["action"] == "slow-start" or fault["rule"] not in texts:
        return
    if attempt >= fault.get("attempts", float("inf")):
        return
    if fault["action"] == "exit":
        os._exit(70)
    if fault["action"] == "raise":
        raise RuntimeError(f"injected fault on {fault['rule']}")
    time.sleep(float(fault.get("seconds", 3600)))


def slow_start(fault: dict | None) -> None:
    """Delay a worker's set-up when `fault` is a ``"slow-start"``."""
    if fault and fault["action"] == "slow-start":
        time.sleep(float(fault.get("seconds", 3600)))
