"""Can a search rediscover PowerSign and AddSign? Measured per controller and seed.

Engine mode runs the `rediscover` preset (a vocabulary in which PowerSign, AddSign and their
decayed variants are expressible) with each controller and seed as an ordinary search run,
then reads each run's store in sampling order and reports the samples and wall time until
  (a) a rule whose reward is at least PowerSign's reward on the same task, and
  (b) a rule equivalent (by canonical key) to any PowerSign or AddSign catalog variant.
Runs live in OUT/CONTROLLER-seedS, so an interrupted study resumes where it stopped.

Target mode measures the search algorithms alone: a candidate's reward is how closely its
updates agree with a hidden target rule's on fixed gradient streams (no child training), and
the figure of merit is the number of samples until the target itself (by key) is proposed.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FAMILY_PREFIXES = ("powersign", "addsign")

STUDY_CONTROLLERS = {
    "rnn": ("rnn", {}),
    "rnn-ppo": ("rnn", {"algorithm": "ppo"}),
    "random": ("random", {}),
    "evolution": ("evolution", {}),
}
"""Controllers a study compares: name → (controller, options). rnn-ppo is the rnn with PPO."""

MILESTONES = ("multiple", "function", "key")
"""What "found" means, loosest first: a positive multiple of a target (the same optimizer once
the learning rate is tuned), the same function (equal fingerprints), the same canonical key."""

TARGET_METRICS = {"addsign": "cosine"}
"""Target mode's agreement metric per target, chosen by measurement (README); others: relative."""


def family() -> dict[str, object]:
    """Every PowerSign and AddSign catalog variant, by name."""
    from search_space import KNOWN_RULES

    return {name: rule for name, rule in KNOWN_RULES.items() if name.startswith(FAMILY_PREFIXES)}


@dataclass
class Trial:
    """One controller and seed: the first sample (1-based) and second reaching each milestone."""

    controller: str
    seed: int
    samples: int = 0
    seconds: float = 0.0
    first: dict = field(default_factory=dict)
    """milestone → first sample reaching it (absent: not reached)."""
    seconds_to: dict = field(default_factory=dict)
    found: str = ""
    """The rule text that first reached "multiple", and the target it matches."""
    best_curve: list = field(default_factory=list)

    def reached(self, milestone: str) -> int | None:
        return self.first.get(milestone)


class Matcher:
    """Which milestones a rule reaches against a set of target rules (name → Rule)."""

    def __init__(self, targets: dict):
        self.targets = targets
        self.fingerprints = {rule.fingerprint: name for name, rule in targets.items()}
        self._keys = None

    def __call__(self, rule) -> tuple[str | None, set[str]]:
        """(the matched target's name or None, the milestones reached)."""
        from search_space.fingerprint import positive_multiple

        for name, target in self.targets.items():
            if positive_multiple(rule, target) is None:
                continue
            reached = {"multiple"}
            if self.fingerprints.get(rule.fingerprint) == name:
                reached.add("function")
                if rule.key == target.key:  # sympy only for a functional match
                    reached.add("key")
            return name, reached
        return None, set()


class Recorder:
    """Accumulates one trial: rewards, and the first time each milestone is met."""

    def __init__(self, trial: Trial, matcher: Matcher, level: float | None = None):
        self.trial, self.matcher, self.level = trial, matcher, level
        self.best = -np.inf

    def add(self, rule, reward: float, seconds: float, new: bool = True):
        trial = self.trial
        trial.samples += 1
        trial.seconds = seconds
        self.best = max(self.best, reward)
        trial.best_curve.append(float(self.best))
        reached = set()
        if self.level is not None and reward >= self.level - 1e-12:
            reached.add("level")
        if new and not MILESTONES[-1] in trial.first:
            name, matched = self.matcher(rule)
            reached |= matched
            if matched and "multiple" not in trial.first:
                trial.found = f"{rule} ({name})"
        for milestone in reached:
            if milestone not in trial.first:
                trial.first[milestone] = trial.samples
                trial.seconds_to[milestone] = seconds

    def done(self, milestone: str) -> bool:
        return milestone in self.trial.first


def engine_study(controllers, seeds, out: Path, budget: int | None = None, progress=True, log=print):
    """Search runs of the rediscover preset; returns (trials, the level to reach).

    The level is the best reward of a catalog rule expressible in the preset's space on its task
    (see the README: no CPU-sized task found makes PowerSign the best rule)."""
    from nos.config import load_preset
    from nos.reward import Scorer
    from nos.search import search
    from nos.store import RunStore

    preset = load_preset("rediscover")
    if budget:
        preset.budget = budget
    level_name, level = best_known_rule(preset, Scorer(preset.reward))
    log(f"best catalog rule of the space on {preset.reward.task}: {level_name}, reward {level:.4f}")
    matcher = Matcher(family())
    trials = []
    for name in controllers:
        controller, options = STUDY_CONTROLLERS[name]
        for seed in seeds:
            config = copy.deepcopy(preset)
            config.controller.name, config.controller.options, config.seed = controller, dict(options), seed
            run_dir = out / f"{name}-seed{seed}"
            resume = (run_dir / "store.sqlite").exists()
            log(f"{name}, seed {seed}: {'resuming' if resume else 'searching'} in {run_dir}")
            summary = search(config, run_dir, resume=resume, progress=progress, log=log)
            if summary.interrupted:
                from nos.search import Interrupted

                raise Interrupted(summary.interrupted)  # stop the study; every run resumes later
            store = RunStore.open(run_dir)
            rows, started = store.samples(), store.meta("created")
            store.close()
            from search_space import parse

            recorder = Recorder(Trial(name, seed), matcher, level)
            for row in rows:  # `created`: when each sample's batch was committed
                recorder.add(parse(row["text"]), row["reward"], row["created"] - started,
                             new=row["source"] == "evaluated")
            trials.append(recorder.trial)
    return trials, level


