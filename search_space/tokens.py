"""Programs as tokens: the one integer encoding of rules, its slot masks, its padding rule, and
the `SearchSpace` that controllers and the Gymnasium env explore.

A program of U units is 5·U tokens, unit i being ``(op1, op2, u1, u2, b)`` and computing
``b(u1(op1), u2(op2))``. A token is an index into ``token_names(grammar, U)``: the grammar's
operands, then its unary functions, then its binary functions, then the unit references
``u0 … u{U-2}`` — so a token's index does not depend on U. Operand slots of unit i take grammar
operands or ``u0 … u{i-1}``, unary slots unary functions, the binary slot binary functions.

Padding (the one rule): a program of n < U units becomes U units by appending pass-through
units ``keep(id(u{i-1}), id(operand 0))`` for i = n … U-1, each of which outputs the previous
unit, so the last unit still computes the rule's direction d. The interpreter's integer
encoding (`nos.engine.interpreter.encoding`) is these tokens under a per-slot index map.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from search_space.grammar import GRAMMAR, Grammar, is_unit_reference, unit_reference
from search_space.program import Unit
from search_space.vocabulary import GRADIENT_SYMBOLS

if TYPE_CHECKING:
    from search_space.rule import Rule

TOKENS_PER_UNIT = 5
SLOT_KINDS = ("operand", "operand", "unary", "unary", "binary")


def token_names(grammar: Grammar, units: int) -> tuple[str, ...]:
    """Every token's name, for programs of up to `units` units (index = token)."""
    return grammar.base_vocabulary + tuple(unit_reference(j) for j in range(max(units - 1, 0)))


def slot_masks(grammar: Grammar, units: int) -> np.ndarray:
    """bool [5·units, vocabulary]: which tokens are legal in each slot."""
    n_operands, n_unary, n_base = len(grammar.operands), len(grammar.unary), len(grammar.base_vocabulary)
    masks = np.zeros((TOKENS_PER_UNIT * units, len(token_names(grammar, units))), dtype=bool)
    for unit in range(units):
        base = TOKENS_PER_UNIT * unit
        for slot in (0, 1):
            masks[base + slot, :n_operands] = True
            masks[base + slot, n_base : n_base + unit] = True
        masks[base + 2 : base + 4, n_operands : n_operands + n_unary] = True
        masks[base + 4, n_operands + n_unary : n_base] = True
    return masks


def pass_through(index: int, grammar: Grammar = GRAMMAR) -> Unit:
    """Padding unit `index` (≥ 1): ``keep(id(u{index-1}), id(operand 0))``, the previous output."""
    identity, keep = grammar.identity.name, grammar.keep_left.name
    return Unit(unit_reference(index - 1), grammar.operands[0].name, identity, identity, keep)


def pad(units: Sequence[Unit], count: int, grammar: Grammar = GRAMMAR) -> tuple[Unit, ...]:
    """`units` padded with pass-through units to `count` units; ValueError if longer."""
    units = tuple(units)
    if len(units) > count:
        raise ValueError(f"a program of {len(units)} units does not fit {count} units")
    return units + tuple(pass_through(i, grammar) for i in range(len(units), count))


def token(name: str, grammar: Grammar = GRAMMAR) -> int:
    """The token of a word: its index in ``token_names(grammar, U)`` for every U that has it."""
    if is_unit_reference(name):
        return len(grammar.base_vocabulary) + int(name[1:])
    if not grammar.has(name):
        raise KeyError(f"{name!r} is not a word of this grammar")
    return grammar.base_vocabulary.index(name)


def to_tokens(units: Sequence[Unit], grammar: Grammar = GRAMMAR) -> tuple[int, ...]:
    """The tokens of a program, unit for unit; KeyError naming a word the grammar lacks."""
    return tuple(token(name, grammar) for unit in units for name in unit.tokens)


def to_units(tokens: Sequence[int], grammar: Grammar = GRAMMAR) -> tuple[Unit, ...]:
    """The program of a token list; ValueError naming the first token illegal in its slot."""
    tokens = [int(t) for t in tokens]
    if not tokens or len(tokens) % TOKENS_PER_UNIT:
        raise ValueError(f"a rule is 5 tokens a unit; got {len(tokens)} tokens")
    count = len(tokens) // TOKENS_PER_UNIT
    names, masks = token_names(grammar, count), slot_masks(grammar, count)
    for position, token in enumerate(tokens):
        if not 0 <= token < len(names) or not masks[position, token]:
            shown = names[token] if 0 <= token < len(names) else token
            raise ValueError(
                f"token {position} ({shown!r}) is not legal in a {SLOT_KINDS[position % TOKENS_PER_UNIT]} "
                f"slot of unit {position // TOKENS_PER_UNIT}"
            )
    words = [names[t] for t in tokens]
    return tuple(Unit(*words[i : i + TOKENS_PER_UNIT]) for i in range(0, len(words), TOKENS_PER_UNIT))


