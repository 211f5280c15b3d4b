"""Rule → Python statements over a target's array namespace, read from the grammar's `code` rows.

Every grammar row carries a `code` template written against numpy's names (``xp.exp({x})``,
``m / (1.0 - xp.power(beta_1, t))``; see `search_space.rows`). A target — Keras, TF1, torch —
is a `Namespace`: its column of `search_space.functions` (how it spells each ``xp`` function:
``ops.exp``, ``tf.math.exp``, ``torch.exp``) and how it spells each context name (``normal`` → ``self._normal``). `rule_code` turns a rule's program into
straight-line statements, one per operand and one per unit::

    sign_g = torch.sign(g)
    sign_m = torch.sign(m)
    u0 = sign_g * sign_m
    direction = torch.exp(u0) * g

The templates are parsed with `ast` and substituted node by node, so precedence is exact and
only whitelisted syntax (arithmetic, comparisons, calls of ``xp`` functions, number literals,
context names) can reach the output. Rule text never does: names come from the program.
"""

from __future__ import annotations

import ast
import copy
import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from search_space.functions import spelling
from search_space.grammar import is_unit_reference

# What a code template may read besides ``xp`` and its placeholders (see search_space.context).
CONTEXT_NAMES = (
    "g",
    "w",
    "m",
    "v",
    "y",
    "t",
    "decay_steps",
    "beta_1",
    "beta_2",
    "beta_3",
    "epsilon",
    "normal",
    "uniform",
)
RANDOM_DRAWS = ("normal", "uniform")
RESULT = "direction"
_PLACEHOLDERS = {"{x}": "__x__", "{y}": "__y__"}
_ALLOWED = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Compare,
    ast.Call,
    ast.Constant,
    ast.Name,
    ast.Attribute,
    ast.Load,
    ast.operator,
    ast.unaryop,
    ast.cmpop,
)


class ExportError(ValueError):
    """A rule, row or name that cannot be turned into source code."""


@dataclass(frozen=True)
class Namespace:
    """How one target spells the names of the code templates.

    `functions` is the target's column of `search_space.functions` (``"torch"``: ``xp.clip`` →
    ``torch.clamp``); `names` maps context names that the target spells differently
    (``"normal"`` → ``"self._normal"``); `reserved` lists local names of the generated method
    that statements must not rebind.
    """

    label: str
    functions: str
    names: Mapping[str, str] = field(default_factory=dict)
    reserved: frozenset[str] = frozenset()


@dataclass(frozen=True)
class RuleCode:
    """A rule as statements: ``name = expression`` lines, then `result`, an expression of d."""

    statements: tuple[tuple[str, str], ...]
    result: str
    reads: frozenset[str]
    operands: tuple[str, ...]

    def lines(self, indent: str) -> list[str]:
        return [f"{indent}{name} = {expression}" for name, expression in self.statements]


def template(row) -> ast.expr:
    """The parsed `code` of a grammar row, placeholders as ``__x__``/``__y__``; checked syntax."""
    if not getattr(row, "code", ""):
        raise ExportError(
            f"grammar row {row.name!r} has no code template, so rules using it cannot be exported; "
            "give the row code=... (see search_space.rows)"
        )
    source = row.code
    for placeholder, name in _PLACEHOLDERS.items():
        source = source.replace(placeholder, name)
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError:
        raise ExportError(f"grammar row {row.name!r}: code {row.code!r} is not a Python expression") from None
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED) or (
            isinstance(node, ast.Constant) and type(node.value) not in (int, float)
        ):
            raise ExportError(
                f"grammar row {row.name!r}: code {row.code!r} uses {type(node).__name__}, "
                "which code templates may not (arithmetic, comparisons, calls and numbers only)"
            )
        if isinstance(node, ast.Call) and node.keywords:
            raise ExportError(f"grammar row {row.name!r}: code {row.code!r} passes keyword arguments")
    return tree.body


class _Substitute(ast.NodeTransformer):
    """Replace placeholders by arguments, ``xp.f`` and context names by the target's spelling."""

    def __init__(self, row, namespace: Namespace, arguments: Mapping[str, ast.expr]):
        self.row, self.namespace, self.arguments = row, namespace, arguments
        self.reads: set[str] = set()

    def visit_Attribute(self, node):
        if not (isinstance(node.value, ast.Name) and node.value.id == "xp"):
            raise ExportError(f"grammar row {self.row.name!r}: only xp.<function> attributes are allowed")
        if not callable(getattr(np, node.attr, None)):
            raise ExportError(f"grammar row {self.row.name!r} calls xp.{node.attr}, which is not a numpy function")
        return _expression(spelling(node.attr, self.namespace.functions))

    def visit_Name(self, node):
        if node.id in self.arguments:
            return copy.deepcopy(self.arguments[node.id])
        if node.id not in CONTEXT_NAMES:
            raise ExportError(
                f"grammar row {self.row.name!r}: code reads {node.id!r}, which is not a context name "
                f"({', '.join(CONTEXT_NAMES)})"
            )
        self.reads.add(node.id)
        return _expression(self.namespace.names.get(node.id, node.id))


