"""The search loop: propose → check → cache → evaluate → reward → update → persist → log.

Every controller step is one committed transaction in the run store, preceded by a controller
checkpoint; `--resume` restarts from the last committed step, so an interrupted search loses at
most the step in flight and, for a fixed seed, ends with the same store as an uninterrupted one.
That holds for any interruption, SIGKILL included:

  - the store appears whole or not at all: it is built under a temporary name, then linked
    into place (which, unlike a rename, never replaces a store another process just made);
  - one process at a time searches in a run directory (an flock on RUN_DIR/lock, which dies
    with its process); the next one deletes what a killed one left half-written;
  - checkpoint N is written to ``controller/.ckpt-N.tmp`` and renamed to ``controller/ckpt-N``,
    then step N's transaction names it; a checkpoint that no transaction names is ignored,
    overwritten when step N is done again, and stray temporaries are deleted;
  - the baseline score is one more transaction; a run killed before it measures it again.

Rules are trained by an executor (`nos.search.executors`: this process, or Ray tasks). A rule whose
chunk crashed, raised or timed out is stored with source and status "failed" and its reason,
gets reward 0, and is never served from the cache. With `max_seconds`, the executor starts no
chunk after the deadline; the step in flight then keeps its samples up to its first untrained
rule (the controller learns from those), commits them, and the search stops. Ctrl-C and SIGTERM stop the search at once;
the step in flight is lost, everything committed stays (exit status 130 and 143 in the CLI).

Run directory layout::

    RUN_DIR/store.sqlite      every sampled rule, its reward and metrics (see nos.search.store)
    RUN_DIR/config.json       the run's config, for humans (the store holds the same)
    RUN_DIR/controller/       controller checkpoints ckpt-NNNNNN (JSON, and a TensorFlow
                              checkpoint for the rnn): the committed one and the one before
    RUN_DIR/tb/               TensorBoard summaries (a new events file per process)
    RUN_DIR/leaderboard.md    the top rules, written when the search stops
    RUN_DIR/lock              held (flock) by the process searching in RUN_DIR: one at a time

Keep RUN_DIR on the driver's local disk: SQLite's WAL needs shared memory, which network file
systems do not give. Ray workers never touch it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from nos.engine.outcome import Outcome
from nos.errors import NosError
from nos.search.config import ConfigError, SearchConfig, from_dict, grammar_of
from nos.search.reward import Scorer
from nos.search.store import STORE_NAME, TEMPORARIES, RunStore, Sample
from nos.text_tables import markdown_table, text_table

KEEP_CHECKPOINTS = 2
CONFIG_FILE = "config.json"
CREATION_FILES = (*TEMPORARIES, CONFIG_FILE)
"""What a search killed while it created its run leaves: the next search there starts afresh."""
RESUMABLE = ("budget", "max_seconds", "leaderboard", "executor", "funnel")
"""Config keys a resumed run may change; everything else must match the stored config."""


@dataclass
class SearchSummary:
    run_dir: Path
    samples: int
    rules_trained: int
    cache_hits: int
    invalid: int
    failed: int = 0
    seconds: dict = field(default_factory=dict)
    leaderboard: list = field(default_factory=list)
    interrupted: int = 0
    """The signal that stopped the search (SIGINT 2, SIGTERM 15), 0 when it ran to its budget."""
    seconds_baseline: float = 0.0
    """Time this process spent measuring the baseline (0 when the run had it stored)."""
    funnel: list = field(default_factory=list)
    """The funnel's stages (`nos.search.funnel.StageResult`), when the run reached its budget."""


class Interrupted(KeyboardInterrupt):
    """Raised in the main thread by a SIGTERM (or SIGINT), carrying the signal number."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_RECEIVED: list[int] = []


def signal_number(interrupt: KeyboardInterrupt) -> int:
    """The signal behind `interrupt` (Ray re-raises ours as a plain KeyboardInterrupt)."""
    return getattr(interrupt, "signum", None) or (_RECEIVED[-1] if _RECEIVED else signal.SIGINT)


@contextmanager
def stop_on_signals(signums=(signal.SIGTERM,)):
    """SIGTERM raises `Interrupted` the way Ctrl-C raises KeyboardInterrupt: the search stops and
    keeps what it committed."""

    def handler(signum, frame):
        _RECEIVED.append(signum)
        raise Interrupted(signum)

    _RECEIVED.clear()
    previous = {}
    try:
        for signum in signums:
            previous[signum] = signal.signal(signum, handler)
    except ValueError:  # not in the main thread: leave signals alone
        pass
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)


def _comparable(config: dict) -> dict:
    """The parts of a config that must not change when a run is resumed."""
    return {k: v for k, v in config.items() if k not in RESUMABLE}


def _differences(a: dict, b: dict, prefix: str = "") -> list[str]:
    """Dotted names of the keys whose values differ between two config dicts."""
    names = []
    for key in sorted(set(a) | set(b)):
        x, y = a.get(key), b.get(key)
        if isinstance(x, dict) and isinstance(y, dict):
            names += _differences(x, y, f"{prefix}{key}.")
        elif x != y:
            names.append(prefix + key)
    return names


def stored_config(store: RunStore, config: SearchConfig | None) -> SearchConfig:
    """The run's config, with what `config` may change on resume; NosError if it differs otherwise."""
    try:
        stored = from_dict(store.meta("config"))
    except ConfigError as error:
        raise NosError(f"{store.path.parent} holds a config this NOS cannot read: {error}") from None
    if config is None:
        return stored
    changed = _differences(_comparable(stored.to_dict()), _comparable(config.to_dict()))
    if changed:
        raise NosError(f"{store.path.parent} was made with a different config ({', '.join(changed)} differ)")
    for name in RESUMABLE:
        setattr(stored, name, getattr(config, name))
    return stored