class SearchSpace:
    """Programs of `units` units over `grammar`: token names, per-slot masks, sampling, mutation.

    The space is the product of the per-slot legal sets, so a uniform draw per slot is a uniform
    draw over programs (not over distinct rules: many programs compute one rule).
    """

    def __init__(self, grammar: Grammar = GRAMMAR, units: int = 2):
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units must be a positive int, got {units!r}")
        self.grammar = grammar
        self.units = int(units)
        self.vocabulary: tuple[str, ...] = token_names(grammar, self.units)
        self.masks: np.ndarray = slot_masks(grammar, self.units)
        self.masks.setflags(write=False)
        self.legal: tuple[np.ndarray, ...] = tuple(np.flatnonzero(mask) for mask in self.masks)
        self._index = {name: i for i, name in enumerate(self.vocabulary)}
        self.reads_gradient: np.ndarray = np.array(
            [i < len(grammar.operands) and bool(grammar.operands[i].symbol().free_symbols & GRADIENT_SYMBOLS)
             for i in range(self.vocabulary_size)])
        """bool [vocabulary]: the operand tokens whose value depends on g (g, m, v, y and their functions)."""

    @property
    def length(self) -> int:
        """Tokens per program, 5·U."""
        return TOKENS_PER_UNIT * self.units

    @property
    def vocabulary_size(self) -> int:
        return len(self.vocabulary)

    @property
    def size(self) -> int:
        """Number of distinct programs (token lists), the product of the slots' legal counts."""
        return int(np.prod([len(legal) for legal in self.legal], dtype=object))

    def describe(self) -> dict:
        """A JSON-able identity of the space; saved controllers check it on restore."""
        return {"units": self.units, "vocabulary": list(self.vocabulary)}

    def __eq__(self, other) -> bool:
        return isinstance(other, SearchSpace) and self.describe() == other.describe()

    def __hash__(self) -> int:
        return hash((self.units, self.vocabulary))

    def __repr__(self) -> str:
        return f"SearchSpace({self.grammar!r}, units={self.units}, vocabulary={self.vocabulary_size})"

    def sample(self, rng: np.random.Generator, require_gradient: bool = False) -> tuple[int, ...]:
        """A program drawn uniformly: each slot uniform over its legal tokens.

        With `require_gradient`, the last unit's slots are drawn in order under the masks of
        `gradient_masks` (its op2 uniform over what reads the gradient when op1 does not, its
        binary then uniform over all but keep), so the program's output depends on g by
        construction (`reads_gradient_units`). Each such slot is drawn as above and, when its
        mask rejects the draw, drawn again uniformly within the mask: the same distribution.
        """
        picks = rng.integers(0, [len(legal) for legal in self.legal])
        tokens = [int(legal[k]) for legal, k in zip(self.legal, picks)]
        if require_gradient:
            for slot in range(self.length - TOKENS_PER_UNIT, self.length):
                allowed = np.flatnonzero(self.gradient_masks(tokens[:slot])[slot])
                if tokens[slot] not in allowed and len(allowed):
                    tokens[slot] = int(allowed[int(rng.integers(len(allowed)))])
        return tuple(tokens)

    def reads_gradient_units(self, tokens: Sequence[int]) -> list[bool]:
        """Per complete unit of `tokens` (a program or a prefix of one), whether its output depends
        on g structurally: its op1 does, or its op2 does and its binary is not keep(x, y) = x; an
        operand does when it is a gradient operand (`reads_gradient`) or such a unit's output."""
        keep = self._index[self.grammar.keep_left.name]
        units = []
        for i in range(len(tokens) // TOKENS_PER_UNIT):
            op1, op2, _, _, binary = tokens[i * TOKENS_PER_UNIT:(i + 1) * TOKENS_PER_UNIT]
            units.append(self._operand_reads_gradient(op1, units)
                         or (binary != keep and self._operand_reads_gradient(op2, units)))
        return units

    def gradient_masks(self, prefix: Sequence[int]) -> np.ndarray:
        """bool [5U, vocabulary]: `masks` narrowed, given the program's first tokens `prefix`, so that
        a program completed within them depends on g (see `reads_gradient_units`). Only the last
        unit is narrowed: its op2 must read the gradient if its op1 does not, and then its binary
        must not be keep. A narrowing that would leave a slot empty is not applied."""
        masks = self.masks.copy()
        op1_slot = self.length - TOKENS_PER_UNIT
        if len(prefix) <= op1_slot:
            return masks
        earlier = self.reads_gradient_units(prefix[:op1_slot])
        if self._operand_reads_gradient(prefix[op1_slot], earlier):
            return masks
        readers = self.reads_gradient | np.array([self._operand_reads_gradient(t, earlier)
                                                  for t in range(self.vocabulary_size)])
        second = masks[op1_slot + 1] & readers
        if not second.any():
            return masks  # nothing this slot may hold reads the gradient: no narrowing helps
        masks[op1_slot + 1] = second
        not_keep = np.arange(self.vocabulary_size) != self._index[self.grammar.keep_left.name]
        if (masks[op1_slot + 4] & not_keep).any():
            masks[op1_slot + 4] &= not_keep
        return masks

    def gradient_masks_of(self, programs) -> np.ndarray:
        """bool [n, 5U, vocabulary]: each program's `gradient_masks`, every slot narrowed by that
        program's own earlier tokens (the narrowed slots read only those), so a sampler can pass
        a half-drawn program whose later tokens are placeholders."""
        programs = np.asarray(programs).reshape(-1, self.length)
        out = np.empty((len(programs), self.length, self.vocabulary_size), bool)
        for row, program in enumerate(programs):
            out[row] = self.gradient_masks([int(t) for t in program])
        return out

    def _operand_reads_gradient(self, token: int, units: Sequence[bool]) -> bool:
        name = self.vocabulary[token]
        if is_unit_reference(name):
            return int(name[1:]) < len(units) and units[int(name[1:])]
        return bool(self.reads_gradient[token])

    def mutate(self, tokens: Sequence[int], rng: np.random.Generator) -> tuple[int, ...]:
        """`tokens` with one slot, drawn uniformly, changed to a different legal token (uniform)."""
        tokens = self.check(tokens)
        slots = [j for j, legal in enumerate(self.legal) if len(legal) > 1]
        if not slots:
            raise ValueError("no slot of this space has two legal tokens: nothing can mutate")
        slot = slots[int(rng.integers(len(slots)))]
        others = self.legal[slot][self.legal[slot] != tokens[slot]]
        mutated = list(tokens)
        mutated[slot] = int(others[int(rng.integers(len(others)))])
        return tuple(mutated)

    def check(self, tokens: Sequence[int]) -> tuple[int, ...]:
        """`tokens` as a tuple of ints; ValueError naming the first token illegal in its slot."""
        tokens = tuple(int(t) for t in tokens)
        if len(tokens) != self.length:
            raise ValueError(f"a program of this space is {self.length} tokens; got {len(tokens)}")
        for position, token in enumerate(tokens):
            if not (0 <= token < self.vocabulary_size and self.masks[position, token]):
                shown = self.vocabulary[token] if 0 <= token < self.vocabulary_size else token
                raise ValueError(
                    f"token {position} ({shown!r}) is not legal in slot {position} of this space"
                )
        return tokens

    def live_slots(self, programs) -> np.ndarray:
        """bool [n, 5U]: the slots of each program that its rule depends on.

        The last unit is live, and so is every unit that a live operand slot references; in a
        live unit every slot is live except, under the keep-left binary b(x, y) = x, the second
        operand and its unary. Dead slots can change without changing the rule.
        """
        programs = np.asarray(programs).reshape(-1, self.length)
        keep = self._index[self.grammar.keep_left.name]
        references = {self._index[name]: int(name[1:]) for name in self.vocabulary if is_unit_reference(name)}
        live = np.zeros(programs.shape, bool)
        for row, program in enumerate(programs):
            units = program.reshape(self.units, TOKENS_PER_UNIT)
            needed = {self.units - 1}
            for i in range(self.units - 1, -1, -1):
                if i not in needed:
                    continue
                op1, op2, _, _, binary = units[i]
                slots = [0, 2, 4] if binary == keep else [0, 1, 2, 3, 4]
                live[row, i * TOKENS_PER_UNIT + np.array(slots)] = True
                read = (op1,) if binary == keep else (op1, op2)
                needed.update(references[op] for op in read if op in references)
        return live

    def decode(self, tokens: Sequence[int]) -> Rule:
        """The rule of a program; ``decode(t).tokens == tuple(t)``."""
        from search_space.rule import Rule

        return Rule.from_tokens(self.check(tokens), self.grammar)

    def encode(self, rule: Rule) -> tuple[int, ...]:
        """The tokens of `rule` in this space.

        A rule of exactly U units keeps its program (so ``encode(decode(t)) == t``); a shorter
        one is padded by the one padding rule (`pad`); a longer one is encoded from its normal
        form if that fits. ValueError if a word is not in this space's grammar.
        """
        units = rule.units if len(rule.units) <= self.units else rule.normal_units
        if len(units) > self.units:
            raise ValueError(f"{rule} needs {len(units)} units; this space has {self.units}")
        missing = sorted({n for unit in units for n in unit.tokens if n not in self._index})
        if missing:
            raise ValueError(f"{rule} uses {missing}, which this space's vocabulary lacks")
        return self.check(to_tokens(pad(units, self.units, self.grammar), self.grammar))
