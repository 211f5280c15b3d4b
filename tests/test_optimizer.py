"""RuleOptimizer as a Keras optimizer: fit, tapes, saving, config, arguments, noise, sparsity.

Numbers are pinned to outside references in test_optimizer_references.py; here the contract
with Keras is checked, plus the KerasModelTask wrapper.
"""

import math

import keras
import numpy as np
import pytest
import sympy as sp
import tensorflow as tf

from nos import RuleOptimizer
from nos.keras.model_task import KerasModelTask
from nos.keras.optimizer import applies_sparsely
from search_space import GRAMMAR, KNOWN_RULES, InvalidRuleError, ParseError, Unary, parse

_rng = np.random.default_rng(0)
X = _rng.normal(size=(128, 5)).astype(np.float32)
Y = (X @ np.array([1.0, -2.0, 0.5, 0.0, 1.5], np.float32))[:, None] + 0.1 * _rng.normal(size=(128, 1)).astype(
    np.float32
)


def tiny_model(seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [keras.Input((5,)), keras.layers.Dense(8, activation="tanh"), keras.layers.Dense(1)]
    )


def fit(model, optimizer, jit_compile, epochs=3):
    model.compile(optimizer=optimizer, loss="mse", jit_compile=jit_compile)
    return model.fit(X, Y, batch_size=32, epochs=epochs, shuffle=False, verbose=0).history["loss"]


# --- training paths -------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["exp(sign(g)*sign(m))*g", "(1 + ld*sign(g)*sign(m))*g", "adam"])
def test_fit_trains_and_jit_agrees_with_graph_mode(text):
    """Same weights with jit_compile True and False (rtol 1e-5), and the loss falls."""
    weights = {}
    for jit in (False, True):
        model = tiny_model()
        losses = fit(model, RuleOptimizer(text, learning_rate=0.02, decay_steps=12), jit)
        assert losses[-1] < 0.8 * losses[0]
        weights[jit] = model.get_weights()
    for a, b in zip(weights[False], weights[True]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_gradient_tape_loop_matches_fit():
    """apply_gradients in a tf.function loop takes the same steps as fit (rtol 1e-5)."""
    fitted = tiny_model()
    fit(fitted, RuleOptimizer(KNOWN_RULES["powersign"], learning_rate=0.02), False, epochs=1)

    model = tiny_model()
    optimizer = RuleOptimizer(KNOWN_RULES["powersign"], learning_rate=0.02)

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        optimizer.apply_gradients(
            zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables)
        )
        return loss

    for start in range(0, len(X), 32):
        train_step(X[start : start + 32], Y[start : start + 32])
    assert int(optimizer.iterations.numpy()) == 4
    for a, b in zip(model.get_weights(), fitted.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "text, slots",
    [
        ("g", []),
        ("sign(g)", []),
        ("m", ["m"]),
        ("adam", ["m", "v"]),
        ("rmsprop", ["v"]),
        ("y*g", ["y"]),
        ("g + noise", []),
    ],
)
def test_build_declares_only_the_slots_the_rule_reads(text, slots):
    model = tiny_model()
    optimizer = RuleOptimizer(text)
    optimizer.build(model.trainable_variables)
    names = [v.name for v in optimizer.variables]
    expected = ["iteration", "learning_rate"] + (["seed_generator_state"] if "noise" in text else [])
    for slot in slots:
        expected += [f"{v.path.replace('/', '_')}_{slot}" for v in model.trainable_variables]
    assert sorted(names) == sorted(expected)


