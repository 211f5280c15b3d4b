"""Rules: round trips, normal forms, canonical keys and fingerprints."""

import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings

from search_space import GRAMMAR, KNOWN_RULES, Rule, Unit, parse
from search_space.tokens import token_names
from tests.strategies import rules

CATALOG_NAMES = list(KNOWN_RULES)


@pytest.mark.parametrize("name", CATALOG_NAMES)
def test_catalog_rules_round_trip_through_text_and_tokens(name):
    rule = KNOWN_RULES[name]
    assert parse(str(rule)) == rule
    assert str(parse(str(rule))) == str(rule)
    assert Rule.from_tokens(rule.tokens) == rule
    assert Rule.from_tokens(rule.tokens).units == rule.units


@pytest.mark.parametrize(
    "text, name",
    [
        ("g*exp(sign(m)*sign(g))", "powersign"),
        ("exp(sign(m)*sign(g))*g", "powersign"),
        ("g + g*sign(g)*sign(m)", "addsign"),
        ("g*sign(m)*sign(g) + g", "addsign"),
        ("g*(sign(m)*sign(g) + 1)", "addsign"),
        ("g*2^(ld*sign(g)*sign(m))", None),
        ("2*g + g*sign(g)*sign(m)", "addsign_2"),
        ("g*exp(sign(g)*(sign(m)*ld))", "powersign_ld"),
        ("g*(1 + sign(m)*(rd*sign(g)))", "addsign_rd"),
    ],
)
def test_equivalent_texts_share_the_catalog_key(text, name):
    rule = parse(text)
    if name is None:
        assert not any(rule.equivalent(k) for k in KNOWN_RULES.values())
    else:
        assert rule.key == KNOWN_RULES[name].key
        assert rule.equivalent(KNOWN_RULES[name])


def test_catalog_keys_are_distinct():
    keys = [rule.key for rule in KNOWN_RULES.values()]
    assert len(set(keys)) == len(keys)
    assert KNOWN_RULES["powersign"].key != KNOWN_RULES["addsign"].key


@settings(max_examples=150, deadline=None)
@given(rules())
def test_any_program_round_trips_through_its_text(rule):
    again = parse(str(rule))
    assert again == rule
    assert again.key == rule.key
    assert Rule.from_tokens(rule.tokens) == rule


@settings(max_examples=60, deadline=None)
@given(rules(max_units=3), rules(max_units=3))
def test_fingerprints_agree_wherever_keys_agree(a, b):
    for rule in (a, parse(str(a))):
        assert rule.fingerprint == a.fingerprint
    if a.key == b.key:
        assert a.fingerprint == b.fingerprint


def test_fingerprints_agree_on_commuted_forms_and_differ_between_rules():
    assert parse("g*exp(sign(m)*sign(g))").fingerprint == KNOWN_RULES["powersign"].fingerprint
    assert parse("g + g*sign(g)*sign(m)").fingerprint == KNOWN_RULES["addsign"].fingerprint
    assert KNOWN_RULES["powersign"].fingerprint != KNOWN_RULES["addsign"].fingerprint
    assert parse("g/1").fingerprint == parse("g").fingerprint  # functionally equal up to δ


def test_dead_and_duplicate_units_do_not_make_a_different_rule():
    live = Unit("g", "m", "id", "id", "mul")
    dead = Unit("v", "v", "exp", "exp", "add")
    padded = Rule([dead, live, Unit("u1", "g", "id", "id", "keep")])
    assert padded == parse("g*m")
    assert str(padded) == "g*m"
    duplicated = Rule([live, live, Unit("u0", "u1", "id", "id", "add")])
    assert len(duplicated) == 2
    assert duplicated == parse("g*m + g*m")


def test_operand_sign_and_unary_sign_of_g_are_one_rule():
    assert Rule([Unit("g", "g", "sign", "id", "keep")]) == parse("sign(g)")


def test_numpy_update_of_powersign_and_addsign():
    g = np.array([1.0, -2.0, 3.0])
    m = np.array([0.5, 0.5, -0.5])
    agree = np.sign(g) * np.sign(m)
    np.testing.assert_allclose(KNOWN_RULES["powersign"].numpy_update(g, m=m), np.exp(agree) * g)
    np.testing.assert_allclose(KNOWN_RULES["addsign"].numpy_update(g, m=m), (1 + agree) * g)


def test_keys_do_not_depend_on_the_hash_seed():
    code = "from search_space import parse; print(parse('g*(1 + ld*sign(m)*sign(g)) + w4/(v + 2)').key)"
    keys = {
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True,
            env={"PYTHONHASHSEED": seed, "PATH": ""},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(keys) == 1 and keys.pop().strip() == parse("g*(1 + ld*sign(m)*sign(g)) + w4/(v + 2)").key


@pytest.mark.parametrize(
    "tokens, message",
    [
        ([], "5 tokens a unit"),
        ([0, 0, 0, 0], "5 tokens a unit"),
        ([999, 0, 0, 0, 0], "not legal"),
        ([0, 0, 0, 0, 0], "not legal in a unary slot"),
    ],
)
def test_bad_tokens_are_clear_errors(tokens, message):
    with pytest.raises(ValueError, match=message):
        Rule.from_tokens(tokens)


def test_forward_unit_references_are_rejected():
    with pytest.raises(ValueError, match="not an earlier unit"):
        Rule([Unit("u0", "g", "id", "id", "add")])


def test_vocabulary_indices_do_not_depend_on_the_number_of_units():
    assert token_names(GRAMMAR, 5)[: len(token_names(GRAMMAR, 1))] == token_names(GRAMMAR, 1)
    rule = KNOWN_RULES["addsign"]
    assert Rule.from_tokens(list(rule.tokens)) == rule
