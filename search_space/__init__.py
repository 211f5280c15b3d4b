"""The rule language of NOS: grammar table, rules and their tokens, parser, canonical forms and
the catalog."""

from search_space.catalog import CATALOG, KNOWN_RULES, KnownRule, known_rule, resolve_rule
from search_space.checks import check_rule, rule_problem
from search_space.context import NumpyContext
from search_space.errors import InvalidRuleError, ParseError
from search_space.grammar import GRAMMAR, Grammar
from search_space.program import Unit
from search_space.rows import Binary, Operand, Unary
from search_space.rule import Rule, parse
from search_space.tokens import SearchSpace

__all__ = [
    "CATALOG",
    "GRAMMAR",
    "KNOWN_RULES",
    "Binary",
    "Grammar",
    "InvalidRuleError",
    "KnownRule",
    "NumpyContext",
    "Operand",
    "ParseError",
    "Rule",
    "SearchSpace",
    "Unary",
    "Unit",
    "check_rule",
    "known_rule",
    "parse",
    "resolve_rule",
    "rule_problem",
]
