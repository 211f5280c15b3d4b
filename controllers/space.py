"""The search space a controller explores: programs of U units over a grammar, as token lists.

A program is 5·U tokens, unit i being ``(op1, op2, u1, u2, b)``; token j is an index into
``grammar.vocabulary(U)`` and must be legal in its slot (``masks[j, token]``): operand slots of
unit i take grammar operands or ``u0 … u{i-1}``, unary slots unary functions, the binary slot
binary functions. The space is the product of the per-slot legal sets, so a uniform draw per
slot is a uniform draw over programs (not over distinct rules: many programs compute one rule).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from search_space import GRAMMAR, Grammar, Rule, Unit
from search_space.grammar import TOKENS_PER_UNIT, is_unit_reference, unit_reference


class SearchSpace:
    """Programs of `units` units over `grammar`: vocabulary, per-slot masks, sampling, mutation."""

    def __init__(self, grammar: Grammar = GRAMMAR, units: int = 2):
        if isinstance(units, bool) or not isinstance(units, (int, np.integer)) or units < 1:
            raise ValueError(f"units must be a positive int, got {units!r}")
        self.grammar = grammar
        self.units = int(units)
        self.vocabulary: tuple[str, ...] = grammar.vocabulary(self.units)
        self.masks: np.ndarray = grammar.slot_masks(self.units)
        self.masks.setflags(write=False)
        self.legal: tuple[np.ndarray, ...] = tuple(np.flatnonzero(mask) for mask in self.masks)
        self._index = {name: i for i, name in enumerate(self.vocabulary)}

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

    def sample(self, rng: np.random.Generator) -> tuple[int, ...]:
        """A program drawn uniformly: each slot uniform over its legal tokens."""
        picks = rng.integers(0, [len(legal) for legal in self.legal])
        return tuple(int(legal[k]) for legal, k in zip(self.legal, picks))

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
                needed.update(references[op] for op in ((op1,) if binary == keep else (op1, op2)) if op in references)
        return live

    def decode(self, tokens: Sequence[int]) -> Rule:
        """The rule of a program; ``decode(t).tokens == tuple(t)``."""
        return Rule.from_tokens(self.check(tokens), self.grammar)

    def encode(self, rule: Rule) -> tuple[int, ...]:
        """The tokens of `rule` in this space.

        A rule of exactly U units keeps its program (so ``encode(decode(t)) == t``). A shorter
        one is prefixed with dead filler units and its unit references shifted; a longer one is
        encoded from its normal form if that fits. ValueError if a word is not in the vocabulary.
        """
        units = rule.units if len(rule.units) <= self.units else rule.normal_units
        if len(units) > self.units:
            raise ValueError(f"{rule} needs {len(units)} units; this space has {self.units}")
        pad = self.units - len(units)
        filler = Unit(
            self.grammar.operands[0].name,
            self.grammar.operands[0].name,
            self.grammar.identity.name,
            self.grammar.identity.name,
            self.grammar.keep_left.name,
        )
        names = [name for _ in range(pad) for name in filler.tokens]
        for unit in units:
            for name in unit.tokens:
                names.append(unit_reference(int(name[1:]) + pad) if is_unit_reference(name) else name)
        missing = sorted({n for n in names if n not in self._index})
        if missing:
            raise ValueError(f"{rule} uses {missing}, which this space's vocabulary lacks")
        return self.check(self._index[n] for n in names)
