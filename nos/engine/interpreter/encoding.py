"""Rules as data: K programs in one int32 tensor, and the row table a compiled kernel computes.

A rule's normal-form program of n units becomes n rows of five indices

    (op1, op2, u1, u2, b)

where an operand index j < n_operands names ``grammar.operands[j]`` and j = n_operands + i names
the output of unit i < the current unit, ``u1``/``u2`` index ``grammar.unary`` and ``b`` indexes
``grammar.binary``. These are the tokens of `search_space.tokens` under a per-field index map
(`field_index`), and a program shorter than the batch's U units is padded by the one padding
rule there (pass-through units ``keep(id(u_prev), id(operand 0))``).

Indices are into the grammar's rows, not into any batch. A `RowTable` says which indices a
compiled kernel handles at each of the U·5 positions: `RowTable.full` handles every program of
the grammar (a search space: one compile serves every batch), `RowTable.of` only what a given
set of programs uses (an evaluation: rows nobody uses are never computed).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from search_space import GRAMMAR, Grammar, Rule
from search_space.grammar import is_unit_reference
from search_space.rows import STATE_SLOTS
from search_space.tokens import pad, pass_through, slot_masks, to_tokens, token_names

FIELDS = ("op1", "op2", "u1", "u2", "b")


def field_index(grammar: Grammar, units: int) -> np.ndarray:
    """int32 [5, tokens]: the interpreter's index of each token in each field (-1: illegal).

    Operand fields: operand j → j, unit reference u_i → n_operands + i; unary and binary fields:
    the function's position among its kind's rows.
    """
    names = token_names(grammar, units)
    n_operands, n_unary = len(grammar.operands), len(grammar.unary)
    index = np.full((len(FIELDS), len(names)), -1, np.int32)
    for token, name in enumerate(names):
        if is_unit_reference(name):
            index[0:2, token] = n_operands + int(name[1:])
        elif token < n_operands:
            index[0:2, token] = token
        elif token < n_operands + n_unary:
            index[2:4, token] = token - n_operands
        else:
            index[4, token] = token - n_operands - n_unary
    return index


def to_fields(units, count: int, grammar: Grammar) -> np.ndarray:
    """int32 [len(units), 5]: a program's units (of a batch of `count` units) as fields."""
    tokens = np.asarray(to_tokens(units, grammar), np.int64).reshape(len(units), len(FIELDS))
    return field_index(grammar, count)[np.arange(len(FIELDS)), tokens]


def encode_rule(rule: Rule, units: int, grammar: Grammar = GRAMMAR) -> np.ndarray:
    """int32 [units, 5]: the rule's normal-form program, padded by the one padding rule."""
    if rule.grammar != grammar:
        raise ValueError(f"{rule}: the rule's grammar differs from the interpreter's grammar")
    if len(rule.normal_units) > units:
        raise ValueError(f"{rule}: {len(rule.normal_units)} units do not fit a batch of {units} units")
    return to_fields(pad(rule.normal_units, units, grammar), units, grammar)


def padding(start: int, units: int, grammar: Grammar) -> np.ndarray:
    """int32 [units - start, 5]: the pass-through units that pad a program of `start` units."""
    return to_fields([pass_through(i, grammar) for i in range(start, units)], units, grammar)


def pad_programs(programs: np.ndarray, units: int, grammar: Grammar = GRAMMAR) -> np.ndarray:
    """Programs [K, U, 5] padded to [K, units, 5] (`search_space.tokens.pad`)."""
    programs = np.asarray(programs, np.int32)
    start = programs.shape[1]
    if start >= units:
        return programs
    tail = np.broadcast_to(padding(start, units, grammar), (programs.shape[0], units - start, len(FIELDS)))
    return np.concatenate([programs, tail], axis=1)


def encode(rules, units: int | None = None, grammar: Grammar = GRAMMAR) -> np.ndarray:
    """int32 [K, U, 5] for K rules; U is `units` or the longest normal form among them."""
    rules = list(rules)
    if not rules:
        raise ValueError("encode needs at least one rule")
    units = max(len(r.normal_units) for r in rules) if units is None else int(units)
    return np.stack([encode_rule(r, units, grammar) for r in rules])


