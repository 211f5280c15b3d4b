"""Can a search rediscover PowerSign and AddSign? Measured per controller and seed.

"Found" has three milestones, loosest first (`MILESTONES`): a positive multiple of a target
(c·PowerSign is PowerSign once the learning rate is tuned), the same function (fingerprint),
the same canonical key. Only a rule's first appearance can reach one; a repeat never does.

Target mode measures the search algorithms alone: a candidate's reward is how closely its
updates agree with a hidden target rule's on fixed gradient streams (`nos.search.target_reward`, no
child training); a run stops when a rule computes the target's function, or at its budget.
Controllers learn from novelty keyed by what the metric sees (`TargetReward.signature`).

Engine mode runs the `rediscover` preset with each controller and seed as an ordinary search
(OUT/CONTROLLER-seedS, resumed if present), then reads each store in sampling order: samples
until a reward at least the best known rule's (`best_known_rule`), and until a PowerSign or
AddSign variant.

`random_odds` estimates how likely a uniform program is a multiple of the target, for random
search's expected samples beside the controllers' measured ones.
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
    """[sample, best reward so far] at each sample that raised the best: a step function."""

    def reached(self, milestone: str) -> int | None:
        return self.first.get(milestone)


class Matcher:
    """Which milestones a rule reaches against a set of target rules (name → Rule)."""

    def __init__(self, targets: dict):
        self.targets = targets
        self.fingerprints = {rule.fingerprint: name for name, rule in targets.items()}

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
        """Record the next sample; `new`: its rule was not seen before in the run."""
        trial = self.trial
        trial.samples += 1
        trial.seconds = seconds
        if reward > self.best:
            self.best = reward
            trial.best_curve.append([trial.samples, float(reward)])
        reached = set()
        if self.level is not None and reward >= self.level - 1e-12:
            reached.add("level")
        if new and "key" not in trial.first:  # a rule's first appearance, while a milestone is open
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

    The level is the reward of the best rule known in the preset's space on its task
    (`best_known_rule`): no CPU-sized task found makes PowerSign the best rule (README)."""
    from nos.search.config import load_preset
    from nos.search.loop import Interrupted, search
    from nos.search.reward import Scorer
    from nos.search.store import RunStore
    from search_space import parse

    preset = load_preset("rediscover")
    if budget:
        preset.budget = budget
    level_name, level = best_known_rule(preset, Scorer(preset.reward))
    log(f"best known rule of the space on {preset.reward.task}: {level_name}, reward {level:.4f}")
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
                raise Interrupted(summary.interrupted)  # stop the study; every run resumes later
            store = RunStore.open(run_dir)
            rows, started = store.samples(), store.meta("created")
            store.close()
            recorder = Recorder(Trial(name, seed), matcher, level)
            for row in rows:  # `created`: when each sample's batch was committed
                recorder.add(parse(row["text"]), row["reward"], row["created"] - started,
                             new=row["source"] == "evaluated")
            trials.append(recorder.trial)
    return trials, level


BEST_FOUND = ("sign(m) + g",)
"""Rules of the rediscover space that searches found scoring above every catalog rule on the
preset's task (README, "Does a search rediscover PowerSign and AddSign?")."""


def expressible(space) -> list[str]:
    """Names of the catalog rules that `space` can express."""
    from search_space import KNOWN_RULES

    names = []
    for name, rule in KNOWN_RULES.items():
        try:
            space.encode(rule)
        except ValueError:
            continue
        names.append(name)
    return names


def best_known_rule(config, scorer) -> tuple[str, float]:
    """The best of the catalog rules expressible in `config`'s space and `BEST_FOUND`, by reward."""
    from controllers import SearchSpace
    from nos.search.config import grammar_of

    space = SearchSpace(grammar_of(config.space), config.space.units)
    candidates = expressible(space) + list(BEST_FOUND)
    rewards = [scored.reward for scored in scorer.score(candidates)]
    best = int(np.argmax(rewards))
    return candidates[best], float(rewards[best])


