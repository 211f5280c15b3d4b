"""Search configuration: TOML files mapped onto dataclasses, with clear errors.

A config file has top-level keys of `SearchConfig` and one table per section::

    budget = 64
    [space]
    units = 2
    [reward]
    task = "mlp_digits"
    [controller]
    name = "rnn"
    [executor]
    name = "ray"
    address = "auto"

Unknown keys and values of the wrong type are `ConfigError`s naming the key.
"""

from __future__ import annotations

import dataclasses
import math
import tomllib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from controllers.registry import CONTROLLERS
from nos.errors import NosError
from nos.limits import MAX_BATCH_SIZE, MAX_CONFIG_BYTES, MAX_LANES, MAX_SEED, MAX_STEPS

PRESETS = ("quick", "rediscover", "paper")
AGGREGATES = ("geometric", "arithmetic", "min")
EXECUTORS = ("local", "ray")


class ConfigError(NosError, ValueError):
    """A config that does not describe a search."""


@dataclass
class SpaceConfig:
    units: int = 2
    """Units per rule; a rule is 5 tokens a unit (the paper's controller used up to 3)."""
    operands: list[str] | None = None
    """Grammar operands to search over; absent means all of the paper's."""
    unary: list[str] | None = None
    """Unary functions to search over; absent means all of the paper's."""
    binary: list[str] | None = None
    """Binary functions to search over; absent means all of the paper's."""


@dataclass
class RewardConfig:
    task: str = "mlp_digits"
    """Child task every rule is trained on (see `nos.engine.tasks.TASKS`)."""
    task_config: dict = field(default_factory=dict)
    """Keyword arguments of the task, e.g. {hidden = [32]}."""
    steps: int = 300
    """Training steps of each child run."""
    learning_rates: list[float] = field(default_factory=lambda: [1e-3, 1e-2, 1e-1])
    """Grid of learning rates; a rule's score is taken at its best one."""
    seeds: list[int] = field(default_factory=lambda: [0])
    """Seeds of the child runs (initialisation and minibatch order)."""
    signal: str = "val_loss"
    """Score: "val_loss" (validation loss at the end) or "auc" (mean training loss over the run)."""
    baseline: str = "adam"
    """Catalog rule whose score b normalises a rule's score s: reward = b/(b + s) (`nos.search.reward`)."""
    tasks: list[str] | None = None
    """Several child tasks instead of `task`: each rule is trained on every one (same steps,
    learning rates and seeds), rewarded per task against the baseline there, and the per-task
    rewards are combined by `aggregate`."""
    task_configs: dict = field(default_factory=dict)
    """Keyword arguments of the `tasks`, by task name, e.g. {logreg = {dim = 20}}."""
    aggregate: str = "geometric"
    """How `tasks`' rewards combine: "geometric" mean (a rule must do well on every task; one
    divergence makes it 0), "arithmetic" mean, or "min" (the worst task)."""

    def task_list(self) -> list[tuple[str, dict]]:
        """(task name, task config) of each task the reward trains on."""
        if self.tasks:
            return [(name, dict(self.task_configs.get(name, {}))) for name in self.tasks]
        return [(self.task, dict(self.task_config))]


@dataclass
class FunnelStage(RewardConfig):
    """One stage of the funnel that follows a search (``[[funnel]]`` tables): the `top` distinct
    rules of the previous stage (the search itself first) are trained again with this reward
    (any `RewardConfig` key: tasks, steps, learning rates, seeds, …); see `nos.search.funnel`."""

    top: int = 16
    """How many rules enter this stage: the best of the previous one, distinct by fingerprint."""


@dataclass
class ControllerConfig:
    name: str = "rnn"
    """Controller: a name of `controllers.registry.CONTROLLERS` ("rnn": policy gradient, "random",
    "evolution")."""
    options: dict = field(default_factory=dict)
    """Keyword arguments of the controller (see `controllers.make_controller`)."""
    novelty: bool = True
    """Train the controller on novelty-shaped rewards (`controllers.novelty`): a sample whose rule
    was already seen in the run (fingerprint up to a positive factor) teaches `repeat_reward`,
    not its cached reward. The store records every sample's own reward either way."""
    repeat_reward: float = 0.0
    """What a repeated rule teaches the controller when `novelty` is on (< 0: a penalty)."""


