"""Canonical keys are computed in bounded work: the expansion guard, checked against sympy."""

from math import comb

import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from search_space import parse
from search_space.canonical import MAX_EXPAND_OPS, MAX_EXPAND_TERMS, expansion_bound
from tests.strategies import rules

OPERANDS = ["g", "m", "v", "y", "g2", "g3", "w1", "w2", "w3", "w4"]


@settings(max_examples=80, deadline=None)
@given(rules(max_units=8))
def test_the_bound_holds_for_random_programs_up_to_the_unit_cap(rule):
    expr = rule.sympy
    bound = expansion_bound(expr)
    if bound is None or sp.count_ops(expr) > MAX_EXPAND_OPS:
        assert rule.canonical == expr  # guard fired: the key is the unexpanded form
    else:
        assert len(sp.Add.make_args(sp.expand(expr, log=False))) <= bound <= MAX_EXPAND_TERMS


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 10), st.integers(1, 6))
def test_powers_of_sums_past_the_limit_are_never_expanded(k, squarings):
    """((o1 + … + ok)^2)^2… : sympy folds the tower into one power n = 2^squarings."""
    text = "+".join(OPERANDS[:k])
    for _ in range(squarings):
        text = f"({text})^2"
    rule = parse(text)
    n = 2**squarings
    if comb(k + n - 1, n) > MAX_EXPAND_TERMS:
        assert expansion_bound(rule.sympy) is None
        assert rule.canonical == rule.sympy and rule.key
    else:
        bound = expansion_bound(rule.sympy)
        assert bound <= comb(k + n - 1, n)  # w1…w4 are multiples of one symbol: fewer base terms
        assert len(sp.Add.make_args(sp.expand(rule.sympy))) <= bound


def test_the_reported_stalls_are_keyed_without_expansion():
    for text in ("(g+m+v+y+g2+g3+w1+w2)^(2*2*2*2*2*2)", "((((((g+m+v+y)^2)^2)^2)^2)^2)",
                 "(g+m+v+y)^(2^2^2*2 + 1/2)*g", "(g+m+v+y+g2+g3+w1+w2)^(2*2*2*2*2*2 + 1/2)"):
        rule = parse(text)
        assert expansion_bound(rule.sympy) is None
        assert rule.canonical == rule.sympy


@settings(max_examples=40, deadline=None)
@given(st.integers(2, 8), st.integers(1, 6), st.sampled_from(["1/2", "-1/2", "g", "1/2 + m"]))
def test_powers_with_a_fractional_or_symbolic_part_are_bounded_by_their_integer_part(k, squarings, extra):
    """sympy multiplies out the integer part: (a+b)^(n + 1/2) → (a+b)^n·(a+b)^(1/2)."""
    n = 2**squarings - (extra == "-1/2")  # the integer part of the exponent
    rule = parse(f"({'+'.join(OPERANDS[:k])})^({'*'.join(['2'] * squarings)} + {extra})*g")
    bound = expansion_bound(rule.sympy)
    if comb(k + n - 1, n) > MAX_EXPAND_TERMS:
        assert bound is None and rule.canonical == rule.sympy and rule.key
    elif bound is not None and sp.count_ops(rule.sympy) <= MAX_EXPAND_OPS:
        assert len(sp.Add.make_args(sp.expand(rule.sympy, log=False))) <= bound


def test_small_powers_are_still_expanded_so_equal_rules_share_a_key():
    assert parse("(g+m)^2").key == parse("g^2 + 2*g*m + m^2").key
    assert parse("(2^2)^(2^2)*g").key == parse("2^(2*2*2)*g").key