def best_known_rule(config, scorer) -> tuple[str, float]:
    """The catalog rule expressible in `config`'s space with the highest reward, and that reward."""
    from controllers import SearchSpace
    from nos.config import grammar_of
    from search_space import KNOWN_RULES

    space = SearchSpace(grammar_of(config.space), config.space.units)
    names = []
    for name, rule in KNOWN_RULES.items():
        try:
            space.encode(rule)
        except ValueError:
            continue
        names.append(name)
    rewards = [scored.reward for scored in scorer.score(names)]
    best = int(np.argmax(rewards))
    return names[best], float(rewards[best])


def target_study(target: str, controllers, seeds, budget: int, batch_size: int = 32, metric: str | None = None,
                 novelty: bool = True, options: dict | None = None, log=print):
    """Controllers rewarded by agreement with `target`'s updates; samples until they find it.

    A run stops at the first rule computing the target's function (fingerprint); "multiple" and
    "key" are reported as met by then. With `novelty`, a repeated rule teaches reward 0
    (`controllers.novelty`). `options` (name → dict) overrides a study controller's options."""
    from controllers import SearchSpace, make_controller
    from controllers.novelty import NoveltyReward
    from nos.config import grammar_of, load_preset
    from nos.target_reward import TargetReward
    from search_space import KNOWN_RULES

    space_config = load_preset("rediscover").space
    reward_fn = TargetReward(KNOWN_RULES[target], metric=metric or TARGET_METRICS.get(target, "relative"))
    matcher = Matcher({target: KNOWN_RULES[target]})
    trials = []
    for name in controllers:
        controller_name, defaults = STUDY_CONTROLLERS[name]
        for seed in seeds:
            space = SearchSpace(grammar_of(space_config), space_config.units)
            controller = make_controller(controller_name, space, seed=seed,
                                         **{**defaults, **(options or {}).get(name, {})})
            shaping = NoveltyReward(0.0 if novelty else None)
            recorder, started = Recorder(Trial(name, seed), matcher), time.perf_counter()
            while recorder.trial.samples < budget and not recorder.done("function"):
                rules = controller.propose(min(batch_size, budget - recorder.trial.samples))
                rewards = reward_fn(rules)
                new = shaping.novel([reward_fn.signature(rule) for rule in rules])
                controller.update(rules, shaping.shape(new, rewards))
                now = time.perf_counter() - started
                for rule, reward, is_new in zip(rules, rewards, new):
                    recorder.add(rule, float(reward), now, new=is_new)
            trial = recorder.trial
            log(f"{name}, seed {seed}: " + (f"found {trial.found} after {trial.reached('multiple')} samples"
                                            if trial.found else f"not found in {trial.samples} samples")
                + f" ({trial.seconds:.0f}s)")
            trials.append(trial)
    return trials


def _median(values) -> str:
    known = [v for v in values if v is not None]
    if not known:
        return "-"
    if len(known) < len(values):
        return f"{np.median(known + [np.inf] * (len(values) - len(known))):g}*"
    return f"{np.median(known):g}"


def table(trials, target_mode: bool = False):
    """Rows per trial, then per controller the medians (unreached counts as ∞, marked *)."""
    milestones = list(MILESTONES) if target_mode else ["level", *MILESTONES]
    label = {"level": "≥ best known reward", "multiple": "c·target", "function": "same function",
             "key": "same key"}
    headers = ["controller", "seed", *[f"samples to {label[m]}" for m in milestones],
               "seconds to c·target", "samples run", "seconds", "first found"]
    rows = []
    for t in trials:
        seconds = t.seconds_to.get("multiple")
        rows.append([t.controller, t.seed, *[t.reached(m) or "-" for m in milestones],
                     "-" if seconds is None else f"{seconds:.1f}", t.samples, f"{t.seconds:.1f}", t.found or "-"])
    for name in dict.fromkeys(t.controller for t in trials):
        mine = [t for t in trials if t.controller == name]
        rows.append([name, "median", *[_median([t.reached(m) for t in mine]) for m in milestones],
                     "", "", f"{np.median([t.seconds for t in mine]):.1f}", found_line(mine)])
    return headers, rows


def found_line(trials) -> str:
    """"found in K/N" — seeds that found a positive multiple of a target within their budget."""
    found = sum(t.reached("multiple") is not None for t in trials)
    return f"found in {found}/{len(trials)}"


def plot(trials, path: Path, level: float | None = None, title: str = "Best reward vs samples",
         expected_random: float | None = None):
    """Best reward so far vs samples, one line per seed, a dot where a seed found c·target."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    colors = {}
    for t in trials:
        first = t.controller not in colors
        color = colors.setdefault(t.controller, f"C{len(colors)}")
        ax.plot(np.arange(1, len(t.best_curve) + 1), t.best_curve, color=color, alpha=0.7, linewidth=1,
                label=t.controller if first else None)
        if t.reached("multiple"):
            ax.plot(t.reached("multiple"), t.best_curve[t.reached("multiple") - 1], "o", color=color, markersize=4)
    if level is not None:
        ax.axhline(level, color="black", linestyle="--", linewidth=0.8, label="best known rule's reward")
    if expected_random is not None:
        ax.axvline(expected_random, color="gray", linestyle=":", linewidth=1, label="random: expected samples")
    ax.set_xscale("log")
    ax.set(xlabel="samples (log scale; dot: c·target found)", ylabel="best reward so far", title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