def target_study(target: str, controllers, seeds, budget: int, batch_size: int = 32, metric: str = "relative",
                 novelty: bool = True, options: dict | None = None, log=print):
    """Controllers rewarded by agreement with `target`'s updates; samples until they find it.

    A run stops at the first rule computing the target's function (fingerprint); "multiple" and
    "key" are reported as met by then. With `novelty`, a repeated rule teaches reward 0
    (`controllers.novelty`). `options` (name → dict) overrides a study controller's options."""
    from controllers import make_controller
    from controllers.novelty import NoveltyReward
    from nos.search.target_reward import TargetReward
    from search_space import KNOWN_RULES

    reward_fn = TargetReward(KNOWN_RULES[target], metric=metric)
    matcher = Matcher({target: KNOWN_RULES[target]})
    trials = []
    for name in controllers:
        controller_name, defaults = STUDY_CONTROLLERS[name]
        for seed in seeds:
            controller = make_controller(controller_name, rediscover_space(), seed=seed,
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


def best_at(trial: Trial, sample: int) -> float:
    """The best reward of `trial` after `sample` samples."""
    return max((best for at, best in trial.best_curve if at <= sample), default=float("nan"))


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
        samples, best = zip(*t.best_curve, (t.samples, t.best_curve[-1][1])) if t.best_curve else ((), ())
        ax.step(samples, best, where="post", color=color, alpha=0.7, linewidth=1,
                label=t.controller if first else None)
        if t.reached("multiple"):
            ax.plot(t.reached("multiple"), best_at(t, t.reached("multiple")), "o", color=color, markersize=4)
    if level is not None:
        ax.axhline(level, color="black", linestyle="--", linewidth=0.8, label="best known rule's reward")
    if expected_random is not None:
        ax.axvline(expected_random, color="gray", linestyle=":", linewidth=1, label="random: expected samples")
    ax.set_xscale("log")
    ax.set(xlabel="samples (log scale; dot: c·target found)", ylabel="best reward so far", title=title)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


@dataclass
class RandomOdds:
    """How likely a uniform program of a space computes c·target: hits among `draws` draws."""

    hits: int
    draws: int
    low: float
    high: float
    """95% Clopper–Pearson interval of the per-draw probability p."""

    @property
    def p(self) -> float:
        return self.hits / self.draws

    def expected_samples(self) -> tuple[float, float, float]:
        """1/p for a geometric wait (estimate, low, high); inf where p may be 0."""
        inverse = lambda q: 1.0 / q if q > 0 else np.inf
        return inverse(self.p), inverse(self.high), inverse(self.low)


def odds_line(odds: RandomOdds, target: str) -> str:
    """One line: random search's estimated odds of c·target and its expected samples."""
    estimate, low, high = odds.expected_samples()
    return (f"random search, a uniform program is c·{target} with p = {odds.hits}/{odds.draws:,} "
            f"(95% CI {odds.low:.2g}–{odds.high:.2g}): expected samples 1/p ≈ {estimate:,.0f} "
            f"(95% CI {low:,.0f}–{high:,.0f})")


def rediscover_space():
    """The `rediscover` preset's search space."""
    from controllers import SearchSpace
    from nos.search.config import grammar_of, load_preset

    config = load_preset("rediscover").space
    return SearchSpace(grammar_of(config), config.units)


def random_odds(target, space, draws: int = 2_000_000, seed: int = 0, chunk: int = 100_000) -> RandomOdds:
    """Monte Carlo estimate of P(a uniform program of `space` is a positive multiple of `target`).

    Programs are drawn slot by slot as `controllers.RandomSearch` draws them and evaluated all at
    once on probe bundle 0 with numpy ([chunk, 64] arrays through the grammar rows); candidates
    whose outputs are c·target's there are confirmed one by one with `positive_multiple`.
    An exact count is out of reach for 4 units (≈5.8·10¹⁵ programs).
    """
    from scipy.stats import beta

    from search_space.fingerprint import ProbeContext, positive_multiple, probe, probe_bundle

    fields = dict(probe_bundle(0))
    noise = fields.pop("noise")
    ctx = ProbeContext(**fields)
    ctx.noise = noise
    grammar, rng = space.grammar, np.random.default_rng(seed)
    operands = {row.name: np.broadcast_to(np.asarray(row.value(ctx), dtype=np.float64), noise.shape)
                for row in grammar.operands}
    t = probe(target)
    hits = done = 0
    with np.errstate(all="ignore"):
        while done < draws:
            n = min(chunk, draws - done)
            tokens = draw_programs(space, rng, n)
            outputs = []
            for unit in range(space.units):
                slots = tokens[:, 5 * unit: 5 * unit + 5]
                x = _apply_unary(ctx, space, slots[:, 2], _operand(space, slots[:, 0], operands, outputs))
                y = _apply_unary(ctx, space, slots[:, 3], _operand(space, slots[:, 1], operands, outputs))
                outputs.append(_apply_binary(ctx, space, slots[:, 4], x, y))
            d = outputs[-1]
            c = (d @ t) / (t @ t)
            close = np.all(np.abs(d - c[:, None] * t) <= 1e-6 * np.abs(c[:, None] * t), axis=1) & (c > 0)
            for row in np.flatnonzero(close):
                hits += positive_multiple(space.decode(tokens[row]), target) is not None
            done += n
    low = beta.ppf(0.025, hits, draws - hits + 1) if hits else 0.0
    high = beta.ppf(0.975, hits + 1, draws - hits)
    return RandomOdds(hits, draws, float(low), float(high))


def draw_programs(space, rng: np.random.Generator, n: int) -> np.ndarray:
    """[n, 5U] programs, each slot uniform over its legal tokens (as `SearchSpace.sample`)."""
    return np.stack([legal[rng.integers(len(legal), size=n)] for legal in space.legal], axis=1)


def _operand(space, tokens, operands, outputs):
    """[n, 64] values of operand tokens: grammar operands or earlier units' outputs."""
    from search_space.grammar import is_unit_reference

    value = np.empty((len(tokens), next(iter(operands.values())).shape[0]))
    for token in np.unique(tokens):
        name = space.vocabulary[token]
        rows = tokens == token
        value[rows] = outputs[int(name[1:])][rows] if is_unit_reference(name) else operands[name]
    return value


def _apply_unary(ctx, space, tokens, x):
    out = np.empty_like(x)
    for token in np.unique(tokens):
        rows = tokens == token
        out[rows] = space.grammar.row(space.vocabulary[token]).value(ctx, x[rows])
    return out


def _apply_binary(ctx, space, tokens, x, y):
    out = np.empty_like(x)
    for token in np.unique(tokens):
        rows = tokens == token
        row = space.grammar.row(space.vocabulary[token])
        out[rows] = x[rows] if row.keeps_left else row.value(ctx, x[rows], y[rows])
    return out
