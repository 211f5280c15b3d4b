"""Export a rule as standalone optimizer source code: Keras 3, TF1-compat or PyTorch.

    >>> from nos.export import export_rule
    >>> source = export_rule(KNOWN_RULES["powersign"], "keras")   # a module, as text

The source is generated from the rule's program through the grammar's `code` rows (see
`nos.export.codegen`); rule text and origin appear only inside escaped docstrings. A generated
module imports only its framework, never `nos`.
"""

from __future__ import annotations

import builtins
import keyword
import re

from nos.export import keras as keras_target
from nos.export import tf1 as tf1_target
from nos.export import torch as torch_target
from nos.export.codegen import ExportError
from search_space import CATALOG, KNOWN_RULES, Rule, check_rule

TARGETS = {"keras": keras_target, "tf1": tf1_target, "torch": torch_target}
FORMATS = tuple(TARGETS)

__all__ = ["FORMATS", "ExportError", "catalog_entry", "default_class_name", "export_rule"]


def export_rule(rule: Rule, format: str, class_name: str | None = None, origin: str | None = None) -> str:
    """The source of a module defining an optimizer class that applies `rule`.

    `format` is ``"keras"``, ``"tf1"`` or ``"torch"``. `class_name` defaults to the catalog
    name in CamelCase (``powersign_ld`` → ``PowersignLd``) or ``Rule<key>``. `origin` (e.g.
    ``"search run X, reward Y"``) goes into the docstrings; it defaults to the catalog entry's
    name and reference. Raises ExportError (a ValueError) for an unknown format, a bad class
    name or a grammar row without code, and InvalidRuleError (a ValueError) for a rule that
    must not be trained (`search_space.rule_problem`).
    """
    if not isinstance(rule, Rule):
        raise TypeError(f"export_rule needs a search_space.Rule; got {type(rule).__name__}")
    if format not in TARGETS:
        raise ExportError(f"unknown format {format!r}; formats are {', '.join(FORMATS)}")
    target = TARGETS[format]
    check_rule(rule)
    entry = catalog_entry(rule)
    class_name = class_name or default_class_name(rule)
    if not class_name.isidentifier() or keyword.iskeyword(class_name) or not class_name.isascii():
        raise ExportError(f"class name {class_name!r} is not a Python identifier")
    if class_name in dir(builtins):
        raise ExportError(f"class name {class_name!r} would hide Python's builtin {class_name}")
    if class_name in target.MODULE_NAMES:
        raise ExportError(f"class name {class_name!r} would hide the module's import of {class_name}")
    if origin is None:
        origin = (
            f"catalog rule `{entry.name}` ({entry.note}); {entry.reference}"
            if entry
            else "not a catalog rule; no origin was given"
        )
    return target.render(rule, class_name, origin)


def catalog_entry(rule: Rule):
    """The `KnownRule` that `rule` is (same program, or an equivalent canonical form), or None."""
    for same in (lambda known: known == rule, lambda known: known.equivalent(rule)):
        entry = next((e for e in CATALOG if same(KNOWN_RULES[e.name])), None)
        if entry is not None:
            return entry
    return None


def default_class_name(rule: Rule) -> str:
    """``PowersignLd`` for the catalog's ``powersign_ld``; ``Rule<first 8 hex of key>`` otherwise."""
    entry = catalog_entry(rule)
    if entry is None:
        return f"Rule{rule.key[:8].upper()}"
    return "".join(part.capitalize() for part in re.split(r"[^0-9A-Za-z]+", entry.name) if part)
