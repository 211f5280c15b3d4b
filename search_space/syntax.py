"""Infix syntax of rules: tokenizer, expression tree, parser and printer.

This module knows nothing of the grammar's vocabulary. It turns text into a small expression
tree (`Num`, `Name`, `Call`, `BinOp`, `Neg`) and back. The grammar gives each row a text
template (e.g. ``"exp({x})"``) that is parsed by this same module into a pattern with `Hole`s, so
parsing and printing of every row are driven by the grammar table.

Precedence, loosest first: ``+ -`` (left), ``* /`` (left), unary ``-``, ``^`` (right; ``**`` is
accepted as a synonym). As in Python, ``-a^b`` is ``-(a^b)`` and ``-a*b`` is ``(-a)*b``.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from search_space.errors import ParseError

MAX_TEXT_LENGTH = 4096
MAX_DEPTH = 64


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True)
class Call:
    func: str
    args: tuple


@dataclass(frozen=True)
class BinOp:
    op: str
    left: object
    right: object


@dataclass(frozen=True)
class Neg:
    operand: object


@dataclass(frozen=True)
class Hole:
    """A placeholder in a grammar template: hole 0 is ``{x}``, hole 1 is ``{y}``."""

    index: int


Node = Num | Name | Call | BinOp | Neg | Hole

_BINARY_PRECEDENCE = {"+": 1, "-": 1, "*": 2, "/": 2, "^": 4}
_NEG_PRECEDENCE = 3
_ATOM_PRECEDENCE = 5

_TOKEN = re.compile(
    r"\s*(?:(?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_]*)"
    r"|(?P<op>\*\*|[-+*/^(),]))"
)


def _tokenize(text: str) -> list[tuple[str, str, int]]:
    tokens, pos = [], 0
    while pos < len(text):
        if text[pos:].isspace():
            break
        match = _TOKEN.match(text, pos)
        if not match:
            column = pos + len(text[pos:]) - len(text[pos:].lstrip())
            raise ParseError(f"unexpected character {text[column]!r}", text, column)
        kind = match.lastgroup
        value = match.group(kind)
        start = match.start(kind)
        if kind == "op" and value == "**":
            value = "^"
        tokens.append((kind, value, start))
        pos = match.end()
    tokens.append(("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokenize(text)
        self.index = 0
        self.depth = 0

    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.index]

    def advance(self) -> tuple[str, str, int]:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, expected: str):
        kind, value, position = self.peek()
        found = "the end of the text" if kind == "end" else repr(value)
        raise ParseError(f"expected {expected} but found {found}", self.text, position)

    def expect(self, value: str):
        if self.peek()[1] != value or self.peek()[0] == "end":
            self.fail(repr(value))
        self.advance()

    def expression(self, min_precedence: int = 0) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise ParseError(f"nesting deeper than {MAX_DEPTH} levels", self.text, self.peek()[2])
        left = self.prefix()
        while True:
            kind, op, _ = self.peek()
            precedence = _BINARY_PRECEDENCE.get(op) if kind == "op" else None
            if precedence is None or precedence < min_precedence:
                break
            self.advance()
            right_min = precedence if op == "^" else precedence + 1
            left = BinOp(op, left, self.expression(right_min))
        self.depth -= 1
        return left

    def prefix(self) -> Node:
        kind, value, position = self.peek()
        if kind == "op" and value == "-":
            self.advance()
            return Neg(self.expression(_NEG_PRECEDENCE))
        if kind == "num":
            self.advance()
            number = float(value)
            if not math.isfinite(number):
                raise ParseError(f"number {value} is out of range", self.text, position)
            return Num(number)
        if kind == "name":
            self.advance()
            if self.peek()[1] != "(" or self.peek()[0] != "op":
                return Name(value)
            self.advance()
            args = [self.expression()]
            while self.peek()[:2] == ("op", ","):
                self.advance()
                args.append(self.expression())
            self.expect(")")
            return Call(value, tuple(args))
        if kind == "op" and value == "(":
            self.advance()
            inner = self.expression()
            self.expect(")")
            return inner
        self.fail("an operand, a function call, '-' or '('")


def parse_expression(text: str) -> Node:
    """Parse infix text into an expression tree; raise `ParseError` on anything else."""
    if not isinstance(text, str):
        raise ParseError(f"rule text must be a string, got {type(text).__name__}")
    if len(text) > MAX_TEXT_LENGTH:
        raise ParseError(f"rule text is {len(text)} characters long; the limit is {MAX_TEXT_LENGTH}")
    if not text.strip():
        raise ParseError("rule text is empty", text, 0)
    parser = _Parser(text)
    tree = parser.expression()
    if parser.peek()[0] != "end":
        parser.fail("an operator or the end of the text")
    if depth(tree) > MAX_DEPTH:
        raise ParseError(f"the rule nests deeper than {MAX_DEPTH} levels (e.g. a chain of {MAX_DEPTH}+ operators)")
    return tree


def depth(tree: Node) -> int:
    """Levels of the tree, counted without recursion (left-leaning chains can be long)."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, level = stack.pop()
        deepest = max(deepest, level)
        children = node.args if isinstance(node, Call) else (
            (node.left, node.right) if isinstance(node, BinOp) else (node.operand,) if isinstance(node, Neg) else ()
        )
        stack.extend((child, level + 1) for child in children)
    return deepest


