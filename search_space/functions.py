"""The array functions grammar rows call as ``xp.<name>``, and how each back end spells them.

A row computes its value through ``ctx.xp`` (numpy, ``keras.ops`` or the interpreter's
TensorFlow namespace) and carries a ``code`` template over the same names for the exporters
(see `search_space.rows`). This table is the one place that says how each target spells such a
name; `nos.engine.interpreter.xp` and the exporters' namespaces (`nos.export`) read it. A name is
spelled by its column's pattern unless `SPELLINGS` says otherwise, so a row calling, say,
``xp.tanh`` needs no entry here; a name numpy does not have is refused when the grammar is
built (`check_code`).
"""

from __future__ import annotations

import re

import numpy as np

PATTERNS = {"numpy": "np.{name}", "keras": "ops.{name}", "tf": "tf.math.{name}", "torch": "torch.{name}"}
"""How each target spells numpy's function ``name`` by default."""

SPELLINGS = {
    "clip": {"tf": "tf.clip_by_value", "torch": "torch.clamp"},
    "mod": {"tf": "tf.math.floormod", "torch": "torch.remainder"},
    "power": {"tf": "tf.math.pow", "torch": "torch.pow"},
    "where": {"tf": "tf.where"},
    "ones_like": {"tf": "tf.ones_like"},
    "zeros_like": {"tf": "tf.zeros_like"},
}
"""The exceptions to `PATTERNS`: numpy name → {target: spelling}."""

_CALLS = re.compile(r"\bxp\.(\w+)")


def spelling(name: str, target: str) -> str:
    """How `target` (a key of `PATTERNS`) spells numpy's function `name`."""
    return SPELLINGS.get(name, {}).get(target) or PATTERNS[target].format(name=name)


def functions_called(code: str) -> set[str]:
    """The names a code template calls as ``xp.<name>``."""
    return set(_CALLS.findall(code))


def check_code(row) -> None:
    """ValueError when `row`'s code template calls a function numpy does not have."""
    unknown = sorted(name for name in functions_called(getattr(row, "code", "")) if not callable(getattr(np, name, None)))
    if unknown:
        raise ValueError(f"grammar row {row.name!r} calls xp.{unknown[0]}, which is not a numpy function")
