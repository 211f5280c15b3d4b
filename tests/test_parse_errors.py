"""Parsing hostile and malformed text: a one-line ParseError and nothing else; work bounded by guards."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from search_space import ParseError, parse
from search_space.canonical import expansion_bound
from search_space.syntax import parse_expression, to_text
from search_space.vocabulary import CONSTANT_POWER

HOSTILE = [
    "__import__('os').system('touch /tmp/nos-pwned')",
    "exec('1')",
    "g; import os",
    "lambda: g",
    "(" * 10_000 + "g" + ")" * 10_000,
    "-" * 5000 + "g",
    "g" * (1 << 20),
    "nan*g",
    "inf",
    "1e999*g",
    "g**",
    "g m",
    "exp()",
    "exp(g, m)",
    "sign(g",
    "g)",
    "",
    "   ",
    "g\x00",
    "ｇ",
    "3*g",
    "0.5",
    "clip(g, 0.5)",
    "log(g)",
    "{x}",
    "__hole0__",
]


@pytest.mark.parametrize("text", HOSTILE, ids=lambda t: repr(t[:30]))
def test_hostile_text_gives_a_one_line_parse_error(text, tmp_path):
    with pytest.raises(ParseError) as caught:
        parse(text)
    message = str(caught.value)
    assert "\n" not in message and message
    if len(text) > 4096:  # the work is bounded by the length guard, before any parsing
        assert f"rule text is {len(text)} characters long; the limit is 4096" in message


def test_parse_error_is_a_value_error_and_points_at_the_problem():
    with pytest.raises(ValueError) as caught:
        parse("exp(sign(g)*)")
    assert "position 12" in str(caught.value) and "expected an operand" in str(caught.value)


@settings(max_examples=400, deadline=None)
@given(st.text(max_size=60))
def test_random_text_gives_a_rule_or_a_parse_error(text):
    try:
        parse(text)
    except ParseError:
        pass


ALPHABET = list("gmvy12()+-*/^, .e") + ["sign(g)", "sign(m)", "exp(", "log(abs(", "clip(", "ld", "adam", "**"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(ALPHABET), max_size=25).map("".join))
def test_near_grammatical_text_gives_a_rule_or_a_parse_error(text):
    try:
        rule = parse(text)
    except ParseError:
        return
    assert parse(str(rule)) == rule


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(ALPHABET), min_size=1, max_size=25).map("".join))
def test_printed_trees_parse_back_to_the_same_tree(text):
    try:
        tree = parse_expression(text)
    except ParseError:
        return
    assert parse_expression(to_text(tree)) == tree


def test_constant_power_towers_stay_opaque():
    """Towers past the exact-exponent guard become `constant_power(x, y)` instead of huge numbers."""
    for text in ("2^2^2^2^2^2^2*g", "g^2^2^2^2^2^2", "exp(exp(2^2^2^2^2))*g", "(1 + 1)^(2^2^2^2^2)*g"):
        rule = parse(text)
        assert rule.sympy.has(CONSTANT_POWER) and expansion_bound(rule.sympy) == 1
        assert rule.key and rule.fingerprint
    assert parse("(2^2)^(2^2)*g").key == parse("2^(2*2*2)*g").key  # small constant powers stay exact


def test_long_chains_are_a_parse_error_not_a_recursion_error():
    with pytest.raises(ParseError, match="deeper than"):
        parse("*".join(["g"] * 1000))
    assert len(parse("+".join(["g"] * 40))) == 39