def _check_task(config: SearchConfig):
    from nos.engine.tasks import get_task

    rewards = [("reward", config.reward), *((f"funnel[{i}]", stage) for i, stage in enumerate(config.funnel))]
    for where, reward in rewards:
        for name, task_config in reward.task_list():
            try:
                get_task(name, **task_config)
            except (TypeError, ValueError) as error:
                raise ConfigError(f"{where}.task{'s' if reward.tasks else ''}: {error}") from None


def _make_controller(config: SearchConfig):
    from controllers import SearchSpace, make_controller

    space = SearchSpace(grammar_of(config.space), config.space.units)
    try:
        return make_controller(config.controller.name, space, seed=config.seed, **config.controller.options)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"controller: {error}") from None


def _restore(controller, directory: Path):
    try:
        controller.restore(directory)
    except Exception as error:  # noqa: BLE001 — a missing file, a TensorFlow checkpoint error, a mismatch
        raise NosError(f"cannot restore the controller from {directory}: {error}") from None


def _write_atomically(path: Path, text: str):
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


def _save_checkpoint(controller, run_dir: Path, batch: int) -> str:
    """Write the controller to controller/ckpt-NNNNNN atomically (temp dir, then rename)."""
    root = run_dir / "controller"
    name = f"ckpt-{batch:06d}"
    temporary = root / f".{name}.tmp"
    shutil.rmtree(temporary, ignore_errors=True)
    temporary.mkdir(parents=True)
    controller.save(temporary)
    shutil.rmtree(root / name, ignore_errors=True)
    temporary.rename(root / name)
    return name


def _prune_checkpoints(run_dir: Path, keep: str):
    """Delete checkpoints other than the newest few; `keep` (the committed one) always stays."""
    root = run_dir / "controller"
    names = sorted(p.name for p in root.iterdir() if p.name.startswith("ckpt-"))
    for name in names[:-KEEP_CHECKPOINTS]:
        if name != keep:
            shutil.rmtree(root / name, ignore_errors=True)
    for stray in root.glob(".ckpt-*.tmp"):
        shutil.rmtree(stray, ignore_errors=True)


def search(
    config: SearchConfig | None,
    run_dir: str | Path,
    *,
    resume: bool = False,
    progress: bool = True,
    log=print,
) -> SearchSummary:
    """Run (or resume) a search in `run_dir`; return a summary with the leaderboard.

    On resume, `config` (or None) may change only `RESUMABLE` keys. Nothing is written to
    `run_dir` until the config, task, controller and executor have been checked.
    """
    from nos.search.executors import make_executor

    run_dir = Path(run_dir)
    store = RunStore.open(run_dir) if resume else None
    executor = None
    try:
        if store is not None:
            store.lock()
            config = stored_config(store, config)
        elif (run_dir / STORE_NAME).exists():
            raise NosError(f"{run_dir} already holds a run; use --resume {run_dir} or another --out")
        elif run_dir.is_dir() and any(p.name not in CREATION_FILES for p in run_dir.iterdir()):
            raise NosError(f"{run_dir} holds files but no run; give a new or empty --out")
        _check_task(config)
        controller = _make_controller(config)
        executor = make_executor(config.executor)
        if store is None:
            readable = json.dumps(config.to_dict(), indent=2)
            store = RunStore.create(run_dir, config.to_dict(), files={CONFIG_FILE: readable})
            store.lock()
        for name in TEMPORARIES:  # left by a killed process; this one holds the lock
            (run_dir / name).unlink(missing_ok=True)
        with stop_on_signals():
            return _search(config, run_dir, store, controller, executor, progress, log)
    finally:
        if executor is not None:
            executor.close()
        if store is not None:
            store.close()