@dataclass(frozen=True)
class RowTable:
    """The indices a compiled kernel handles: ``allowed[i][f]`` for field f of unit i.

    Hashable, so it is part of a compiled loop's cache key. ``operands``, ``state`` and
    ``stochastic`` follow from it: the operand rows computed each step, the EMA slots kept, and
    whether any random row is computed.
    """

    grammar: Grammar
    allowed: tuple[tuple[tuple[int, ...], ...], ...]

    @property
    def units(self) -> int:
        return len(self.allowed)

    @property
    def size(self) -> int:
        """The number of (position, index) entries: a rough measure of the kernel's work."""
        return sum(len(indices) for fields in self.allowed for indices in fields)

    @classmethod
    def full(cls, grammar: Grammar = GRAMMAR, units: int = 1) -> RowTable:
        """Every program of `grammar` with up to `units` units: each slot's legal tokens, as fields."""
        index, masks = field_index(grammar, units), slot_masks(grammar, units)
        masks = masks.reshape(units, len(FIELDS), -1)
        allowed = tuple(
            tuple(tuple(sorted(set(index[f, masks[i, f]].tolist()))) for f in range(len(FIELDS)))
            for i in range(units)
        )
        return cls(grammar, allowed)

    @classmethod
    def of(cls, programs: np.ndarray, grammar: Grammar = GRAMMAR) -> RowTable:
        """Exactly the indices that `programs` [K, U, 5] use at each position."""
        programs = np.asarray(programs)
        allowed = tuple(
            tuple(tuple(sorted(set(programs[:, i, f].tolist()))) for f in range(len(FIELDS)))
            for i in range(programs.shape[1])
        )
        return cls(grammar, allowed)

    def covers(self, programs: np.ndarray) -> bool:
        """Whether every index of `programs` [K, U, 5] is handled at its position."""
        programs = np.asarray(programs)
        if programs.shape[1] != self.units:
            return False
        return all(
            np.isin(programs[:, i, f], self.allowed[i][f]).all()
            for i in range(self.units)
            for f in range(len(FIELDS))
        )

    def padded(self, units: int) -> RowTable:
        """This table extended to `units` units by the pass-through units of `pad_programs`."""
        if units <= self.units:
            return self
        extra = tuple(tuple((int(i),) for i in row) for row in padding(self.units, units, self.grammar))
        return RowTable(self.grammar, self.allowed + extra)

    def union(self, other: RowTable) -> RowTable:
        if other.grammar != self.grammar or other.units != self.units:
            raise ValueError("row tables of different grammars or unit counts do not combine")
        allowed = tuple(
            tuple(tuple(sorted(set(a) | set(b))) for a, b in zip(mine, theirs))
            for mine, theirs in zip(self.allowed, other.allowed)
        )
        return RowTable(self.grammar, allowed)

    def uses_second_argument(self, unit: int) -> bool:
        """False when every binary row allowed at `unit` keeps its left argument."""
        return any(not self.grammar.binary[b].keeps_left for b in self.allowed[unit][4])

    @property
    def operands(self) -> tuple[int, ...]:
        """Indices of the grammar operands read anywhere."""
        n_operands = len(self.grammar.operands)
        used = set()
        for i, fields in enumerate(self.allowed):
            used.update(fields[0])
            if self.uses_second_argument(i):
                used.update(fields[1])
        return tuple(sorted(j for j in used if j < n_operands))

    @property
    def state(self) -> tuple[str, ...]:
        needs = set().union(*(self.grammar.operands[j].needs for j in self.operands))
        return tuple(slot for slot in STATE_SLOTS if slot in needs)

    @property
    def stochastic(self) -> bool:
        unary = {
            u
            for i, fields in enumerate(self.allowed)
            for u in fields[2] + (fields[3] if self.uses_second_argument(i) else ())
        }
        return any(self.grammar.operands[j].stochastic for j in self.operands) or any(
            self.grammar.unary[u].stochastic for u in unary
        )
