"""Canonical sympy forms and keys: algebraically equal rules get the same key.

The rewriting is bounded, never an open-ended ``simplify``: sympy's automatic canonical ordering
(commutativity, associativity, collecting equal terms) plus ``expand`` (distribute products,
split ``exp(a + b)`` and ``2^(a + b)`` into products). Expansion is skipped, and the key is the
unexpanded form, for an expression of more than `MAX_EXPAND_OPS` operations or one whose
expansion could hold more than `MAX_EXPAND_TERMS` terms anywhere (`expansion_bound`), so every
rule the parser accepts is keyed in bounded work: ``(g+m+v+y)^32`` would expand to 6,545 terms
and ``(g+m+v+y+g2+g3+w1+w2)^64`` to 1.3·10⁹, and neither is expanded; the same holds for
the integer part of a rational power, ``(g+m+v+y)^(32 + 1/2)``.
"""

from __future__ import annotations

import hashlib
from math import comb

import sympy as sp

MAX_EXPAND_OPS = 120
MAX_EXPAND_TERMS = 1000


class _TooLarge(Exception):
    pass


def expansion_bound(expr: sp.Expr, limit: int = MAX_EXPAND_TERMS) -> int | None:
    """An upper bound on the terms `sp.expand` makes of `expr` or of any subexpression it expands.

    Counted bottom-up without expanding: a sum has the sum of its parts' terms, a product the
    product, ``base^(n + r)`` (n ≥ 1 the integer part of the exponent's rational constant) at most
    C(k + n − 1, n) for a base of k terms (the number of degree-n monomials in k terms; the same
    count for a negative n, whose expanded denominator is one term of the result); any other
    node is one term once its arguments are within bounds. Returns None as soon as a count
    exceeds `limit`.
    """
    try:
        return _terms(expr, limit)
    except _TooLarge:
        return None


def _terms(expr, limit: int) -> int:
    if not expr.args:
        return 1
    counts = [_terms(arg, limit) for arg in expr.args]
    if isinstance(expr, sp.Add):
        total = sum(counts)
    elif isinstance(expr, sp.Mul):
        total = 1
        for count in counts:
            total *= count
            if total > limit:
                break
    elif isinstance(expr, sp.Pow) and _integer_power(expr.exp) >= 1:
        power = min(_integer_power(expr.exp), limit + 1)  # C(k + n − 1, n) > limit for n > limit, k ≥ 2
        total = 1 if counts[0] == 1 else comb(counts[0] + power - 1, power)
        if total <= limit and expr.exp.is_negative:
            total = 1
    else:
        total = 1
    if total > limit:
        raise _TooLarge
    return total


def _integer_power(exponent: sp.Expr) -> int:
    """The n of the ``base^n`` that `sp.expand` multiplies out of ``base^exponent``: the integer
    part of the exponent's rational constant term (``x^(17/2)`` → ``x^8·x^(1/2)``, ``x^(2 + g)``
    → ``x^2·x^g``)."""
    constant = exponent.as_coeff_Add()[0]
    return int(abs(constant)) if constant.is_Rational else 0


def canonical_form(expr: sp.Expr) -> sp.Expr:
    """`expr` with products distributed and exponentials of sums split; bounded in size and work."""
    if sp.count_ops(expr) > MAX_EXPAND_OPS or expansion_bound(expr) is None:
        return expr
    expanded = sp.expand(expr, log=False)
    return expanded if sp.count_ops(expanded) <= 4 * MAX_EXPAND_OPS else expr


def canonical_key(expr: sp.Expr) -> str:
    """A short hash of the canonical form's structural representation."""
    return hashlib.sha256(sp.srepr(expr).encode()).hexdigest()[:16]
