"""Every grammar row: its numpy value agrees with its sympy form (one table-driven test)."""

import math

import numpy as np
import pytest
import sympy as sp

from search_space import GRAMMAR, Grammar, NumpyContext, Unary, parse
from search_space import vocabulary as voc
from search_space.tokens import slot_masks, token_names

RNG = np.random.default_rng(1)
N = 16
TANH = Unary("tanh", "tanh({x})", lambda ctx, x: ctx.xp.tanh(x), sp.tanh, "hyperbolic tangent", code="xp.tanh({x})")
"""A word the grammar lacks, added as one row: tests/test_export.py and test_interpreter.py run it."""
TANH_RULE = parse("tanh(m)", GRAMMAR.extended(TANH))


def _context():
    noise = RNG.standard_normal(N)
    ctx = NumpyContext(
        g=RNG.standard_normal(N),
        w=RNG.standard_normal(N),
        m=RNG.standard_normal(N) * 0.1,
        v=np.abs(RNG.standard_normal(N)) * 0.01,
        y=RNG.standard_normal(N) * 0.001,
        t=7,
        decay_steps=20,
    )
    ctx.normal = lambda like: noise
    return ctx, noise


def _tf1_decays(t0, steps):
    """TF1 tf.contrib.opt sign_decay.py, written out independently of the grammar."""
    t0 = min(t0, steps)
    linear = (steps - t0) / steps
    cosine = 0.5 * (1.0 + math.cos(math.pi * 2.0 * 0.5 * t0 / steps))
    restart = 0.5 * (1.0 + math.cos(math.pi * ((1.0 * t0) % steps) / steps))
    return linear, cosine, restart


def _symbol_values(ctx, noise):
    t = ctx.t
    linear, cosine, restart = _tf1_decays(t - 1, ctx.decay_steps)
    return {
        voc.G: ctx.g,
        voc.M: ctx.m / (1 - ctx.beta_1**t),
        voc.V: ctx.v / (1 - ctx.beta_2**t),
        voc.Y: ctx.y / (1 - ctx.beta_3**t),
        voc.W: ctx.w,
        voc.EPSILON: np.full(N, ctx.epsilon),
        voc.EPSILON_T: np.full(N, ctx.epsilon / math.sqrt(1 - ctx.beta_2**t)),
        voc.NOISE: 0.1 * noise,
        voc.ANNEALED_NOISE: 0.1 * (1 + t) ** (-0.55 / 2) * noise,
        voc.DECAYS["ld"]: np.full(N, linear),
        voc.DECAYS["cd"]: np.full(N, cosine),
        voc.DECAYS["rd"]: np.full(N, restart),
    }


def _evaluate(expr, values, i):
    """Evaluate a sympy expression at sample i by exact substitution (no lambdify)."""
    substituted = expr.xreplace({s: sp.Float(float(values[s][i]), 30) for s in expr.free_symbols})
    return complex(substituted.evalf(30))


def _close(numeric, symbolic):
    if math.isnan(numeric):
        return symbolic != symbolic or abs(symbolic.imag) > 0
    return abs(symbolic.imag) < 1e-12 and math.isclose(numeric, symbolic.real, rel_tol=1e-9, abs_tol=1e-12)


@pytest.mark.parametrize("row", GRAMMAR.operands, ids=lambda r: r.name)
def test_operand_numpy_matches_sympy(row):
    ctx, noise = _context()
    values = _symbol_values(ctx, noise)
    numeric = np.broadcast_to(row.value(ctx), (N,))
    for i in range(N):
        assert _close(float(numeric[i]), _evaluate(row.symbol(), values, i)), (row.name, i)


X, Y_ = sp.Symbol("x", real=True), sp.Symbol("y", real=True)


@pytest.mark.parametrize("row", [u for u in GRAMMAR.unary if not u.stochastic], ids=lambda r: r.name)
def test_unary_numpy_matches_sympy(row):
    ctx, _ = _context()
    x = RNG.standard_normal(N) * 10.0 ** RNG.uniform(-6, 0.5, N)
    numeric = row.value(ctx, x)
    for i in range(N):
        assert _close(float(numeric[i]), _evaluate(row.symbol(X), {X: x}, i)), (row.name, x[i])