def _search(config, run_dir, store, controller, executor, progress, log) -> SearchSummary:
    from nos.search.log import SearchLog

    checkpoint = store.last_checkpoint()
    if checkpoint:
        _restore(controller, run_dir / "controller" / checkpoint)
    scorer = Scorer(config.reward, baseline_score=store.meta("baseline_score"), executor=executor, checked=True,
                    units=config.space.units)
    by_key, by_fingerprint = store.known_outcomes()
    novelty = _novelty(config, store)
    sampled, batch = store.sample_count(), store.batches_done()
    started = time.perf_counter()
    search_log = None
    interrupted = 0
    seconds_baseline = 0.0
    stages = []
    try:
        if store.meta("baseline_score") is None:
            tasks = ", ".join(name for name, _ in config.reward.task_list())
            log(f"measuring the baseline {config.reward.baseline} on {tasks} …")
            baseline = scorer.measure_baseline()
            with store.transaction():
                store.set_meta("baseline_score", baseline)
            seconds_baseline = time.perf_counter() - started
        search_log = SearchLog(run_dir, total=config.budget, done=sampled, progress=progress, store=store)
        deadline = started + config.max_seconds if config.max_seconds else None
        while sampled < config.budget:
            if deadline is not None and time.perf_counter() > deadline:
                log(f"stopping: the time budget of {config.max_seconds:g}s is spent")
                break
            n = min(config.batch_size, config.budget - sampled)

            # 1. propose
            tick = time.perf_counter()
            rules = controller.propose(n)
            seconds_propose = time.perf_counter() - tick

            # 2. check validity and look up the cache (canonical key, then fingerprint)
            samples: list[Sample | None] = [None] * n
            fresh: dict[str, list[int]] = {}
            for i, rule in enumerate(rules):
                samples[i] = _cached_or_invalid(rule, by_key, by_fingerprint)
                if samples[i] is None:
                    fresh.setdefault(rule.key, []).append(i)

            # 3. evaluate only new rules, through the executor; failures are recorded, not cached.
            #    Past the deadline the step keeps the samples before its first untrained rule.
            tick = time.perf_counter()
            unique = [rules[positions[0]] for positions in fresh.values()]
            for positions, outcome in zip(fresh.values(), scorer.score(unique, deadline)):
                for j, i in enumerate(positions):
                    source = "failed" if outcome.status == "failed" else "evaluated" if j == 0 else "cache"
                    samples[i] = Sample.of(rules[i], source, outcome if j == 0 else outcome.repeated())
            seconds_evaluate = time.perf_counter() - tick
            if None in samples:
                n = samples.index(None)
                rules, samples = rules[:n], samples[:n]
                if n == 0:
                    log(f"stopping: the time budget of {config.max_seconds:g}s is spent")
                    break

            # 4. rewards → novelty-shaped rewards → controller update (the store keeps the rewards)
            tick = time.perf_counter()
            novel = novelty.novel([rule.fingerprint_up_to_scale for rule in rules])
            stats = controller.update(rules, novelty.shape(novel, [s.outcome.reward for s in samples]))
            stats["controller/novel_fraction"] = sum(novel) / n
            seconds_update = time.perf_counter() - tick

            # 5. persist: checkpoint, then the batch's transaction naming it
            tick = time.perf_counter()
            name = _save_checkpoint(controller, run_dir, batch)
            info = dict(
                seconds_propose=seconds_propose,
                seconds_evaluate=seconds_evaluate,
                seconds_update=seconds_update,
                stats=stats,
                checkpoint=name,
            )
            info["seconds_store"] = time.perf_counter() - tick
            store.commit_batch(batch, samples, info)
            _prune_checkpoints(run_dir, name)
            for s in samples:
                if s.source == "evaluated":
                    by_key.setdefault(s.key, s.outcome)
                    by_fingerprint.setdefault(s.fingerprint, s.outcome)

            # 6. log
            search_log.batch(batch, samples, stats, store)
            sampled += n
            batch += 1
        if store.sample_count() >= config.budget:
            from nos.search.funnel import run_funnel

            stages = run_funnel(config, store, executor, log, on_stage=search_log.stage)
    except KeyboardInterrupt as interrupt:
        interrupted = signal_number(interrupt)
        log(
            f"interrupted by {signal.Signals(interrupted).name}: {store.sample_count()} rules are saved in "
            f"{run_dir}; continue with: nos search --resume {run_dir}"
        )
    finally:
        if search_log is not None:
            search_log.close()
    summary = summary_of(store, run_dir, config.leaderboard, stages, interrupted=interrupted,
                         seconds_baseline=seconds_baseline)
    table = markdown_table(*leaderboard_table(summary.leaderboard))
    _write_atomically(run_dir / "leaderboard.md", table + "\n")
    return summary


