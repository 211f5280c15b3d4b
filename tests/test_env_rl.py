"""The environment for outside agents: time limits, the batch-scoring vector env, sb3-contrib's MaskablePPO."""

import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from nos.env import ENV_ID, OptimizerSearchEnv, OptimizerSearchVectorEnv
from search_space import parse
from tests.test_env import SMALL, play

ROOT = Path(__file__).resolve().parents[1]
RULES = ["exp(sign(g)*sign(m))*g", "g", "sign(g)*g", "m"]


class Spy:
    """A reward function recording its calls: reward = len(rule text) / 100."""

    def __init__(self):
        self.calls = []

    def __call__(self, rules):
        self.calls.append([str(rule) for rule in rules])
        return [len(str(rule)) / 100 for rule in rules]


# --- arguments that would break every episode ---------------------------------------------------------


@pytest.mark.parametrize("units, limit", [(2, 5), (2, 9), (3, 14)])
def test_a_time_limit_below_an_episode_is_one_clear_error(units, limit):
    message = (f"max_episode_steps={limit} would end every episode before its reward: an episode is "
               f"{5 * units} steps")
    makers = [
        lambda: gym.make(ENV_ID, units=units, max_episode_steps=limit),
        lambda: gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="sync", units=units, max_episode_steps=limit),
        lambda: gym.make_vec(ENV_ID, num_envs=2, vectorization_mode="vector_entry_point", units=units,
                             max_episode_steps=limit),
    ]
    for make in makers:
        with pytest.raises(ValueError) as error:
            make()
        assert message in str(error.value) and "\n" not in str(error.value)


def test_a_time_limit_of_one_episode_still_pays_the_reward():
    env = gym.make(ENV_ID, reward_fn=Spy(), grammar=SMALL, units=2, max_episode_steps=10)
    env.reset()
    for token in env.unwrapped.space.encode(parse(RULES[0], SMALL)):
        _, reward, terminated, truncated, info = env.step(token)
    assert terminated and truncated and reward == len(info["rule"]) / 100 > 0  # both at step 10
    assert gym.make(ENV_ID, max_episode_steps=-1).spec.max_episode_steps is None  # -1: no TimeLimit


@pytest.mark.parametrize("make", [gym.make, lambda *args, **kwargs: gym.make_vec(*args, num_envs=2, **kwargs)],
                         ids=["make", "make_vec"])
def test_a_reward_fn_that_is_not_callable_is_refused(make):
    with pytest.raises(ValueError, match="reward_fn must be a callable taking a list of rules, got 'target'"):
        make(ENV_ID, reward_fn="target")


def test_a_reward_fn_returning_the_wrong_count_is_one_clear_error():
    env = OptimizerSearchEnv(reward_fn=lambda rules: [0.5, 0.5], grammar=SMALL, units=2)
    env.reset()
    with pytest.raises(ValueError, match="reward_fn returned 2 rewards for 1 rules"):
        play(env, env.space.encode(parse("g", SMALL)))


# --- the vector environment ---------------------------------------------------------------------------


def make_vec(mode, reward_fn, num_envs=4, **kwargs):
    return gym.make_vec(ENV_ID, num_envs=num_envs, vectorization_mode=mode, reward_fn=reward_fn,
                        grammar=SMALL, units=2, **kwargs)


def test_make_vec_builds_the_batch_env_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        envs = gym.make_vec(ENV_ID, num_envs=3)  # the default mode once nos.env is imported
    assert isinstance(envs, OptimizerSearchVectorEnv) and envs.num_envs == 3
    assert envs.metadata["autoreset_mode"] == gym.vector.AutoresetMode.NEXT_STEP
    observations, infos = envs.reset(seed=0)
    assert observations in envs.observation_space and observations.shape == (3, 11)
    assert infos["action_mask"].shape == (3, 40) and np.array_equal(infos["action_mask"], envs.action_masks())
    assert envs.action_space.shape == (3,) and envs.single_action_space == gym.spaces.Discrete(40)


def test_a_batch_of_finished_episodes_is_one_reward_call():
    spy = Spy()
    envs = make_vec("vector_entry_point", spy)
    envs.reset(seed=0)
    programs = np.array([envs.unwrapped.envs[0].space.encode(parse(text, SMALL)) for text in RULES])
    for step in range(10):
        _, rewards, terminations, truncations, infos = envs.step(programs[:, step])
        assert (spy.calls == []) == (step < 9)
    assert spy.calls == [[str(parse(text, SMALL)) for text in RULES]]
    assert terminations.all() and not truncations.any()
    assert rewards.tolist() == [len(rule) / 100 for rule in infos["rule"]]


def test_the_vector_env_steps_exactly_as_sync_vector_env_does():
    """Same actions, with an illegal one and autoresets, through both: same results; one reward call
    per step that ends episodes instead of one per episode."""
    ours_spy, sync_spy = Spy(), Spy()
    ours = make_vec("vector_entry_point", ours_spy, check_validity=False)  # score every rule
    sync = make_vec("sync", sync_spy, check_validity=False)
    (observations, infos), (expected_observations, expected_infos) = ours.reset(seed=1), sync.reset(seed=1)
    rng = np.random.default_rng(0)
    for step in range(32):
        assert np.array_equal(observations, expected_observations)
        assert gym.utils.env_checker.data_equivalence(infos, expected_infos)
        masks = infos["action_mask"].astype(bool)
        actions = np.array([rng.choice(np.flatnonzero(mask)) if mask.any() else 0 for mask in masks])
        if step == 3:
            actions[1] = np.flatnonzero(~masks[1])[0]  # an illegal action ends env 1's episode early
        observations, rewards, terminations, truncations, infos = ours.step(actions)
        expected = sync.step(actions)
        expected_observations, expected_infos = expected[0], expected[4]
        for got, want in zip((rewards, terminations, truncations), expected[1:4]):
            assert np.array_equal(got, want)
        assert observations in ours.observation_space
    scored = sorted(rule for call in sync_spy.calls for rule in call)
    assert sorted(rule for call in ours_spy.calls for rule in call) == scored and len(scored) >= 8
    assert len(ours_spy.calls) < len(sync_spy.calls) == len(scored)


# --- sb3-contrib's MaskablePPO (the rl extra) ---------------------------------------------------------


def _python(*args, timeout):
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environment, capture_output=True, text=True,
                          timeout=timeout, check=False)


def test_maskable_ppo_can_be_built_after_import_nos_env():
    """With torch's triton installed, triton loaded after TensorFlow (which Stable-Baselines3 imports
    through tensorboard) segfaults: `import nos.env` loads triton first."""
    pytest.importorskip("sb3_contrib")
    code = (
        "import importlib.util, sys\n"
        "import nos.env\n"
        "assert ('triton' in sys.modules) == (importlib.util.find_spec('triton') is not None)\n"
        "assert 'tensorflow' not in sys.modules\n"
        "from sb3_contrib import MaskablePPO\n"
        "MaskablePPO('MlpPolicy', 'CartPole-v1')\n"
    )
    result = _python("-c", code, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_maskable_ppo_learns_to_beat_a_random_masked_policy():
    pytest.importorskip("sb3_contrib")
    result = _python("scripts/train_maskable_ppo.py", "--steps", "6144", "--episodes", "50", "--seed", "0",
                     timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    trained, random = (float(x) for x in re.findall(r"mean reward (\d\.\d+)", result.stdout))
    assert trained > random, result.stdout
