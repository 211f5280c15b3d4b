"""The grammar: one table of rows that the controller, parser, printers, sympy and back ends read.

A rule is a program of units, unit i computing ``b(u1(op1), u2(op2))``; operand slots take a
grammar operand or the output ``u<j>`` of an earlier unit j < i; the last unit's output is the
update direction d, and ``w ← w − lr·d``. Programs as tokens: `search_space.tokens`.

To add a word, build a row and extend the grammar::

    from search_space import GRAMMAR, Unary
    tanh = Unary("tanh", "tanh({x})", lambda ctx, x: ctx.xp.tanh(x), sympy.tanh, "tanh x",
                 code="xp.tanh({x})")
    grammar = GRAMMAR.extended(tanh)
    rule = parse("tanh(m)*g", grammar)
"""

from __future__ import annotations

import re
from functools import cached_property

from search_space.functions import check_code
from search_space.rows import Binary, Operand, Unary
from search_space.vocabulary import BINARY, OPERANDS, UNARY

_UNIT_REFERENCE = re.compile(r"u\d+")


def unit_reference(index: int) -> str:
    return f"u{index}"


def is_unit_reference(name: str) -> bool:
    return bool(_UNIT_REFERENCE.fullmatch(name))


class Grammar:
    """An immutable vocabulary of operands, unary and binary functions."""

    def __init__(self, operands, unary, binary):
        self.operands: tuple[Operand, ...] = tuple(operands)
        self.unary: tuple[Unary, ...] = tuple(unary)
        self.binary: tuple[Binary, ...] = tuple(binary)
        names = [row.name for row in (*self.operands, *self.unary, *self.binary)]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"grammar rows must have distinct names; repeated: {duplicates}")
        clashing = [n for n in names if is_unit_reference(n)]
        if clashing:
            raise ValueError(f"row names of the form u<number> are reserved for unit references: {clashing}")
        if not self.operands:
            raise ValueError("a grammar needs at least one operand")
        if not any(u.is_identity for u in self.unary):
            raise ValueError("a grammar needs the identity unary function (template '{x}')")
        if not any(b.keeps_left for b in self.binary):
            raise ValueError("a grammar needs the keep-left binary function (template '{x}')")
        for row in (*self.operands, *self.unary, *self.binary):
            check_code(row)
        self._rows = {row.name: row for row in (*self.operands, *self.unary, *self.binary)}

    def __repr__(self) -> str:
        return (
            f"Grammar({len(self.operands)} operands, {len(self.unary)} unary, "
            f"{len(self.binary)} binary)"
        )

    def __eq__(self, other) -> bool:
        return isinstance(other, Grammar) and self.base_vocabulary == other.base_vocabulary

    def __hash__(self) -> int:
        return hash(self.base_vocabulary)

    def row(self, name: str) -> Operand | Unary | Binary:
        try:
            return self._rows[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a word of this grammar") from None

    def has(self, name: str) -> bool:
        return name in self._rows

    @cached_property
    def identity(self) -> Unary:
        return next(u for u in self.unary if u.is_identity)

    @cached_property
    def keep_left(self) -> Binary:
        return next(b for b in self.binary if b.keeps_left)

    @cached_property
    def base_vocabulary(self) -> tuple[str, ...]:
        return tuple(row.name for row in (*self.operands, *self.unary, *self.binary))

    def subset(self, operands=None, unary=None, binary=None) -> "Grammar":
        """A grammar with only the named rows (None keeps a kind whole).

        Identity and keep-left are always kept: single-operand rules need them.
        """

        def pick(rows, names, required=None):
            if names is None:
                return rows
            unknown = sorted(set(names) - {r.name for r in rows})
            if unknown:
                raise ValueError(f"unknown grammar rows {unknown}; known: {[r.name for r in rows]}")
            wanted = set(names) | ({required.name} if required else set())
            return tuple(r for r in rows if r.name in wanted)

        return Grammar(
            pick(self.operands, operands),
            pick(self.unary, unary, self.identity),
            pick(self.binary, binary, self.keep_left),
        )

    def extended(self, *rows: Operand | Unary | Binary) -> "Grammar":
        """A grammar with extra rows appended (each to its kind)."""
        operands, unary, binary = list(self.operands), list(self.unary), list(self.binary)
        for row in rows:
            {Operand: operands, Unary: unary, Binary: binary}[type(row)].append(row)
        return Grammar(operands, unary, binary)


GRAMMAR = Grammar(OPERANDS, UNARY, BINARY)
