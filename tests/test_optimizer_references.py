"""RuleOptimizer pinned to outside references, step by step.

Catalog rules against Keras' own optimizers and TensorFlow's fused PowerSign/AddSign kernels
(the ops behind TF1's ``tf.contrib.opt.PowerSignOptimizer``/``AddSignOptimizer``), in float32
on a small MLP; then every catalog rule against its numpy reference ``rule.numpy_update``, in
float64 on random gradient streams.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from nos.keras.optimizer import RuleOptimizer
from search_space import KNOWN_RULES

STEPS = 60
DECAY_STEPS = 40  # < STEPS, so the decays reach their clipped end
LEARNING_RATE = 0.05
BETA_1, BETA_2, EPSILON = 0.9, 0.999, 1e-7


# --- a tiny classifier: 6 -> 8 (tanh) -> 3, softmax cross-entropy on fixed minibatches ------

_rng = np.random.default_rng(0)
X = _rng.normal(size=(96, 6)).astype(np.float32)
Y = np.argmax(X[:, :3] + 0.5 * X[:, 3:], axis=1)
BATCHES = [_rng.choice(len(X), size=16, replace=False) for _ in range(STEPS)]
INITIAL = [
    _rng.normal(scale=0.5, size=(6, 8)).astype(np.float32),
    np.zeros(8, np.float32),
    _rng.normal(scale=0.5, size=(8, 3)).astype(np.float32),
    np.zeros(3, np.float32),
]


def loss_fn(params, batch):
    w1, b1, w2, b2 = params
    logits = tf.tanh(X[batch] @ w1 + b1) @ w2 + b2
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=Y[batch], logits=logits))


def gradients(variables, step):
    with tf.GradientTape() as tape:
        loss = loss_fn([v.value for v in variables], BATCHES[step])
    return tape.gradient(loss, [v.value for v in variables])


# --- references: each builder takes the variables and returns apply(grads, step) ------------


def keras_optimizer(cls, **kwargs):
    def build(variables):
        optimizer = cls(learning_rate=LEARNING_RATE, **kwargs)
        return lambda grads, step: optimizer.apply(grads, variables)

    return build


def tf1_linear_decay(step):
    return (DECAY_STEPS - min(step, DECAY_STEPS)) / DECAY_STEPS


def tf1_cosine_decay(step, num_periods=0.5):
    return 0.5 * (1.0 + math.cos(math.pi * 2.0 * num_periods * min(step, DECAY_STEPS) / DECAY_STEPS))


def tf1_restart_decay(step, num_periods=1.0):
    fraction = math.fmod(num_periods * min(step, DECAY_STEPS), DECAY_STEPS) / DECAY_STEPS
    return 0.5 * (1.0 + math.cos(math.pi * fraction))


def no_decay(step):
    return 1.0


def fused_kernel(kernel, decay=no_decay, **constants):
    """A fused TF kernel with its m slot; ``sign_decay`` is fed decay(0-based step), as in TF1."""

    def build(variables):
        slots = [tf.Variable(tf.zeros_like(v.value)) for v in variables]

        def apply(grads, step):
            for variable, m, grad in zip(variables, slots, grads):
                kernel(
                    var=variable.value.handle,
                    m=m.handle,
                    lr=tf.constant(LEARNING_RATE, tf.float32),
                    sign_decay=tf.constant(decay(step), tf.float32),
                    beta=tf.constant(BETA_1, tf.float32),
                    grad=grad,
                    **{k: tf.constant(c, tf.float32) for k, c in constants.items()},
                )

        return apply

    return build


def power_sign(logbase, decay=no_decay):
    return fused_kernel(tf.raw_ops.ResourceApplyPowerSign, decay, logbase=logbase)


def add_sign(alpha, decay=no_decay):
    return fused_kernel(tf.raw_ops.ResourceApplyAddSign, decay, alpha=alpha)


# (catalog name, reference builder, rtol); atol = ATOL throughout (weights are O(1)).
REFERENCES = [
    ("sgd", keras_optimizer(keras.optimizers.SGD), 1e-6),
    ("adam", keras_optimizer(keras.optimizers.Adam, beta_1=BETA_1, beta_2=BETA_2, epsilon=EPSILON), 1e-5),
    ("powersign", power_sign(logbase=1.0), 1e-5),
    ("powersign_2", power_sign(logbase=math.log(2.0)), 1e-5),
    ("powersign_ld", power_sign(1.0, tf1_linear_decay), 1e-5),
    ("powersign_cd", power_sign(1.0, tf1_cosine_decay), 1e-5),
    ("powersign_rd", power_sign(1.0, tf1_restart_decay), 1e-5),
    ("addsign", add_sign(alpha=1.0), 1e-5),
    ("addsign_2", add_sign(alpha=2.0), 1e-5),
    ("addsign_ld", add_sign(1.0, tf1_linear_decay), 1e-5),
    ("addsign_cd", add_sign(1.0, tf1_cosine_decay), 1e-5),
    ("addsign_rd", add_sign(1.0, tf1_restart_decay), 1e-5),
]
ATOL = 1e-6


@pytest.mark.parametrize("name, reference, rtol", REFERENCES, ids=[row[0] for row in REFERENCES])
def test_catalog_rule_follows_its_reference_step_by_step(name, reference, rtol):
    ours = [keras.Variable(w) for w in INITIAL]
    theirs = [keras.Variable(w) for w in INITIAL]
    optimizer = RuleOptimizer(
        KNOWN_RULES[name],
        learning_rate=LEARNING_RATE,
        beta_1=BETA_1,
        beta_2=BETA_2,
        epsilon=EPSILON,
        decay_steps=DECAY_STEPS,
    )
    apply_reference = reference(theirs)
    for step in range(STEPS):
        optimizer.apply(gradients(ours, step), ours)
        apply_reference(gradients(theirs, step), step)
        for a, b in zip(ours, theirs):
            np.testing.assert_allclose(
                a.numpy(), b.numpy(), rtol=rtol, atol=ATOL, err_msg=f"{name}, step {step}"
            )
    moved = max(np.abs(v.numpy() - w).max() for v, w in zip(ours, INITIAL))
    assert moved > 0.05, "the trajectory must move for the comparison to mean anything"


@pytest.mark.parametrize("name", ["powersign_ld", "addsign_cd"])
def test_a_decayed_rule_is_plain_sgd_once_its_decay_reaches_zero(name):
    """ld and cd reach 0 at t = D + 1 (t0 = min(t − 1, D) = D): exp(0)·g and (1 + 0)·g are SGD,
    while the undecayed rule's step still differs from SGD's there."""
    steps = {}
    for rule in (name, name.split("_")[0]):
        variables = [keras.Variable(w) for w in INITIAL]
        optimizer = RuleOptimizer(KNOWN_RULES[rule], learning_rate=LEARNING_RATE, decay_steps=DECAY_STEPS)
        for step in range(DECAY_STEPS + 1):
            before = [v.numpy().copy() for v in variables]
            grads = gradients(variables, step)
            optimizer.apply(grads, variables)
        steps[rule] = [(b - v.numpy(), LEARNING_RATE * g.numpy()) for b, v, g in zip(before, variables, grads)]
    for taken, sgd in steps[name]:
        np.testing.assert_allclose(taken, sgd, rtol=1e-5, atol=1e-7)
    assert any(not np.allclose(taken, sgd, rtol=1e-3) for taken, sgd in steps[name.split("_")[0]])


# --- every catalog rule against its numpy reference (float64, random gradient streams) -------

NUMPY_STEPS = 50
NUMPY_LEARNING_RATE = 2.0**-4  # exact in float32, the dtype of Keras' learning-rate variable
SHAPES = [(5, 3), (4,)]


@pytest.mark.parametrize("name", list(KNOWN_RULES))
def test_catalog_rule_matches_numpy_reference(name):
    """float64 variables; rtol 1e-10 (the two sides differ only by rounding order)."""
    rule = KNOWN_RULES[name]
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=shape) for shape in SHAPES]
    variables = [keras.Variable(w, dtype="float64") for w in weights]
    optimizer = RuleOptimizer(rule, learning_rate=NUMPY_LEARNING_RATE, decay_steps=DECAY_STEPS)
    state = {k: [np.zeros(s) for s in SHAPES] for k in ("m", "v", "y")}
    for t in range(1, NUMPY_STEPS + 1):
        # a drifting mean keeps sign(m) from sitting at zero
        grads = [rng.normal(loc=0.3 * math.sin(t / 7.0), size=shape) for shape in SHAPES]
        optimizer.apply([tf.constant(g) for g in grads], variables)
        for i, g in enumerate(grads):
            for k, beta, power in (("m", 0.9, 1), ("v", 0.999, 2), ("y", 0.999, 3)):
                state[k][i] = beta * state[k][i] + (1 - beta) * g**power
            d = rule.numpy_update(
                g,
                w=weights[i],
                m=state["m"][i],
                v=state["v"][i],
                y=state["y"][i],
                t=t,
                decay_steps=DECAY_STEPS,
            )
            weights[i] = weights[i] - NUMPY_LEARNING_RATE * d
            np.testing.assert_allclose(
                variables[i].numpy(), weights[i], rtol=1e-10, atol=1e-12, err_msg=f"{name}, step {t}"
            )
