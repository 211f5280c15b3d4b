"""The three kinds of grammar row: operands, unary functions and binary functions.

A row is everything every consumer needs to know about one word of the language: its token
name, its text template, its sympy form, its value through ``ctx.xp`` (numpy or keras.ops), the
optimizer state it reads, and whether it is random. Adding a word is adding one row.

`code` is the row as Python source, read by the exporters (`nos export`): an expression over
``xp`` (numpy's names: ``xp.exp``, ``xp.where``, …), the placeholders ``{x}``/``{y}``, and the
context names of `search_space.context` (``g w m v y t decay_steps beta_1 beta_2 beta_3 epsilon``,
with ``normal(like)``/``uniform(like)`` for random draws), e.g. ``"xp.clip({x}, -1e-05, 1e-05)"``.
Evaluated with numpy as ``xp`` it must equal `value`; a row without code cannot be exported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import sympy as sp

from search_space.context import MOMENTS
from search_space.syntax import Node, parse_template

STATE_SLOTS = tuple(moment.name for moment in MOMENTS)


@dataclass(frozen=True)
class Operand:
    """A leaf of a rule: the gradient, a statistic of it, the weights, a constant, a decay.

    `value(ctx)` returns the array; `symbol()` its sympy form; `needs` lists the EMA slots of
    `search_space.context` it reads (``"m"``, ``"v"``, ``"y"``); `text` defaults to `name`.
    """

    name: str
    value: Callable
    symbol: Callable[[], sp.Expr]
    doc: str
    needs: frozenset = frozenset()
    stochastic: bool = False
    uses_decay: bool = False
    text: str = ""
    code: str = ""

    @property
    def pattern(self) -> Node:
        return parse_template(self.text or self.name)


@dataclass(frozen=True)
class Unary:
    """A function of one argument; `text` is a template such as ``"exp({x})"``."""

    name: str
    text: str
    value: Callable
    symbol: Callable[[sp.Expr], sp.Expr]
    doc: str
    stochastic: bool = False
    code: str = ""

    @property
    def pattern(self) -> Node:
        return parse_template(self.text)

    @property
    def is_identity(self) -> bool:
        return self.text == "{x}"


@dataclass(frozen=True)
class Binary:
    """A function of two arguments; `text` is a template such as ``"{x} + {y}"``.

    The template ``"{x}"`` marks the keep-left function b(x, y) = x.
    """

    name: str
    text: str
    value: Callable
    symbol: Callable[[sp.Expr, sp.Expr], sp.Expr]
    doc: str
    code: str = ""

    @property
    def pattern(self) -> Node:
        return parse_template(self.text)

    @property
    def keeps_left(self) -> bool:
        return self.text == "{x}"
