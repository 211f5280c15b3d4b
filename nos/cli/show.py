"""``nos show``: one run's config, status, samples, time split and leaderboard, without changing it."""

from __future__ import annotations

import json
import time
from pathlib import Path


def register(subparsers):
    parser = subparsers.add_parser(
        "show",
        help="a run's config, status, samples, time split and leaderboard",
        description="Print what RUN_DIR searches (seed, budget, batch size, task, steps, learning rates, "
        "controller), its status (finished, running, interrupted; see nos runs), its samples "
        "(trained, from the cache, invalid, failed), where the time went and the leaderboard, as "
        "nos search prints them at the end. Reads the store without changing it; exit 2 if RUN_DIR "
        "is not an intact run.",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory")
    parser.set_defaults(run=run)


def run(args) -> int:
    from nos.cli.runs import last_change, open_run, status
    from nos.search.funnel import current_stages
    from nos.search.loop import format_summary, summary_of

    run_dir = Path(args.run_dir)
    with open_run(run_dir) as (store, config):
        summary = summary_of(store, run_dir, config.leaderboard, current_stages(store, len(config.funnel)))
        steps, baseline, created = store.batches_done(), store.meta("baseline_score"), store.meta("created")
    state = status(run_dir, summary.samples, config.budget)
    stamp = lambda seconds: time.strftime("%Y-%m-%d %H:%M", time.localtime(seconds)) if seconds else "-"
    lines = [
        ("status", f"{state}: {summary.samples}/{config.budget} samples in {steps} step{'s' * (steps != 1)}"
                   + ("" if state != "interrupted" else f"; continue with: nos search --resume {run_dir}")),
        ("made", f"{stamp(created)}, last change {stamp(last_change(run_dir))}"),
        *config_lines(config, baseline),
    ]
    width = max(len(name) for name, _ in lines) + 2
    print("\n".join(f"{name + ':':<{width}}{value}" for name, value in lines))
    print()
    print(format_summary(summary))
    return 0


def config_lines(config, baseline) -> list[tuple[str, str]]:
    """(name, value) lines describing a run's `config` (a SearchConfig) and its stored `baseline` score."""
    reward, controller = config.reward, config.controller
    numbers = lambda values: ", ".join(f"{v:g}" for v in values)
    options = lambda table: " (" + ", ".join(f"{k}={json.dumps(v)}" for k, v in table.items()) + ")" if table else ""
    describe = lambda reward: ", ".join(name + options(task_config) for name, task_config in reward.task_list())
    tasks = describe(reward)
    if reward.tasks:
        tasks += f"; rewards combined by the {reward.aggregate} mean" if reward.aggregate != "min" else "; the worst task's reward"
    funnel = "; ".join(f"top {stage.top} on {describe(stage)}, {stage.steps} steps, {len(stage.seeds)} seeds"
                       for stage in config.funnel)
    space = [f"{config.space.units} units"] + [
        f"{name}: {' '.join(values)}" for name, values in
        (("operands", config.space.operands), ("unary", config.space.unary), ("binary", config.space.binary)) if values
    ]
    score = f"{baseline:.4g}" if isinstance(baseline, (int, float)) else json.dumps(baseline) if baseline else "not measured yet"
    return [
        ("search", f"seed {config.seed}, budget {config.budget}, batch size {config.batch_size}"
                   + (f", max {config.max_seconds:g}s" if config.max_seconds else "")),
        ("task", tasks),
        ("training", f"{reward.steps} steps, learning rates {numbers(reward.learning_rates)}, "
                     + f"seeds {', '.join(map(str, reward.seeds))}, signal {reward.signal}"),
        ("baseline", f"{reward.baseline}, score {score}"),
        ("controller", controller.name + options(controller.options)
                       + (f", novelty on (repeat reward {controller.repeat_reward:g})" if controller.novelty else ", novelty off")),
        ("space", ", ".join(space)),
        *([("funnel", funnel)] if funnel else []),
    ]
