"""The Gymnasium environment, and its default reward: target mode (`nos.search.target_reward`)."""

import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from hypothesis import given, settings

from controllers import SearchSpace
from nos.env import ENV_ID, OptimizerSearchEnv
from nos.search.target_reward import DECAY_FRACTION, TargetReward, gradient_streams
from search_space import GRAMMAR, KNOWN_RULES, parse
from search_space.context import ema
from tests.strategies import rules

SMALL = GRAMMAR.subset(
    operands=["g", "m", "sign(g)", "sign(m)", "1", "2"],
    unary=["id", "exp", "neg", "sign"],
    binary=["add", "mul", "sub", "keep"],
)


def play(env, tokens):
    """Step through `tokens`; return the observations, rewards and last info."""
    observations, rewards = [], []
    for token in tokens:
        observation, reward, terminated, truncated, info = env.step(token)
        observations.append(observation)
        rewards.append(reward)
        assert not truncated
    return observations, rewards, terminated, info


# --- the environment --------------------------------------------------------------------------------


def test_the_id_is_registered_with_its_entry_point():
    assert gym.spec(ENV_ID).entry_point == "nos.env:OptimizerSearchEnv"
    assert isinstance(gym.make(ENV_ID, units=3).unwrapped, OptimizerSearchEnv)