@functools.lru_cache(maxsize=4096)
def parse_template(template: str) -> Node:
    """Parse a grammar row's template: ``{x}`` and ``{y}`` become holes 0 and 1 (trees are
    immutable, so each template is parsed once)."""
    marked = template.replace("{x}", "__hole0__").replace("{y}", "__hole1__")
    return _holes(parse_expression(marked))


def _holes(node: Node) -> Node:
    if isinstance(node, Name) and node.id.startswith("__hole"):
        return Hole(int(node.id[len("__hole")]))
    if isinstance(node, Call):
        return Call(node.func, tuple(_holes(a) for a in node.args))
    if isinstance(node, BinOp):
        return BinOp(node.op, _holes(node.left), _holes(node.right))
    if isinstance(node, Neg):
        return Neg(_holes(node.operand))
    return node


def match(pattern: Node, node: Node, bound: dict[int, Node] | None = None) -> dict[int, Node] | None:
    """Match `node` against `pattern`; return the holes' bindings, or None."""
    bound = {} if bound is None else bound
    if isinstance(pattern, Hole):
        if pattern.index in bound and bound[pattern.index] != node:
            return None
        bound[pattern.index] = node
        return bound
    if type(pattern) is not type(node):
        return None
    if isinstance(pattern, (Num, Name)):
        return bound if pattern == node else None
    if isinstance(pattern, Call):
        if pattern.func != node.func or len(pattern.args) != len(node.args):
            return None
        for p, n in zip(pattern.args, node.args):
            if match(p, n, bound) is None:
                return None
        return bound
    if isinstance(pattern, BinOp):
        if pattern.op != node.op:
            return None
        if match(pattern.left, node.left, bound) is None:
            return None
        return match(pattern.right, node.right, bound)
    return match(pattern.operand, node.operand, bound)


def fill(pattern: Node, holes: tuple[Node, ...]) -> Node:
    """Substitute expression trees for the holes of a template."""
    if isinstance(pattern, Hole):
        return holes[pattern.index]
    if isinstance(pattern, Call):
        return Call(pattern.func, tuple(fill(a, holes) for a in pattern.args))
    if isinstance(pattern, BinOp):
        return BinOp(pattern.op, fill(pattern.left, holes), fill(pattern.right, holes))
    if isinstance(pattern, Neg):
        return Neg(fill(pattern.operand, holes))
    return pattern


def _precedence(node: Node) -> int:
    if isinstance(node, BinOp):
        return _BINARY_PRECEDENCE[node.op]
    if isinstance(node, Neg):
        return _NEG_PRECEDENCE
    return _ATOM_PRECEDENCE


def format_number(value: float) -> str:
    return str(int(value)) if value.is_integer() and abs(value) < 1e15 else repr(value)


def to_text(node: Node) -> str:
    """Print an expression tree with the fewest brackets that parse back to the same tree."""
    if isinstance(node, Num):
        return format_number(node.value)
    if isinstance(node, Name):
        return node.id
    if isinstance(node, Hole):
        return "{x}" if node.index == 0 else "{y}"
    if isinstance(node, Call):
        return f"{node.func}({', '.join(to_text(a) for a in node.args)})"
    if isinstance(node, Neg):
        inner = to_text(node.operand)
        if _precedence(node.operand) <= _NEG_PRECEDENCE:
            inner = f"({inner})"
        return f"-{inner}"
    precedence = _BINARY_PRECEDENCE[node.op]
    left, right = to_text(node.left), to_text(node.right)
    right_assoc = node.op == "^"
    if _precedence(node.left) < precedence or (right_assoc and _precedence(node.left) <= precedence):
        left = f"({left})"
    if _precedence(node.right) < precedence or (not right_assoc and _precedence(node.right) <= precedence):
        right = f"({right})"
    separator = f" {node.op} " if node.op in "+-" else node.op
    return f"{left}{separator}{right}"