def _expression(source: str) -> ast.expr:
    return ast.parse(source, mode="eval").body


def identifier(name: str, taken: set[str]) -> str:
    """A fresh Python identifier for grammar name `name` (``sign(m)`` → ``sign_m``)."""
    base = re.sub(r"\W+", "_", name, flags=re.ASCII).strip("_") or "operand"
    if base[0].isdigit():
        base = f"c{base}"
    if base in CONTEXT_NAMES:
        base = f"{base}_hat"  # m, v, y: the rule reads the bias-corrected EMAs
    candidate, n = base, 1
    while candidate in taken or keyword.iskeyword(candidate):
        n += 1
        candidate = f"{base}_{n}"
    taken.add(candidate)
    return candidate


class _Builder:
    """Collects statements; `apply` fills a row's template with argument expressions."""

    def __init__(self, namespace: Namespace):
        self.namespace = namespace
        self.taken = set(CONTEXT_NAMES) | set(namespace.reserved) | {"xp"}
        self.statements: list[tuple[str, str]] = []
        self.reads: set[str] = set()

    def apply(self, row, arguments: Mapping[str, ast.expr]) -> ast.expr:
        tree = template(row)
        uses = {
            name: sum(isinstance(n, ast.Name) and n.id == name for n in ast.walk(tree)) for name in arguments
        }
        arguments = {
            name: self.hoist(f"{row.name}_arg", value) if uses[name] > 1 else value
            for name, value in arguments.items()
        }
        substitute = _Substitute(row, self.namespace, arguments)
        result = substitute.visit(copy.deepcopy(tree))
        self.reads |= substitute.reads
        return result

    def hoist(self, hint: str, value: ast.expr) -> ast.expr:
        """Bind `value` to a name so that a template using it twice evaluates it once."""
        if isinstance(value, ast.Name):
            return value
        return self.bind(identifier(hint, self.taken), value)

    def bind(self, name: str, value: ast.expr) -> ast.Name:
        self.statements.append((name, ast.unparse(value)))
        return ast.Name(name, ast.Load())


def rule_code(rule, namespace: Namespace) -> RuleCode:
    """The statements computing `rule`'s direction d in `namespace` (ExportError if impossible)."""
    grammar, units = rule.grammar, rule.normal_units
    builder = _Builder(namespace)
    operands: list[str] = []
    for unit in units:
        live = (unit.op1,) if grammar.row(unit.b).keeps_left else (unit.op1, unit.op2)
        operands += [name for name in live if not is_unit_reference(name) and name not in operands]

    values: dict[str, ast.expr] = {}
    for name in operands:
        value = builder.apply(grammar.row(name), {})
        if not isinstance(value, ast.Name):
            value = builder.bind(identifier(name, builder.taken), value)
        values[name] = value
    for index, unit in enumerate(units):

        def argument(operand, unary):
            source = values[f"#{operand}" if is_unit_reference(operand) else operand]
            return builder.apply(grammar.row(unary), {"__x__": source})

        binary = grammar.row(unit.b)
        left = argument(unit.op1, unit.u1)
        if binary.keeps_left:
            binary_args = {"__x__": left}
        else:
            binary_args = {"__x__": left, "__y__": argument(unit.op2, unit.u2)}
        value = builder.apply(binary, binary_args)
        last = index == len(units) - 1
        if last and isinstance(value, ast.Name):
            values["#result"] = value
        else:
            name = identifier(RESULT if last else f"u{index}", builder.taken)
            values[f"#u{index}"] = values["#result"] = builder.bind(name, value)
    return RuleCode(
        statements=tuple(builder.statements),
        result=values["#result"].id,
        reads=frozenset(builder.reads),
        operands=tuple(operands),
    )


def row_expression(row, namespace: Namespace, x: str = "x", y: str = "y") -> tuple[str, frozenset[str]]:
    """One row's code in `namespace`, its placeholders bound to the names `x` and `y`.

    Returns the expression and the context names it reads (used to check rows one by one).
    """
    builder = _Builder(namespace)
    arguments = {"__x__": ast.Name(x, ast.Load()), "__y__": ast.Name(y, ast.Load())}
    used = {name: value for name, value in arguments.items() if name in ast.dump(template(row))}
    value = builder.apply(row, used)
    return ast.unparse(value), frozenset(builder.reads)