def summary_of(store: RunStore, run_dir: Path, k: int, stages: list, **extra) -> SearchSummary:
    """The `SearchSummary` of the run in `store` with its top `k` rules and funnel `stages`."""
    sources = [row["source"] for row in store.samples()]
    return SearchSummary(
        run_dir=run_dir,
        samples=len(sources),
        rules_trained=sources.count("evaluated"),
        cache_hits=sources.count("cache"),
        invalid=sources.count("invalid"),
        failed=sources.count("failed"),
        seconds=store.timings(),
        leaderboard=leaderboard(store, k, stages),
        funnel=stages,
        **extra,
    )


def _novelty(config: SearchConfig, store: RunStore):
    """The run's novelty shaping, its seen set rebuilt from the committed samples."""
    from controllers.novelty import NoveltyReward
    from search_space import parse

    repeat_reward = config.controller.repeat_reward if config.controller.novelty else None
    seen = {parse(text).fingerprint_up_to_scale for text in store.sample_texts()}
    return NoveltyReward(repeat_reward, seen=seen)


def _cached_or_invalid(rule, by_key, by_fingerprint) -> Sample | None:
    """`rule`'s sample when it needs no training: invalid, or a repeat of a stored rule (its
    `Outcome`, without metrics and time); None when it must be trained."""
    from search_space import rule_problem

    problem = rule_problem(rule)
    if problem is not None:
        return Sample.of(rule, "invalid", Outcome("invalid", problem))
    hit = by_key.get(rule.key) or by_fingerprint.get(rule.fingerprint)
    return Sample.of(rule, "cache", hit.repeated()) if hit is not None else None


def leaderboard(store: RunStore, k: int, stages=None) -> list[dict]:
    """The top `k` distinct rules with the known rules each is equivalent to: ranked by the last
    funnel stage when the run has one (`nos.search.funnel.final_ranking`; `stages` default: the stored
    ones computed from its committed steps), else by the search's reward. ``reward`` is the
    search's, ``stage_rewards`` each stage's (None where the rule did not enter it); score and
    best lr are those of the last stage the rule entered."""
    from nos.search.funnel import current_stages, final_ranking
    from search_space import KNOWN_RULES, parse

    stages = current_stages(store) if stages is None else stages
    rows = []
    for rank, ranked in enumerate(final_ranking(store, stages, k), start=1):
        same = [name for name, known in KNOWN_RULES.items() if known.key == ranked["key"]]
        rows.append(
            dict(
                rank=rank,
                rule=str(parse(ranked["text"])),
                reward=ranked["rewards"][0],
                stage_rewards=ranked["rewards"][1:],
                score=ranked["score"],
                best_lr=ranked["best_lr"],
                equivalent_to=", ".join(same),
            )
        )
    return rows


def leaderboard_table(rows: list[dict]) -> tuple[list[str], list[list]]:
    stages = max((len(r.get("stage_rewards", ())) for r in rows), default=0)
    headers = ["rank", "rule", "reward", *(f"stage {i}" for i in range(1, stages + 1)), "score", "best lr",
               "known rule"]
    body = [
        [r["rank"], r["rule"], _reward_text(r["reward"]), *(_reward_text(x) for x in r.get("stage_rewards", ())),
         f"{r['score']:.4g}" if r["score"] is not None else "-",
         f"{r['best_lr']:g}" if r["best_lr"] else "-", r["equivalent_to"] or "-"]
        for r in rows
    ]
    return headers, body


def _stage_line(stage) -> str:
    """One line about a funnel stage: what it trained and its best rule."""
    config = stage.config
    tasks = ", ".join(config["tasks"] or [config["task"]])
    best = stage.rules[0] if stage.rules else None
    found = f"best {best['reward']:.4f} {best['text']}" if best else "no rule entered"
    return (f"funnel stage {stage.stage}: {len(stage.rules)} rules on {tasks}, {config['steps']} steps, "
            f"{len(config['seeds'])} seeds: {found}")


def _reward_text(reward) -> str:
    return f"{reward:.4f}" if reward is not None else "-"


def format_summary(summary: SearchSummary) -> str:
    seconds = summary.seconds
    total = sum(seconds.values()) or 1.0
    overhead = seconds["propose"] + seconds["update"] + seconds["store"]
    lines = [
        text_table(*leaderboard_table(summary.leaderboard)),
        "",
        f"{summary.samples} rules sampled: {summary.rules_trained} trained, {summary.cache_hits} from the cache, "
        f"{summary.invalid} invalid ({summary.invalid / max(summary.samples, 1):.0%}), {summary.failed} failed",
        "time: " + ", ".join(f"{k} {v:.1f}s ({v / total:.0%})" for k, v in seconds.items())
        + f"; controller overhead (propose + update + store) {overhead / total:.1%}",
        *(_stage_line(stage) for stage in summary.funnel),
        f"run directory: {summary.run_dir}",
    ]
    return "\n".join(lines)
