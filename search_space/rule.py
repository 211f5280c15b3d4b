"""`Rule`: an immutable update rule, a straight-line program of units over a grammar."""

from __future__ import annotations

import functools
from functools import cached_property
from typing import Iterable, Sequence

import numpy as np
import sympy as sp

from search_space.canonical import canonical_form, canonical_key
from search_space.context import NumpyContext
from search_space.grammar import GRAMMAR, Grammar, is_unit_reference
from search_space.program import Unit, lower, to_tree
from search_space.rows import Operand
from search_space.syntax import parse_expression, to_text
from search_space.tokens import SLOT_KINDS, to_tokens, to_units


class Rule:
    """An update rule ``w ← w − lr·d`` where d is computed by a program of units.

    `units` is the program as given (e.g. as a controller sampled it; `tokens` encodes it).
    Equality, hashing and `str` use the program's normal form, so a rule equals
    ``parse(str(rule))`` and dead or duplicated units do not make a different rule.
    """

    __slots__ = ("units", "grammar", "__dict__")

    def __init__(self, units: Iterable[Unit], grammar: Grammar = GRAMMAR):
        units = tuple(units)
        if not units:
            raise ValueError("a rule needs at least one unit")
        for index, unit in enumerate(units):
            for slot, (kind, name) in enumerate(zip(SLOT_KINDS, unit.tokens)):
                if kind == "operand" and is_unit_reference(name):
                    if int(name[1:]) >= index:
                        raise ValueError(f"unit {index} refers to {name}, which is not an earlier unit")
                    continue
                if not grammar.has(name) or _kind(grammar.row(name)) != kind:
                    raise ValueError(f"unit {index}, slot {slot}: {name!r} is not a {kind} of the grammar")
        self.units = units
        self.grammar = grammar

    @classmethod
    def from_tokens(cls, tokens: Sequence[int], grammar: Grammar = GRAMMAR) -> "Rule":
        """The rule of a token program (`search_space.tokens`); ValueError on an illegal token."""
        return cls(to_units(tokens, grammar), grammar)

    @property
    def tokens(self) -> tuple[int, ...]:
        """The program as tokens (`search_space.tokens`), unit for unit as given."""
        return to_tokens(self.units, self.grammar)

    @cached_property
    def normal_units(self) -> tuple[Unit, ...]:
        """The normal form: live units only, duplicates merged, in post-order."""
        return lower(to_tree(self.units, self.grammar), self.grammar)

    def normalized(self) -> "Rule":
        return Rule(self.normal_units, self.grammar)

    def __eq__(self, other) -> bool:
        return isinstance(other, Rule) and self.normal_units == other.normal_units

    def __hash__(self) -> int:
        return hash(self.normal_units)

    @cached_property
    def text(self) -> str:
        return to_text(to_tree(self.units, self.grammar))

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Rule({self.text!r})"

    def __len__(self) -> int:
        return len(self.normal_units)

    @cached_property
    def operands(self) -> frozenset[Operand]:
        """The grammar operands the rule reads."""
        names = {n for u in self.normal_units for n in (u.op1, u.op2) if not is_unit_reference(n)}
        return frozenset(self.grammar.row(n) for n in names)

    @property
    def needs(self) -> frozenset[str]:
        """EMA slots (``m``, ``v``, ``y``) an optimizer must keep for this rule."""
        return frozenset().union(*(o.needs for o in self.operands))

    @property
    def uses_decay(self) -> bool:
        return any(o.uses_decay for o in self.operands)

    @property
    def stochastic(self) -> bool:
        functions = {n for u in self.normal_units for n in (u.u1, u.u2)}
        return any(o.stochastic for o in self.operands) or any(
            self.grammar.row(n).stochastic for n in functions
        )

    def evaluate(self, ctx):
        """The update direction d, computed through ``ctx.xp`` (numpy or keras.ops)."""
        operands = {o.name: o.value(ctx) for o in self.operands}
        outputs = []
        for unit in self.normal_units:
            x = self._argument(ctx, unit.op1, unit.u1, operands, outputs)
            binary = self.grammar.row(unit.b)
            if binary.keeps_left:
                outputs.append(x)
                continue
            y = self._argument(ctx, unit.op2, unit.u2, operands, outputs)
            outputs.append(binary.value(ctx, x, y))
        return outputs[-1]

    def _argument(self, ctx, operand, unary, operands, outputs):
        value = outputs[int(operand[1:])] if is_unit_reference(operand) else operands[operand]
        return self.grammar.row(unary).value(ctx, value)

    def numpy_update(self, g, **state) -> np.ndarray:
        """The numpy reference: d for gradient `g` and state fields of `NumpyContext`."""
        ctx = NumpyContext(g=np.asarray(g, dtype=np.float64), **state)
        with np.errstate(all="ignore"):
            return np.asarray(self.evaluate(ctx), dtype=np.float64) * np.ones_like(ctx.g)

    @cached_property
    def sympy(self) -> sp.Expr:
        outputs = []
        for unit in self.normal_units:

            def argument(operand, unary):
                if is_unit_reference(operand):
                    value = outputs[int(operand[1:])]
                else:
                    value = _symbol(self.grammar.row(operand))
                return _symbol(self.grammar.row(unary), value)

            binary = self.grammar.row(unit.b)
            outputs.append(_symbol(binary, argument(unit.op1, unit.u1), argument(unit.op2, unit.u2)))
        return outputs[-1]

    def to_sympy(self) -> sp.Expr:
        """The rule's update direction d as a sympy expression (symbols declared real)."""
        return self.sympy

    @cached_property
    def canonical(self) -> sp.Expr:
        return canonical_form(self.sympy)

    @cached_property
    def key(self) -> str:
        """Hash of the canonical sympy form: equal for algebraically equal rules."""
        return canonical_key(self.canonical)

    @cached_property
    def fingerprint(self) -> str:
        """Hash of the rule's outputs on a fixed bundle of random inputs."""
        from search_space.fingerprint import fingerprint

        return fingerprint(self)

    @cached_property
    def fingerprint_up_to_scale(self) -> str:
        """Hash of the rule's outputs divided by their largest magnitude: equal for c·rule, c > 0."""
        from search_space.fingerprint import fingerprint

        return fingerprint(self, up_to_scale=True)

    def equivalent(self, other: "Rule") -> bool:
        """True when both rules have the same canonical form."""
        return self.key == other.key

    def latex(self) -> str:
        return sp.latex(self.sympy)


def _kind(row) -> str:
    return type(row).__name__.lower()


def parse(text: str, grammar: Grammar = GRAMMAR) -> Rule:
    """Parse infix text such as ``exp(sign(g)*sign(m))*g`` into a `Rule`.

    Raises `ParseError` (a ValueError) with a one-line message on anything else. The parser
    is our own; no text is ever evaluated.
    """
    return Rule(lower(parse_expression(text), grammar, text), grammar)


@functools.lru_cache(maxsize=8192)
def _symbol(row, *arguments) -> sp.Expr:
    """A grammar row's sympy value of `arguments`: sympy expressions are immutable, and many rules
    share their subexpressions (building ``Min(Max(x, -c), c)`` costs milliseconds)."""
    return row.symbol(*arguments)