@pytest.mark.parametrize("row", GRAMMAR.binary, ids=lambda r: r.name)
def test_binary_numpy_matches_sympy(row):
    ctx, _ = _context()
    x = np.abs(RNG.standard_normal(N)) + 0.1
    y = RNG.standard_normal(N)
    numeric = row.value(ctx, x, y)
    for i in range(N):
        assert _close(float(numeric[i]), _evaluate(row.symbol(X, Y_), {X: x, Y_: y}, i)), (row.name, i)


@pytest.mark.parametrize("row", [u for u in GRAMMAR.unary if u.stochastic], ids=lambda r: r.name)
def test_dropout_rows_drop_their_rate_and_keep_the_mean(row):
    """Dropout has no deterministic sympy value; check its law instead."""
    rate = float(row.text.split(",")[1].strip(" )"))
    ctx = NumpyContext(g=np.zeros(1), rng=np.random.default_rng(0))
    x = np.ones(200_000)
    out = row.value(ctx, x)
    assert abs(np.mean(out == 0) - rate) < 0.01
    assert abs(out.mean() - 1.0) < 0.01


def test_decays_follow_tf1_formulas_over_a_whole_schedule():
    steps = 10
    for t in range(1, 15):
        ctx = NumpyContext(g=np.zeros(1), t=t, decay_steps=steps)
        expected = _tf1_decays(t - 1, steps)
        got = [GRAMMAR.row(name).value(ctx)[0] for name in ("ld", "cd", "rd")]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)


def test_a_decay_without_decay_steps_is_a_clear_error():
    with pytest.raises(ValueError, match="decay_steps"):
        parse("ld*g").numpy_update(np.ones(3))


def test_a_user_can_add_a_row_and_use_it_everywhere():
    """Here: parse, print, sympy, tokens, numpy; the interpreter, RuleOptimizer and the three
    exporters run `TANH_RULE` in test_interpreter.py and test_export.py."""
    grammar = GRAMMAR.extended(TANH)
    rule = parse("tanh(m)*g", grammar)
    assert str(rule) == "tanh(m)*g"
    assert rule.to_sympy() == sp.tanh(voc.M) * voc.G
    assert "tanh" in token_names(grammar, 2)
    assert type(rule).from_tokens(rule.tokens, grammar) == rule
    g, m = np.array([0.5, -2.0]), np.array([0.3, 0.1])
    np.testing.assert_allclose(rule.numpy_update(g, m=m, t=1), np.tanh(m / 0.1) * g)
    with pytest.raises(ValueError, match="not a function of the grammar"):
        parse("tanh(m)*g")


def test_a_row_calling_a_function_numpy_lacks_is_refused_when_the_grammar_is_built():
    bad = Unary("soft", "soft({x})", lambda ctx, x: x, lambda x: x, "", code="xp.softsign({x})")
    with pytest.raises(ValueError, match="row 'soft' calls xp.softsign, which is not a numpy function"):
        GRAMMAR.extended(bad)


def test_subset_keeps_identity_and_keep_left_and_rejects_unknown_rows():
    small = GRAMMAR.subset(operands=["g", "sign(g)", "sign(m)", "1"], unary=["exp"], binary=["mul", "add"])
    assert {u.name for u in small.unary} == {"id", "exp"}
    assert {b.name for b in small.binary} == {"mul", "add", "keep"}
    assert parse("exp(sign(g)*sign(m))*g", small) == parse("exp(sign(g)*sign(m))*g")
    with pytest.raises(ValueError, match="unknown grammar rows"):
        GRAMMAR.subset(unary=["cosh"])


def test_row_names_must_be_distinct_and_not_unit_references():
    with pytest.raises(ValueError, match="distinct"):
        Grammar(GRAMMAR.operands * 2, GRAMMAR.unary, GRAMMAR.binary)
    bad = Unary("u3", "u3f({x})", lambda ctx, x: x, lambda x: x, "")
    with pytest.raises(ValueError, match="reserved"):
        GRAMMAR.extended(bad)


def test_slot_masks_allow_only_earlier_units():
    masks = slot_masks(GRAMMAR, 3)
    vocabulary = token_names(GRAMMAR, 3)
    assert masks.shape == (15, len(vocabulary))
    u0, u1 = vocabulary.index("u0"), vocabulary.index("u1")
    assert not masks[0, u0] and masks[5, u0] and not masks[5, u1] and masks[10, u1]
    assert masks[2, vocabulary.index("exp")] and not masks[2, vocabulary.index("g")]
    assert masks[4, vocabulary.index("mul")] and not masks[4, vocabulary.index("exp")]