@dataclass
class ExecutorConfig:
    name: str = "local"
    """Where rules are trained: "local" (this process) or "ray" (Ray tasks on a cluster)."""
    address: str = ""
    """Ray cluster to join ("auto", "HOST:6379", "ray://HOST:10001"); empty starts a local Ray."""
    num_cpus: int = 0
    """CPUs of a local Ray instance (0: all of this machine's); ignored with an address."""
    cpus_per_task: float = 1.0
    """CPUs Ray reserves for each task (TensorFlow in the task may still use more threads)."""
    chunk_size: int = 0
    """Rules per task, the unit of work, retry and failure; 0: local runs a step's new rules in one
    chunk, ray splits them evenly over the cluster's task slots."""
    retries: int = 2
    """Times a chunk whose worker died or raised is run again before its rules are failed."""
    timeout_seconds: float = 0.0
    """Wall time a chunk may take before its rules are failed ("timeout after Ns"); 0: no limit.
    Ray stops the task; local can only see the overrun when the chunk returns (see
    `nos.search.executors.local`)."""


@dataclass
class SearchConfig:
    seed: int = 0
    """Seed of the controller; same seed and config give the same search."""
    budget: int = 64
    """Number of rules to sample (cached and invalid ones count)."""
    max_seconds: float = 0.0
    """Wall-time budget in seconds; 0 means no limit. A step in flight when it runs out keeps the
    samples before its first untrained rule (see `nos.search.loop`)."""
    batch_size: int = 16
    """Rules proposed per controller step."""
    leaderboard: int = 10
    """How many top rules to show at the end."""
    space: SpaceConfig = field(default_factory=SpaceConfig)
    reward: RewardConfig = field(default_factory=RewardConfig)
    controller: ControllerConfig = field(default_factory=ControllerConfig)
    executor: ExecutorConfig = field(default_factory=ExecutorConfig)
    funnel: list[FunnelStage] = field(default_factory=list)
    """Stages that re-train the search's best rules at higher fidelity (`nos.search.funnel`)."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_type(value, annotation, where: str):
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(annotation)
        if value is None and type(None) in options:
            return value
        return _check_type(value, next(a for a in options if a is not type(None)), where)
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where} must be a list, got {value!r}")
        (item,) = typing.get_args(annotation)
        if dataclasses.is_dataclass(item):
            return [_build(item, v, f"{where}[{i}]") for i, v in enumerate(value)]
        return [_check_type(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if annotation is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    expected = {"int": int, "float": float, "str": str, "bool": bool, "dict": dict}.get(
        getattr(annotation, "__name__", str(annotation)), annotation
    )
    if isinstance(expected, type) and (
        not isinstance(value, expected) or (expected is int and isinstance(value, bool))
    ):
        raise ConfigError(f"{where} must be {expected.__name__}, got {value!r}")
    return value


def _build(cls, data: dict, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f"[{where}] must be a table, got {data!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    hints = typing.get_type_hints(cls)
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r} in {where}; known keys: {', '.join(fields)}")
    values = {}
    for name, value in data.items():
        key = f"{where}.{name}" if where != "config" else name
        if dataclasses.is_dataclass(hints[name]):
            values[name] = _build(hints[name], value, name)
        else:
            values[name] = _check_type(value, hints[name], key)
    return cls(**values)


def lanes(config: SearchConfig) -> int:
    """Child trainings one search batch can ask for: rules × learning rates × seeds."""
    return config.batch_size * len(config.reward.learning_rates) * len(config.reward.seeds)


def validate(config: SearchConfig) -> SearchConfig:
    """Range checks that types cannot express."""
    checks = [
        (config.budget >= 1, f"budget must be at least 1, got {config.budget}"),
        (1 <= config.batch_size <= MAX_BATCH_SIZE, f"batch_size must be in 1..{MAX_BATCH_SIZE:,}, got {config.batch_size}"),
        (config.leaderboard >= 1, f"leaderboard must be at least 1, got {config.leaderboard}"),
        (config.max_seconds >= 0, f"max_seconds must be >= 0, got {config.max_seconds}"),
        (1 <= config.space.units <= 8, f"space.units must be in 1..8, got {config.space.units}"),
        *_reward_checks(config.reward, "reward"),
        (lanes(config) <= MAX_LANES, f"batch_size × reward.learning_rates × reward.seeds = {lanes(config):,} lanes "
                                     f"a batch is above the limit of {MAX_LANES:,}"),
        (0 <= config.seed <= MAX_SEED, f"seed must be in 0..{MAX_SEED}, got {config.seed}"),
        *(check for i, stage in enumerate(config.funnel) for check in _stage_checks(stage, f"funnel[{i}]")),
        (config.controller.name in CONTROLLERS, f"controller.name must be one of {', '.join(CONTROLLERS)}, got {config.controller.name!r}"),
        *_executor_checks(config.executor),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
    from search_space import GRAMMAR, KNOWN_RULES
    from search_space.vocabulary import GRADIENT_SYMBOLS

    for where, reward in (("reward", config.reward), *((f"funnel[{i}]", s) for i, s in enumerate(config.funnel))):
        if reward.baseline not in KNOWN_RULES:
            raise ConfigError(f"{where}.baseline {reward.baseline!r} is not a known rule")
    try:
        grammar = GRAMMAR.subset(config.space.operands, config.space.unary, config.space.binary)
    except ValueError as error:
        raise ConfigError(f"space: {error}") from None
    if not any(row.symbol().free_symbols & GRADIENT_SYMBOLS for row in grammar.operands):
        raise ConfigError("space.operands: none depends on the gradient (g, m, v, y), so every rule "
                          "of the space would be invalid")
    return config


def _reward_checks(reward: RewardConfig, where: str) -> list[tuple[bool, str]]:
    """Range checks of a reward (the search's, or a funnel stage's), naming keys under `where`."""
    tasks = reward.tasks or []
    return [
        (1 <= reward.steps <= MAX_STEPS, f"{where}.steps must be in 1..{MAX_STEPS:,}, got {reward.steps}"),
        (bool(reward.learning_rates), f"{where}.learning_rates must not be empty"),
        (all(0 < lr < math.inf for lr in reward.learning_rates), f"{where}.learning_rates must be positive and finite"),
        (bool(reward.seeds), f"{where}.seeds must not be empty"),
        (all(0 <= s <= MAX_SEED for s in reward.seeds), f"{where}.seeds must be in 0..{MAX_SEED}"),
        (reward.signal in ("val_loss", "auc"), f"{where}.signal must be 'val_loss' or 'auc', got {reward.signal!r}"),
        (reward.tasks is None or len(tasks) >= 1, f"{where}.tasks must not be empty (leave it out to use {where}.task)"),
        (len(set(tasks)) == len(tasks), f"{where}.tasks must be distinct, got {tasks}"),
        (not (tasks and reward.task_config), f"{where}.task_config applies to {where}.task; with {where}.tasks use "
                                             f"{where}.task_configs = {{NAME = {{...}}}}"),
        (set(reward.task_configs) <= set(tasks), f"{where}.task_configs names tasks not in {where}.tasks: "
                                                 f"{sorted(set(reward.task_configs) - set(tasks))}"),
        (all(isinstance(v, dict) for v in reward.task_configs.values()), f"{where}.task_configs values must be tables"),
        (reward.aggregate in AGGREGATES, f"{where}.aggregate must be {', '.join(AGGREGATES)}, got {reward.aggregate!r}"),
    ]


def _stage_checks(stage: FunnelStage, where: str) -> list[tuple[bool, str]]:
    lanes = stage.top * len(stage.learning_rates) * len(stage.seeds)
    return [
        (1 <= stage.top <= MAX_BATCH_SIZE, f"{where}.top must be in 1..{MAX_BATCH_SIZE:,}, got {stage.top}"),
        *_reward_checks(stage, where),
        (lanes <= MAX_LANES, f"{where}: top × learning_rates × seeds = {lanes:,} lanes is above the limit of {MAX_LANES:,}"),
    ]


def _executor_checks(executor: ExecutorConfig) -> list[tuple[bool, str]]:
    return [
        (executor.name in EXECUTORS, f"executor.name must be {' or '.join(EXECUTORS)}, got {executor.name!r}"),
        (not executor.address or executor.name == "ray",
         f"executor.address {executor.address!r} needs executor.name = 'ray'"),
        (executor.num_cpus >= 0, f"executor.num_cpus must be >= 0, got {executor.num_cpus}"),
        (executor.cpus_per_task > 0, f"executor.cpus_per_task must be > 0, got {executor.cpus_per_task}"),
        (executor.chunk_size >= 0, f"executor.chunk_size must be >= 0, got {executor.chunk_size}"),
        (executor.retries >= 0, f"executor.retries must be >= 0, got {executor.retries}"),
        (executor.timeout_seconds >= 0, f"executor.timeout_seconds must be >= 0, got {executor.timeout_seconds}"),
    ]


def from_dict(data: dict) -> SearchConfig:
    return validate(_build(SearchConfig, data, "config"))


def load_config(path: str | Path) -> SearchConfig:
    """Read a TOML config file; ConfigError on a missing, malformed or invalid file."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise ConfigError(f"cannot read config {path}: {error.strerror or error}") from None
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"config {path} is larger than the limit of {MAX_CONFIG_BYTES:,} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{path} is not UTF-8 text (byte {error.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    return from_dict(data)


def load_preset(name: str) -> SearchConfig:
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; presets: {', '.join(PRESETS)}")
    text = resources.files("nos.search.presets").joinpath(f"{name}.toml").read_text()
    return from_dict(tomllib.loads(text))


def grammar_of(space: SpaceConfig):
    from search_space import GRAMMAR

    return GRAMMAR.subset(space.operands, space.unary, space.binary)
