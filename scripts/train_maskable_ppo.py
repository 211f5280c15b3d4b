"""Train sb3-contrib's MaskablePPO on nos/OptimizerSearch-v0 (target mode) and compare it with a random masked policy.

    pip install -e ".[rl]"
    python scripts/train_maskable_ppo.py                      # 8192 steps (about 10 s), PowerSign target
    python scripts/train_maskable_ppo.py --steps 20000 --target addsign --seed 1

The agent writes an update rule one token per step through ``action_masks()``; an episode's
reward is the similarity of the rule's updates to the target's (0…1). After training, the greedy
policy's mean episode reward is printed beside a uniformly random masked policy's.
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # Stable-Baselines3 imports TensorFlow through tensorboard

import gymnasium as gym
import numpy as np
import torch

import nos.env  # before sb3_contrib: it loads torch's triton before TensorFlow, which would crash it (nos/env.py)

# isort: split
from sb3_contrib import MaskablePPO
from sb3_contrib.common.wrappers import ActionMasker


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=8192, help="environment steps to train for")
    parser.add_argument("--episodes", type=int, default=100, help="evaluation episodes per policy")
    parser.add_argument("--target", default="powersign", help="catalog name or rule text to imitate")
    parser.add_argument("--units", type=int, default=2, help="units per rule (an episode is 5·units steps)")
    parser.add_argument("--n-steps", type=int, default=256, help="PPO rollout length between updates")
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def make_env(args):
    env = gym.make(nos.env.ENV_ID, reward="target", target=args.target, units=args.units)
    return ActionMasker(env, lambda env: env.unwrapped.action_masks())


def mean_episode_reward(env, choose, episodes):
    """Mean final reward of `episodes` episodes where choose(observation, mask) picks each action."""
    rewards = []
    for _ in range(episodes):
        observation, _ = env.reset()
        done = False
        while not done:
            observation, reward, terminated, truncated, _ = env.step(choose(observation, env.action_masks()))
            done = terminated or truncated
        rewards.append(reward)
    return float(np.mean(rewards))


def main(argv=None):
    args = parse_args(argv)
    env = make_env(args)
    env.reset(seed=args.seed)

    torch.set_num_threads(1)  # a small MLP: more threads cost more than they give
    model = MaskablePPO(
        "MlpPolicy", env, n_steps=args.n_steps, batch_size=64, learning_rate=args.learning_rate,
        gamma=1.0,  # one reward, at the end of a fixed-length episode: nothing to discount
        seed=args.seed, device="cpu", verbose=0,
    )
    start = time.perf_counter()
    model.learn(total_timesteps=args.steps)
    seconds = time.perf_counter() - start

    def greedy(observation, mask):
        return int(model.predict(observation, action_masks=mask, deterministic=True)[0])

    rng = np.random.default_rng(args.seed)

    def random_masked(observation, mask):
        return int(rng.choice(np.flatnonzero(mask)))

    trained = mean_episode_reward(env, greedy, args.episodes)
    random = mean_episode_reward(env, random_masked, args.episodes)
    print(f"MaskablePPO, {args.steps} steps in {seconds:.1f} s (greedy): mean reward {trained:.3f} "
          f"over {args.episodes} episodes")
    print(f"random masked policy:                   mean reward {random:.3f} over {args.episodes} episodes")
    return trained, random


if __name__ == "__main__":
    main()
