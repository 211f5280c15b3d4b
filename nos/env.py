"""The optimizer search problem as a Gymnasium environment: write a rule one token per step."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Callable, Sequence
from typing import ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from nos import ENV_ID  # registered by `import nos`, which also loads triton first
from nos.search.config import RewardConfig, grammar_of
from search_space import GRAMMAR, Grammar, Rule, rule_problem
from search_space.tokens import SearchSpace


class OptimizerSearchEnv(gym.Env):
    """
    ## Description

    Neural Optimizer Search (Bello et al., ICML 2017) as a sequential decision problem: an agent
    writes an optimizer update rule ``w ← w − lr·d`` as a program of U units, one token per step.
    Unit i is five tokens ``(op1, op2, u1, u2, b)`` and computes ``b(u1(op1), u2(op2))``;
    operands are grammar operands (``g``, ``m``, ``sign(g)``, …) or outputs ``u<j>`` of earlier
    units, and the last unit's output is d. After 5·U tokens the rule is scored.

    ## Action Space

    ``Discrete(V)``, V the number of tokens, ``search_space.tokens.token_names(grammar, U)``: operands, then unary
    functions, then binary functions, then ``u0 … u{U−2}`` (V = 40 for the paper's grammar and
    U = 2). Only some actions are legal in each slot; ``info["action_mask"]`` (int8, Gymnasium's
    ``Discrete.sample(mask=…)`` convention) and ``action_masks()`` (bool, sb3-contrib
    MaskablePPO's convention) give the legal actions of the next slot.

    ## Observation Space

    ``MultiDiscrete([V + 1] * 5U + [5U + 1])``, int64:

    | Index     | Observation                    | Values                                   |
    |-----------|--------------------------------|------------------------------------------|
    | 0 … 5U−1  | token chosen for slot j        | 0 … V−1, or V while slot j is not chosen |
    | 5U        | step: number of tokens chosen  | 0 … 5U                                   |

    ## Rewards

    0 after every token but the last. After the last, the rule's reward ``reward_fn([rule])[0]``,
    or 0 with ``info["invalid"]`` set to the reason when `search_space.rule_problem` rejects the
    rule (e.g. it ignores the gradient). The default reward function is target mode,
    ``nos.search.target_reward.TargetReward("powersign")``: the similarity in [0, 1] of the rule's
    updates to PowerSign's on fixed gradient streams, about a millisecond a rule, so the
    environment is cheap out of the box. The search engine plugs in a reward from training
    child models instead.

    An action inside the action space but masked out (illegal in its slot) ends the episode with
    reward ``illegal_action_reward`` (−1 by default, below every target-mode reward) and
    ``info["illegal_action"]`` describing it; ``gymnasium.utils.env_checker.check_env`` steps with
    unmasked random actions, so this is a penalty rather than an exception. An action outside
    the action space raises ValueError.

    ## Starting State

    No token chosen: the observation is ``[V] * 5U + [0]``. There is no randomness in the
    environment; a stochastic `reward_fn` brings its own.

    ## Episode End

    Terminated after 5·U legal actions, or at the first illegal one. Never truncated by the
    environment (a ``gym.make`` TimeLimit of at least 5·U steps never cuts an episode short).

    ## Arguments

    ```python
    import gymnasium as gym
    env = gym.make("nos/OptimizerSearch-v0")                                  # target mode, PowerSign
    env = gym.make("nos/OptimizerSearch-v0", reward="target", target="addsign")
    env = gym.make("nos/OptimizerSearch-v0", preset="quick")                  # trains child models
    env = gym.make("nos/OptimizerSearch-v0", task="mlp_digits", steps=200, learning_rates=[0.01, 0.1])
    ```

    - ``reward``: ``"target"`` (default) or ``"child"``. Target mode scores a rule by the
      similarity of its updates to ``target``'s (a catalog name or rule text, ``"powersign"``)
      under ``metric`` (``"relative"``); see `nos.search.target_reward`. Child mode trains the rule on
      a child task, as ``nos search`` does, and rewards it b/(b + s) against the baseline
      (`nos.search.reward`); it is chosen by any of the child arguments below.
    - ``preset``: a preset's reward and search space (``"quick"``, ``"rediscover"``, ``"paper"``).
    - ``task``, ``task_config``, ``steps``, ``learning_rates``, ``seeds``, ``signal``,
      ``baseline``: keys of a search config's ``[reward]`` table, overriding the preset's (or
      the defaults'); checked as ``nos search`` checks them.
    - ``reward_fn``: instead of all of the above, any callable taking a list of `Rule` and
      returning one float per rule.
    - ``grammar``: the `search_space.Grammar` to write rules in (``GRAMMAR.subset(...)`` for a
      smaller problem; a preset's space by default when a preset is given). ``units``: U,
      units per rule (2, or the preset's).
    - ``check_validity``: run `rule_problem` before the reward (True).
    - ``illegal_action_reward``: reward for a masked-out action (−1.0).
    - ``render_mode``: None or ``"ansi"`` (``render()`` returns the program written so far).

    An unknown argument, a mix that names two rewards, or a ``reward_fn`` that is not callable
    (``reward_fn="target"``) is a ValueError naming it. An episode is 5·U steps and the reward
    comes at its end, so ``gym.make(..., max_episode_steps=k)`` with k < 5·U (a TimeLimit that
    would cut every episode before its reward) is a ValueError too.

    At the end of an episode, ``info`` holds ``"rule"`` (canonical text), ``"tokens"`` and, for
    rejected rules, ``"invalid"``. ``env.unwrapped.score(rules)`` scores a whole batch of rules
    in one call of ``reward_fn`` (one engine call in child mode), for agents that collect
    episodes first.

    ## Vectorized environment

    ```python
    import gymnasium as gym, nos.env
    envs = gym.make_vec("nos/OptimizerSearch-v0", num_envs=8, vectorization_mode="vector_entry_point")
    ```

    `OptimizerSearchVectorEnv` (the default mode once `nos.env` is imported) takes the same
    arguments and scores all the episodes that end in one step with one ``reward_fn`` call: a
    batch of 8 masked episodes is one engine call, where ``vectorization_mode="sync"`` makes 8.
    ``envs.action_masks()`` is bool [N, V]; autoreset is next-step.

    ## Reinforcement-learning libraries

    ``scripts/train_maskable_ppo.py`` trains sb3-contrib's MaskablePPO on the environment
    (``pip install -e ".[rl]"``, which pins the versions tested with the ``torch`` extra). Import
    `nos.env` before TensorFlow, Stable-Baselines3 or tensorboard: with torch's triton
    installed (CUDA builds of torch), loading triton after TensorFlow segfaults, and importing
    `nos.env` loads triton first (see `_load_triton_before_tensorflow`). Code that imports
    TensorFlow itself must ``import triton`` (or ``torch._dynamo``) before it.

    ## Version History

    * v0: Initial version; ``score`` and the vector entry point added later, same dynamics.
    """

    metadata: ClassVar[dict] = {"render_modes": ["ansi"], "render_fps": 4}

    def __init__(
        self,
        reward: str | None = None,
        *,
        target: str | None = None,
        metric: str | None = None,
        preset: str | None = None,
        reward_fn: Callable[[Sequence[Rule]], Sequence[float]] | None = None,
        grammar: Grammar | None = None,
        units: int | None = None,
        check_validity: bool = True,
        illegal_action_reward: float = -1.0,
        render_mode: str | None = None,
        **child,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be None or one of {self.metadata['render_modes']}, got {render_mode!r}"
            )
        self.reward_fn, space = _reward(reward, target, metric, preset, reward_fn, child)
        if grammar is None:
            grammar = GRAMMAR if space is None else grammar_of(space)
        if units is None:
            units = 2 if space is None else space.units
        self.space = SearchSpace(grammar, units)
        _check_time_limit(_time_limit_of_make(), self.space)
        self.check_validity = check_validity
        self.illegal_action_reward = float(illegal_action_reward)
        self.render_mode = render_mode
        length, vocabulary = self.space.length, self.space.vocabulary_size
        self.action_space = spaces.Discrete(vocabulary)
        self.observation_space = spaces.MultiDiscrete([vocabulary + 1] * length + [length + 1])
        self._tokens: list[int] = []
        self._done = False

    def _observation(self) -> np.ndarray:
        length, blank = self.space.length, self.space.vocabulary_size
        observation = np.full(length + 1, blank, dtype=np.int64)
        observation[: len(self._tokens)] = self._tokens
        observation[length] = len(self._tokens)
        return observation

    def action_masks(self) -> np.ndarray:
        """bool [V]: the legal actions of the next slot (all False once the episode is over)."""
        if self._done:
            return np.zeros(self.space.vocabulary_size, dtype=bool)
        return self.space.masks[len(self._tokens)].copy()

    def _info(self, **extra) -> dict:
        return {"action_mask": self.action_masks().astype(np.int8), **extra}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._tokens = []
        self._done = False
        return self._observation(), self._info()

    def step(self, action):
        observation, reward, terminated, info, rule = self._write(action)
        if rule is not None:
            reward = float(self.score([rule])[0])
        return observation, reward, terminated, False, info

    def score(self, rules: Sequence[Rule]) -> np.ndarray:
        """float64 [len(rules)]: ``reward_fn(rules)``, one call for the whole batch, its length checked."""
        rewards = np.asarray(self.reward_fn(list(rules)), dtype=np.float64).reshape(-1)
        if rewards.shape != (len(rules),):
            raise ValueError(f"reward_fn returned {rewards.size} rewards for {len(rules)} rules")
        return rewards

    def _write(self, action):
        """step() up to the reward: (observation, reward, terminated, info, the rule to score or None)."""
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is outside the action space {self.action_space}")
        if self._done:
            raise ValueError("the episode is over; call reset() before step()")
        slot, action = len(self._tokens), int(action)
        if not self.space.masks[slot, action]:
            self._done = True
            message = (
                f"action {action} ({self.space.vocabulary[action]!r}) is not legal in slot {slot} "
                f"(unit {slot // 5}, token {slot % 5})"
            )
            return self._observation(), self.illegal_action_reward, True, self._info(illegal_action=message), None
        self._tokens.append(action)
        if len(self._tokens) < self.space.length:
            return self._observation(), 0.0, False, self._info(), None
        self._done = True
        rule = self.space.decode(self._tokens)
        extra = {"rule": str(rule), "tokens": tuple(self._tokens)}
        problem = rule_problem(rule) if self.check_validity else None
        if problem is not None:
            return self._observation(), 0.0, True, self._info(invalid=problem, **extra), None
        return self._observation(), 0.0, True, self._info(**extra), rule

    def render(self):
        if self.render_mode != "ansi":
            return None
        names = [self.space.vocabulary[t] for t in self._tokens]
        names += ["_"] * (self.space.length - len(names))
        units = [f"u{i}=({', '.join(names[5 * i : 5 * i + 5])})" for i in range(self.space.units)]
        return " ".join(units)


class OptimizerSearchVectorEnv(VectorEnv):
    """`OptimizerSearchEnv` × num_envs stepped together, each step scoring the episodes it ends in one call.

    ``gym.make_vec(ENV_ID, num_envs=N, vectorization_mode="vector_entry_point", **arguments)`` (the
    default mode once `nos.env` is imported) takes the arguments of `OptimizerSearchEnv`, and
    ``max_episode_steps`` checked as ``gym.make`` checks it. Observations are int64 [N, 5U + 1],
    actions N ints; ``action_masks()`` is bool [N, V], ``infos["action_mask"]`` int8 [N, V].
    Autoreset is next-step, as in ``SyncVectorEnv``: the step after a sub-environment's episode
    ends ignores its action and resets it (reward 0). Every rule finished in one step goes to
    ``reward_fn`` in one call; with masked actions the N episodes end together (5·U steps), so a
    batch of N episodes is one engine call where ``SyncVectorEnv`` makes N.
    """

    metadata: ClassVar[dict] = {"autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, *, max_episode_steps: int | None = None, **arguments):
        if isinstance(num_envs, bool) or not isinstance(num_envs, int) or num_envs < 1:
            raise ValueError(f"num_envs must be a positive int, got {num_envs!r}")
        first = OptimizerSearchEnv(**arguments)
        _check_time_limit(max_episode_steps, first.space)
        self.envs = [first] + [
            OptimizerSearchEnv(reward_fn=first.reward_fn, grammar=first.space.grammar, units=first.space.units,
                               check_validity=first.check_validity, render_mode=first.render_mode,
                               illegal_action_reward=first.illegal_action_reward)
            for _ in range(num_envs - 1)
        ]
        self.num_envs, self.render_mode, self.reward_fn = num_envs, first.render_mode, first.reward_fn
        self.single_observation_space, self.single_action_space = first.observation_space, first.action_space
        self.observation_space = batch_space(first.observation_space, num_envs)
        self.action_space = batch_space(first.action_space, num_envs)
        self._autoreset = np.zeros(num_envs, dtype=bool)

    def action_masks(self) -> np.ndarray:
        """bool [N, V]: each sub-environment's `OptimizerSearchEnv.action_masks`."""
        return np.stack([env.action_masks() for env in self.envs])

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self._autoreset[:] = False
        observations, infos = [], {}
        for i, env in enumerate(self.envs):
            observation, info = env.reset(options=options)
            observations.append(observation)
            infos = self._add_info(infos, info, i)
        return np.stack(observations), infos

    def step(self, actions):
        actions = np.asarray(actions)
        if actions.shape != (self.num_envs,):
            raise ValueError(f"actions must have shape ({self.num_envs},), got {actions.shape}")
        observations, infos, ended = [], {}, []
        rewards, terminations = np.zeros(self.num_envs), np.zeros(self.num_envs, dtype=bool)
        for i, (env, action) in enumerate(zip(self.envs, actions.tolist())):
            if self._autoreset[i]:
                observation, info = env.reset()
            else:
                observation, rewards[i], terminations[i], info, rule = env._write(action)
                if rule is not None:
                    ended.append((i, rule))
            observations.append(observation)
            infos = self._add_info(infos, info, i)
        if ended:
            indices, rules = zip(*ended)
            rewards[list(indices)] = self.envs[0].score(rules)
        self._autoreset = terminations.copy()
        return np.stack(observations), rewards, terminations, np.zeros(self.num_envs, dtype=bool), infos

    def render(self):
        return tuple(env.render() for env in self.envs)

    def close_extras(self, **kwargs):
        for env in self.envs:
            env.close()


def _time_limit_of_make() -> int | None:
    """The TimeLimit of the ``gym.make`` call constructing the environment, if it is one.

    ``gym.make`` keeps its ``max_episode_steps`` argument for the TimeLimit wrapper it puts around
    the environment and does not pass it on, so the constructor reads it from make's frame (its
    caller's) to refuse a limit that would end every episode before its reward.
    """
    frame = sys._getframe(2)  # 0: this function, 1: OptimizerSearchEnv.__init__, 2: its caller
    if frame.f_code is not gym.envs.registration.make.__code__:
        return None
    limit = frame.f_locals.get("max_episode_steps")
    return limit if limit is not None else frame.f_locals["env_spec"].max_episode_steps


def _check_time_limit(max_episode_steps: int | None, space: SearchSpace) -> None:
    if max_episode_steps is not None and max_episode_steps != -1 and max_episode_steps < space.length:
        raise ValueError(
            f"max_episode_steps={max_episode_steps} would end every episode before its reward: an episode is "
            f"{space.length} steps (5 tokens × {space.units} units) and the reward comes at the last one; "
            f"pass at least {space.length} or leave it out")


CHILD_KEYS = tuple(f.name for f in dataclasses.fields(RewardConfig))
"""The [reward] keys of a search config that the environment accepts as arguments."""


def _reward(kind, target, metric, preset, reward_fn, child):
    """(reward function, the preset's space config or None) from the constructor's arguments."""
    unknown = sorted(set(child) - set(CHILD_KEYS))
    if unknown:
        raise ValueError(f"unknown argument {unknown[0]!r} of {ENV_ID}; arguments: reward, target, metric, "
                         f"preset, {', '.join(CHILD_KEYS)}, reward_fn, grammar, units, check_validity, "
                         "illegal_action_reward, render_mode")
    if kind not in (None, "target", "child"):
        raise ValueError(f"reward must be 'target' or 'child', got {kind!r}" + (
            "; a reward function goes in reward_fn" if callable(kind) else ""))
    wants_child = preset is not None or bool(child)
    if reward_fn is not None:
        if not callable(reward_fn):
            raise ValueError(f"reward_fn must be a callable taking a list of rules, got {reward_fn!r}; "
                             "for the built-in rewards pass reward='target' or reward='child'")
        if kind is not None or target is not None or metric is not None or wants_child:
            raise ValueError("reward_fn replaces reward, target, metric, preset and the child arguments: "
                             "give one or the other")
        return reward_fn, None
    if kind == "target" and wants_child:
        raise ValueError("reward='target' takes no preset or child-task arguments "
                         f"({', '.join(sorted(child)) or 'preset'})")
    if kind == "child" or wants_child:
        if target is not None or metric is not None:
            raise ValueError("target and metric belong to reward='target', not to a child-task reward")
        return _child_reward(preset, child)
    from nos.search.target_reward import TargetReward

    return TargetReward(target or "powersign", metric=metric or "relative"), None


def _child_reward(preset, child):
    from nos.search.config import SearchConfig, from_dict, load_preset
    from nos.search.loop import _check_task
    from nos.search.reward import Scorer

    base = load_preset(preset) if preset is not None else SearchConfig()
    config = from_dict({**base.to_dict(), "reward": {**base.to_dict()["reward"], **child}})
    _check_task(config)
    scorer = Scorer(config.reward)
    return (lambda rules: [scored.reward for scored in scorer.score(rules)]), config.space