# --- saving -----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["exp(ld*sign(g)*sign(m))*g", "rmsprop + anoise"])
def test_keras_file_round_trip_restores_rule_hyperparameters_and_state(tmp_path, text):
    """After load: same rule, config and slot values, and training continues identically."""
    model = tiny_model()
    optimizer = RuleOptimizer(
        text, learning_rate=0.03, beta_1=0.8, beta_2=0.99, epsilon=1e-6, decay_steps=20, seed=5, clipnorm=2.0
    )
    fit(model, optimizer, False, epochs=2)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path)

    restored = loaded.optimizer
    assert isinstance(restored, RuleOptimizer)
    assert restored.rule == parse(text)
    assert restored.get_config() == optimizer.get_config()
    assert len(restored.variables) == len(optimizer.variables)
    for a, b in zip(optimizer.variables, restored.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)

    for trained in (model, loaded):
        trained.fit(X[:64], Y[:64], batch_size=32, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(model.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", list(KNOWN_RULES))
def test_config_round_trip_for_every_catalog_rule(name):
    optimizer = RuleOptimizer(KNOWN_RULES[name], learning_rate=0.125, beta_3=0.5, decay_steps=7, seed=3)
    config = optimizer.get_config()
    assert config["rule"] == str(KNOWN_RULES[name])
    again = RuleOptimizer.from_config(config)
    assert again.rule == KNOWN_RULES[name]
    assert again.get_config() == config
    by_name = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert isinstance(by_name, RuleOptimizer) and by_name.get_config() == config


def test_rule_over_a_custom_grammar_cannot_be_serialized():
    tanh = Unary("tanh", "tanh({x})", lambda ctx, x: ctx.xp.tanh(x), sp.tanh, "tanh x")
    optimizer = RuleOptimizer(parse("tanh(g)", GRAMMAR.extended(tanh)))
    with pytest.raises(ValueError, match=r"tanh.*default grammar"):
        optimizer.get_config()
    subset = parse("sign(g)*g", GRAMMAR.subset(operands=["g"], unary=["sign"], binary=["mul"]))
    again = RuleOptimizer.from_config(RuleOptimizer(subset).get_config()).rule
    assert str(again) == str(subset) and again.equivalent(subset)  # sign(g) is an operand of GRAMMAR


# --- arguments -------------------------------------------------------------------------------

BAD_ARGUMENTS = [
    # (arguments, error, pattern the message must match)
    ({"rule_or_text": "exp(g"}, ParseError, r"rule_or_text.*'exp\(g'"),
    ({"rule_or_text": "g - g"}, InvalidRuleError, r"must not be trained.*identically zero"),
    ({"rule_or_text": "2"}, InvalidRuleError, r"does not depend on the gradient"),
    ({"rule_or_text": "ld*g"}, ValueError, r"decay ld.*decay_steps.*Received: decay_steps=None"),
    ({"rule_or_text": "g", "beta_1": 1.0}, ValueError, r"`beta_1` must be in \[0, 1\).*Received: beta_1=1.0"),
    ({"rule_or_text": "g", "beta_2": -0.1}, ValueError, r"`beta_2`.*moving average v.*Received: beta_2=-0.1"),
    ({"rule_or_text": "g", "beta_3": 1.5}, ValueError, r"`beta_3`.*Received: beta_3=1.5"),
    ({"rule_or_text": "g", "epsilon": -1e-8}, ValueError, r"`epsilon`.*Received: epsilon=-1e-08"),
    ({"rule_or_text": "g", "decay_steps": 0}, ValueError, r"`decay_steps` must be a positive int.*=0"),
    ({"rule_or_text": "g", "decay_steps": 2.5}, ValueError, r"`decay_steps`.*Received: decay_steps=2.5"),
    ({"rule_or_text": "g", "seed": "a"}, ValueError, r"`seed` must be an int or None.*'a'"),
    ({"rule_or_text": 3}, TypeError, r"`rule_or_text` must be a search_space.Rule or rule text.*int 3"),
]


@pytest.mark.parametrize("arguments, error, pattern", BAD_ARGUMENTS)
def test_bad_arguments_raise_a_clear_error(arguments, error, pattern):
    with pytest.raises(error, match=pattern):
        RuleOptimizer(**arguments)


# --- random rows -----------------------------------------------------------------------------


def _noisy_steps(text, seed, steps=5):
    variable = keras.Variable(np.zeros((50, 40), np.float32))
    optimizer = RuleOptimizer(text, learning_rate=1.0, seed=seed)
    for _ in range(steps):
        optimizer.apply([tf.fill((50, 40), 0.5)], [variable])
    return variable.numpy()


@pytest.mark.parametrize("text", ["g + noise", "drop(g, 0.3)"])
def test_stochastic_rule_is_reproducible_for_a_seed(text):
    np.testing.assert_array_equal(_noisy_steps(text, 7), _noisy_steps(text, 7))
    assert not np.array_equal(_noisy_steps(text, 7), _noisy_steps(text, 8))


def test_noise_and_dropout_follow_the_vocabulary():
    """noise ~ N(0, 0.01): std 0.1; drop(g, 0.3) keeps 70% of g, scaled by 1/0.7 (2000 draws)."""
    noise = -_noisy_steps("g + noise", 0, steps=1) - 0.5
    assert abs(noise.mean()) < 0.01 and noise.std() == pytest.approx(0.1, rel=0.05)
    dropped = -_noisy_steps("drop(g, 0.3)", 0, steps=1)
    kept = dropped != 0
    assert kept.mean() == pytest.approx(0.7, abs=0.03)
    np.testing.assert_allclose(dropped[kept], 0.5 / 0.7, rtol=1e-6)


# --- divergence is data ----------------------------------------------------------------------


def test_diverging_rule_gives_nonfinite_weights_without_raising():
    model = tiny_model()
    losses = fit(model, RuleOptimizer("exp(exp(g3))", learning_rate=1.0), False, epochs=2)
    assert not np.isfinite(losses[-1])
    assert not all(np.isfinite(w).all() for w in model.get_weights())


# --- sparse gradients ------------------------------------------------------------------------

TOKENS = _rng.integers(0, 30, size=(64, 6))  # repeated ids within each batch
TARGETS = _rng.normal(size=(64, 1)).astype(np.float32)


def embedding_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((6,), dtype="int32"),
            keras.layers.Embedding(30, 4),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )


def tape_steps(optimizer, densify, steps=4):
    """Train the embedding model; return its weights and the kinds of gradient the updates used."""
    model = embedding_model()
    kinds = set()
    assign_sub = optimizer.assign_sub

    def recording_assign_sub(variable, value):
        kinds.add(type(value).__name__)
        assign_sub(variable, value)

    optimizer.assign_sub = recording_assign_sub
    for step in range(steps):
        batch = slice(16 * step, 16 * step + 16)
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(TOKENS[batch]) - TARGETS[batch]))
        grads = tape.gradient(loss, model.trainable_variables)
        assert isinstance(grads[0], tf.IndexedSlices)
        if densify:
            grads = [tf.convert_to_tensor(g) for g in grads]
        optimizer.apply(grads, model.trainable_variables)
    return model.get_weights(), kinds


