"""The optimizer search problem as a Gymnasium environment: write a rule one token per step."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import ClassVar

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from controllers.space import SearchSpace
from nos.config import RewardConfig, grammar_of
from search_space import GRAMMAR, Grammar, Rule, rule_problem

ENV_ID = "nos/OptimizerSearch-v0"


class OptimizerSearchEnv(gym.Env):
    """
    ## Description

    Neural Optimizer Search (Bello et al., ICML 2017) as a sequential decision problem: an agent
    writes an optimizer update rule ``w ← w − lr·d`` as a program of U units, one token per step.
    Unit i is five tokens ``(op1, op2, u1, u2, b)`` and computes ``b(u1(op1), u2(op2))``;
    operands are grammar operands (``g``, ``m``, ``sign(g)``, …) or outputs ``u<j>`` of earlier
    units, and the last unit's output is d. After 5·U tokens the rule is scored.

    ## Action Space

    ``Discrete(V)``, V the vocabulary size of ``grammar.vocabulary(U)``: operands, then unary
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
    ``nos.target_reward.TargetReward("powersign")``: the similarity in [0, 1] of the rule's
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

    Terminated after 5·U legal actions, or at the first illegal one. Never truncated.

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
      under ``metric`` (``"relative"``); see `nos.target_reward`. Child mode trains the rule on
      a child task, as ``nos search`` does, and rewards it b/(b + s) against the baseline
      (`nos.reward`); it is chosen by any of the child arguments below.
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

    An unknown argument, or a mix that names two rewards, is a ValueError naming it. An episode
    is 5·U steps and the reward comes at its end: do not pass ``gym.make`` a
    ``max_episode_steps`` below 5·U (Gymnasium's TimeLimit wraps the environment from outside,
    where it cannot check).

    At the end of an episode, ``info`` holds ``"rule"`` (canonical text), ``"tokens"`` and, for
    rejected rules, ``"invalid"``. ``env.unwrapped.reward_fn(rules)`` scores a whole batch of
    rules in one call (one engine call in child mode), for agents that collect episodes first.

    ## Version History

    * v0: Initial version.
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
            return (
                self._observation(),
                self.illegal_action_reward,
                True,
                False,
                self._info(illegal_action=message),
            )
        self._tokens.append(action)
        if len(self._tokens) < self.space.length:
            return self._observation(), 0.0, False, False, self._info()
        self._done = True
        rule = self.space.decode(self._tokens)
        extra = {"rule": str(rule), "tokens": tuple(self._tokens)}
        problem = rule_problem(rule) if self.check_validity else None
        if problem is not None:
            return self._observation(), 0.0, True, False, self._info(invalid=problem, **extra)
        reward = float(np.asarray(self.reward_fn([rule]), dtype=np.float64).reshape(-1)[0])
        return self._observation(), reward, True, False, self._info(**extra)

    def render(self):
        if self.render_mode != "ansi":
            return None
        names = [self.space.vocabulary[t] for t in self._tokens]
        names += ["_"] * (self.space.length - len(names))
        units = [f"u{i}=({', '.join(names[5 * i : 5 * i + 5])})" for i in range(self.space.units)]
        return " ".join(units)


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
    from nos.target_reward import TargetReward

    return TargetReward(target or "powersign", metric=metric or "relative"), None


def _child_reward(preset, child):
    from nos.config import SearchConfig, from_dict, load_preset
    from nos.reward import Scorer
    from nos.search import _check_task

    base = load_preset(preset) if preset is not None else SearchConfig()
    config = from_dict({**base.to_dict(), "reward": {**base.to_dict()["reward"], **child}})
    _check_task(config)
    scorer = Scorer(config.reward)
    return (lambda rules: [scored.reward for scored in scorer.score(rules)]), config.space


if ENV_ID not in gym.registry:  # `import nos` registers it too; either import makes gym.make(ENV_ID) work
    gym.register(id=ENV_ID, entry_point="nos.env:OptimizerSearchEnv")