@pytest.mark.parametrize(
    "kwargs", [{}, {"grammar": SMALL, "units": 3}], ids=["paper-grammar", "small-3-units"]
)
def test_check_env_passes_without_warnings(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


CHILD = {"task": "quadratic", "steps": 20, "learning_rates": [0.01, 0.1]}


@pytest.mark.parametrize("kwargs", [{"reward": "target", "target": "addsign", "metric": "cosine"}, CHILD],
                         ids=["target-addsign", "child-quadratic"])
def test_check_env_passes_for_the_documented_constructions(kwargs):
    env = gym.make(ENV_ID, **kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped)


def test_child_arguments_train_the_rule_as_a_search_would():
    from nos.search.config import RewardConfig
    from nos.search.reward import Scorer

    env = gym.make(ENV_ID, **CHILD)
    env.reset()
    powersign = env.unwrapped.space.encode(KNOWN_RULES["powersign"])
    _, rewards, terminated, info = play(env, powersign)
    (expected,) = Scorer(RewardConfig(**CHILD, baseline="adam")).score([KNOWN_RULES["powersign"]])
    assert terminated and rewards[-1] == expected.reward and 0.0 < expected.reward < 1.0


def test_a_preset_brings_its_reward_and_its_space():
    from nos.search.config import load_preset

    env = gym.make(ENV_ID, preset="rediscover").unwrapped
    preset = load_preset("rediscover")
    assert env.space.units == preset.space.units
    assert set(env.space.vocabulary) >= set(preset.space.operands) and "u0" in env.space.vocabulary
    assert not isinstance(env.reward_fn, TargetReward)


@pytest.mark.parametrize("kwargs, message", [
    ({"taks": "mlp_digits"}, "unknown argument 'taks' of nos/OptimizerSearch-v0; arguments: reward, target"),
    ({"reward_fn": "target"}, "reward_fn must be a callable taking a list of rules, got 'target'"),
    ({"reward": "fast"}, "reward must be 'target' or 'child', got 'fast'"),
    ({"reward": "target", "task": "mlp_digits"}, "reward='target' takes no preset or child-task arguments (task)"),
    ({"preset": "quick", "target": "addsign"}, "target and metric belong to reward='target'"),
    ({"reward_fn": lambda rules: [0.0], "preset": "quick"}, "reward_fn replaces reward, target, metric, preset"),
    ({"task": "imagenet"}, "reward.task: unknown task 'imagenet'"),
    ({"steps": 0}, "reward.steps must be in 1..1,000,000, got 0"),
    ({"preset": "huge"}, "unknown preset 'huge'"),
])
def test_bad_arguments_are_one_clear_error(kwargs, message):
    with pytest.raises(ValueError) as error:
        gym.make(ENV_ID, **kwargs)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_writing_powersign_earns_reward_one_and_observations_follow_the_table():
    env = OptimizerSearchEnv(grammar=SMALL, units=2)
    space = env.space
    tokens = space.encode(KNOWN_RULES["powersign"])
    observation, info = env.reset(seed=0)
    blank = space.vocabulary_size
    assert observation.tolist() == [blank] * 10 + [0]
    assert np.array_equal(info["action_mask"], space.masks[0].astype(np.int8))
    observations, rewards, terminated, info = play(env, tokens)
    for step, observation in enumerate(observations, start=1):
        assert observation.tolist() == list(tokens[:step]) + [blank] * (10 - step) + [step]
        assert observation in env.observation_space
    assert rewards[:-1] == [0.0] * 9 and rewards[-1] == 1.0 and terminated
    assert info["rule"] == str(KNOWN_RULES["powersign"]) and info["tokens"] == tokens
    assert "invalid" not in info and not info["action_mask"].any()


def test_action_masks_are_the_slot_masks_of_the_next_slot():
    env = OptimizerSearchEnv(grammar=SMALL, units=2)
    _, info = env.reset()
    rng = np.random.default_rng(0)
    for slot in range(env.space.length):
        mask = env.action_masks()
        assert mask.dtype == bool and np.array_equal(mask, env.space.masks[slot])
        assert info["action_mask"].dtype == np.int8 and np.array_equal(info["action_mask"], mask)
        _, _, _, _, info = env.step(int(rng.choice(np.flatnonzero(mask))))


def test_an_illegal_action_ends_the_episode_with_the_penalty():
    env = OptimizerSearchEnv(grammar=SMALL, units=2, illegal_action_reward=-2.5)
    env.reset()
    binary = env.space.vocabulary.index("mul")
    _, reward, terminated, truncated, info = env.step(binary)
    assert (reward, terminated, truncated) == (-2.5, True, False)
    assert "action 12 ('mul') is not legal in slot 0" in info["illegal_action"]
    with pytest.raises(ValueError, match="episode is over"):
        env.step(0)


@pytest.mark.parametrize("action", [-1, 15, 2.5, "g"])
def test_an_action_outside_the_action_space_raises(action):
    env = OptimizerSearchEnv(grammar=SMALL, units=2)
    env.reset()
    with pytest.raises(ValueError, match="outside the action space"):
        env.step(action)


@pytest.mark.parametrize(
    "text, reason", [("g - g", "identically zero"), ("exp(2)", "does not depend on the gradient")]
)
def test_invalid_rules_earn_zero_and_say_why(text, reason):
    calls = []
    env = OptimizerSearchEnv(reward_fn=lambda rules: calls.append(rules) or [0.7], grammar=SMALL, units=2)
    env.reset()
    _, rewards, _, info = play(env, env.space.encode(parse(text, SMALL)))
    assert rewards[-1] == 0.0 and reason in info["invalid"] and calls == []


def test_the_reward_function_is_pluggable_and_validity_checks_can_be_skipped():
    seen = []
    env = OptimizerSearchEnv(
        reward_fn=lambda rules: seen.extend(rules) or [0.25] * len(rules),
        grammar=SMALL,
        units=2,
        check_validity=False,
    )
    env.reset()
    _, rewards, _, info = play(env, env.space.encode(parse("g - g", SMALL)))
    assert rewards[-1] == 0.25 and str(seen[0]) == "g - g" and "invalid" not in info


def test_random_masked_episodes_are_legal_and_rewards_lie_in_the_unit_interval():
    env = gym.make(ENV_ID, render_mode="ansi")
    env.action_space.seed(0)
    for _ in range(20):
        _, info = env.reset()
        terminated = False
        while not terminated:
            _, reward, terminated, _, info = env.step(env.action_space.sample(mask=info["action_mask"]))
        assert "illegal_action" not in info and 0.0 <= reward <= 1.0
    assert env.render().startswith("u0=(")


# --- target mode ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def reward():
    return TargetReward("powersign")


def test_the_target_and_rules_computing_its_updates_score_exactly_one(reward):
    same = ["exp(sign(g)*sign(m))*g", "g*exp(sign(m)*sign(g))", "exp(sign(sign(m))*sign(g))*g"]
    assert reward([parse(t) for t in same]).tolist() == [1.0, 1.0, 1.0]
    assert reward.score(parse("2*(exp(sign(g)*sign(m))*g)")) == 1.0  # a learning rate absorbs the scale
    assert reward.score(parse("-exp(sign(g)*sign(m))*g")) == 0.0


@pytest.mark.parametrize("metric", ["relative", "cosine", "mse"])
def test_every_metric_is_one_on_the_target_and_zero_on_overflow(metric):
    target_reward = TargetReward(KNOWN_RULES["powersign"], metric=metric, streams=2, steps=10)
    assert target_reward.score(KNOWN_RULES["powersign"]) == 1.0
    overflowing = parse("exp(exp(g3))*g")
    assert not np.isfinite(target_reward.updates(overflowing)).all()
    assert target_reward.score(overflowing) == 0.0


@pytest.mark.parametrize("scale, expected", [("2", 1 / (1 + 1)), ("-1", 1 / (1 + 4))])
def test_mse_of_a_multiple_of_the_target_is_analytic(scale, expected):
    """d = c·d*  ⇒  ‖d − d*‖²/‖d*‖² = (c − 1)²  ⇒  reward 1/(1 + (c − 1)²)."""
    target_reward = TargetReward("powersign", metric="mse")
    text = "2*(exp(sign(g)*sign(m))*g)" if scale == "2" else "-(exp(sign(g)*sign(m))*g)"
    assert target_reward.score(parse(text)) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("name", ["adam", "rmsprop", "powersign_ld", "addsign_rd", "signum"])
def test_updates_match_a_step_by_step_optimizer_run(name, reward):
    """The vectorised evaluation equals running the rule as an optimizer would, step by step
    (decay_steps DECAY_FRACTION·T: the decayed rules reach their end inside the bundle)."""
    rule, bundle = KNOWN_RULES[name], reward.streams
    steps = bundle.g.shape[0]
    m = v = y = np.zeros_like(bundle.g[0])
    expected = []
    for t in range(1, steps + 1):
        g = bundle.g[t - 1]
        m, v, y = ema(m, g, 0.9), ema(v, g * g, 0.999), ema(y, g**3, 0.999)
        expected.append(rule.numpy_update(g, w=bundle.w[t - 1], m=m, v=v, y=y, t=t, decay_steps=round(DECAY_FRACTION * steps)))
    np.testing.assert_allclose(reward.updates(rule), np.array(expected), rtol=1e-12, atol=0)


def test_documented_values_for_the_powersign_target(reward):
    """The table in nos/search/target_reward.py's docstring (relative metric)."""
    values = {name: reward.score(KNOWN_RULES[name]) for name in ("powersign_2", "addsign", "sgd", "sign_sgd")}
    assert values == pytest.approx(
        {"powersign_2": 0.955, "addsign": 0.836, "sgd": 0.706, "sign_sgd": 0.074}, abs=1e-3
    )


@settings(max_examples=60, deadline=None)
@given(rules(max_units=3))
def test_rewards_are_finite_in_the_unit_interval_and_deterministic(rule):
    fresh = TargetReward("powersign", cache=False)
    value = fresh.score(rule)
    assert 0.0 <= value <= 1.0
    assert fresh.score(rule) == value == _SHARED.score(rule)


_SHARED = TargetReward("powersign")


def test_streams_are_fixed_by_the_seed_and_mix_sign_agreement():
    first, again, other = gradient_streams(seed=0), gradient_streams(seed=0), gradient_streams(seed=1)
    assert np.array_equal(first.g, again.g) and not np.array_equal(first.g, other.g)
    assert first.g.shape == (50, 8, 64)
    agreement = np.mean(np.sign(first.g) == np.sign(first.m))
    assert 0.6 < agreement < 0.8


def test_bad_targets_and_metrics_are_refused():
    with pytest.raises(ValueError, match="metric must be one of relative, cosine, mse"):
        TargetReward("powersign", metric="l1")
    with pytest.raises(ValueError, match="all-zero updates"):
        TargetReward(parse("g - g"))
    with pytest.raises(ValueError, match="unknown name"):
        TargetReward("powersine")


def test_a_controller_space_rule_round_trip_through_the_env_reward(reward):
    """Rewards the env hands out equal the target reward of the decoded rule."""
    env = OptimizerSearchEnv(reward_fn=reward, grammar=SMALL, units=2)
    space = SearchSpace(SMALL, units=2)
    rng = np.random.default_rng(3)
    for _ in range(10):
        tokens = space.sample(rng)
        env.reset()
        _, rewards, _, info = play(env, tokens)
        if "invalid" not in info:
            assert rewards[-1] == reward.score(space.decode(tokens))


def test_addsign_target_scores_a_round_off_leak_below_exact_zeros():
    """The support factor: where AddSign is 0 a rule must be exactly 0 to score 1 (see the docstring)."""
    addsign = TargetReward("addsign")
    assert addsign.score(parse("g + sign(g)*sign(m)*g")) == 1.0
    assert addsign.score(parse("(sign(g)+sign(m))*(sign(g)+sign(m))*g")) == 1.0  # 2·AddSign
    leak = parse("exp(exp(sign(g))^sign(m))^exp(exp(sign(g))^sign(m))*g")  # 1.7|g| beside 7.8e17|g|
    assert addsign.score(leak) == pytest.approx(0.5, abs=1e-6)
    values = {name: addsign.score(KNOWN_RULES[name]) for name in ("sgd", "powersign")}
    assert values == pytest.approx({"sgd": 0.089, "powersign": 0.400}, abs=1e-3)


@pytest.mark.parametrize("target, text", [("powersign", "ld*exp(sign(g)*sign(m))*g"),
                                          ("addsign", "cd*(g*sign(sign(m)))*sign(sign(g) + sign(m))")])
def test_a_target_times_a_decaying_schedule_is_not_the_target(target, text):
    """One positive factor per stream, not per step: a learning rate cannot absorb a schedule."""
    assert 0.5 < TargetReward(target).score(parse(text)) < 0.9