@pytest.mark.parametrize(
    "text, exact",
    [
        ("g", True),
        ("g*ld", True),
        ("2*g", True),
        ("g*exp(w1)", True),
        ("g/w2", True),
        ("sign(g)", False),
        ("exp(g) - 1", False),
        ("g + w4", False),
        ("m", False),
        ("g + noise", False),
        ("g*g", False),
    ],
)
def test_sparse_updates_only_for_stateless_rules_linear_in_g(text, exact):
    assert applies_sparsely(parse(text)) == exact


@pytest.mark.parametrize(
    "ours, reference, sparse_update",
    [
        # linear stateless rules update touched rows only, like SGD
        (lambda: RuleOptimizer("g", learning_rate=0.1), lambda: keras.optimizers.SGD(0.1), True),
        (
            lambda: RuleOptimizer("g*exp(w1)", learning_rate=0.1),
            lambda: RuleOptimizer("g*exp(w1)", learning_rate=0.1),
            True,
        ),
        # other rules see the dense gradient: Keras Adam fed dense gradients is the reference
        (lambda: RuleOptimizer("adam", learning_rate=0.01), lambda: keras.optimizers.Adam(0.01), False),
        (
            lambda: RuleOptimizer("sign(g)", learning_rate=0.01),
            lambda: RuleOptimizer("sign(g)", learning_rate=0.01),
            False,
        ),
    ],
    ids=["g-vs-sgd", "g*exp(w1)", "adam-vs-keras-adam-dense", "sign(g)"],
)
def test_sparse_gradients_match_the_dense_update(ours, reference, sparse_update):
    """Sparse gradients (with repeated indices) give the dense result (rtol 1e-6)."""
    sparse_weights, kinds = tape_steps(ours(), densify=False)
    dense_weights, _ = tape_steps(reference(), densify=True)
    assert ("IndexedSlices" in kinds) == sparse_update
    for a, b in zip(sparse_weights, dense_weights):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("jit", [False, True])
def test_embedding_model_fits_with_sparse_gradients(jit):
    for text in ("g", "exp(sign(g)*sign(m))*g"):
        model = embedding_model()
        model.compile(optimizer=RuleOptimizer(text, learning_rate=0.05), loss="mse", jit_compile=jit)
        history = model.fit(TOKENS, TARGETS, batch_size=16, epochs=3, shuffle=False, verbose=0).history[
            "loss"
        ]
        assert history[-1] < history[0]


# --- KerasModelTask --------------------------------------------------------------------------


def regression_task(**kwargs):
    def data():
        return tf.data.Dataset.from_tensor_slices((X, Y)).shuffle(128).batch(16)

    validation = tf.data.Dataset.from_tensor_slices((X[:32], Y[:32])).batch(32)
    return KerasModelTask(
        lambda: keras.Sequential([keras.Input((5,)), keras.layers.Dense(1)]),
        data,
        validation,
        loss="mse",
        name="linear_regression_b16",
        curve_every=5,
        jit_compile=False,
        **kwargs,
    )


def test_keras_model_task_trains_reproducibly():
    task = regression_task()
    result = task.train("exp(ld*sign(g)*sign(m))*g", learning_rate=0.05, seed=1, steps=23)
    assert set(result) == {"final_loss", "validation_loss", "curve", "diverged", "steps"}
    assert result["steps"] == 23 and len(result["curve"]) == math.ceil(23 / 5)
    assert not result["diverged"] and result["final_loss"] == result["curve"][-1]
    assert result["curve"][-1] < 0.5 * result["curve"][0]
    assert 0 <= result["validation_loss"] < result["curve"][0]
    assert task.train("exp(ld*sign(g)*sign(m))*g", learning_rate=0.05, seed=1, steps=23) == result
    assert task.train("exp(ld*sign(g)*sign(m))*g", learning_rate=0.05, seed=2, steps=23) != result


def test_keras_model_task_reports_divergence():
    result = regression_task().train("exp(exp(g3))", learning_rate=1.0, seed=0, steps=40)
    assert result["diverged"] and not math.isfinite(result["final_loss"])
    assert result["steps"] < 40 and math.isnan(result["validation_loss"])


def test_keras_model_task_rejects_bad_steps():
    with pytest.raises(ValueError, match="steps must be a positive int"):
        regression_task().train("g", learning_rate=0.1, seed=0, steps=0)
