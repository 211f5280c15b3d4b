"""``nos evaluate``: rules against baselines on a suite of tasks, as a benchmark would."""

from __future__ import annotations

from pathlib import Path

from nos.limits import MAX_STEPS, check_lanes


def register(subparsers):
    from nos.benchmark.deepobs import BASELINES, DEFAULT_SEEDS, DEFAULT_STEPS, SUITES
    from nos.benchmark.statistics import CONFIDENCE, LEVEL

    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate rules against baselines on tasks (tables and plots)",
        description=(
            "Evaluate rules with the DeepOBS protocol: tune each rule's learning rate on a "
            "log-spaced grid (first seed), rerun the best setting on every seed, report mean ± std "
            f"and a {CONFIDENCE:.0%} Student-t interval of the validation loss, a paired t-test against "
            f"the --baseline rule over the same seeds (verdict at level {LEVEL:g}), accuracy where the "
            "task has one, and divergences. RULE is rule "
            "text, a catalog name, runs/NAME (the run's top rules) or runs/NAME#K (its K-th rule). "
            f"Baselines {', '.join(BASELINES)} are included unless --no-baselines. Writes "
            "results.csv/.json/.md and PNG plots (loss curves, learning-rate sensitivity, summary "
            "relative to the baseline) to --out."
        ),
    )
    parser.add_argument("rules", nargs="*", metavar="RULE", help="rules to evaluate")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--task", action="append", metavar="NAME", help="a task (repeatable; default mlp_digits)")
    where.add_argument("--suite", choices=sorted(SUITES), help="; ".join(f"{k}: {', '.join(v)}" for k, v in SUITES.items()))
    parser.add_argument("--no-baselines", action="store_true",
                        help="evaluate only the given rules (and --baseline)")
    parser.add_argument(
        "--baseline", default="adam", metavar="REF",
        help="the rule every rule is compared with, per task (default adam; added to the rules if missing)",
    )
    parser.add_argument("--learning-rates", type=float, nargs="+", metavar="LR", help="the grid (default 1e-4..1, 9 log-spaced)")
    parser.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, metavar="N",
                        help=f"seeds of the rerun (default {DEFAULT_SEEDS})")
    parser.add_argument(
        "--steps", type=int, metavar="N",
        help="training steps (default per task: " + ", ".join(f"{k} {v}" for k, v in DEFAULT_STEPS.items()) + ")",
    )
    parser.add_argument("--out", metavar="DIR", default="evaluation", help="output directory (default ./evaluation)")
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.set_defaults(run=run)


def run(args) -> int:
    from nos.benchmark.deepobs import BASELINES, DEFAULT_GRID, HEADERS, SUITES, run_protocol, table_rows
    from nos.benchmark.report import write_results
    from nos.engine.tasks import TASKS
    from nos.errors import NosError
    from nos.rule_references import resolve, resolve_all
    from nos.text_tables import text_table

    if not args.rules and args.no_baselines:
        raise NosError("no rules to evaluate: give RULE arguments or drop --no-baselines")
    baseline = resolve(args.baseline)
    if len(baseline) != 1:
        raise NosError(f"--baseline {args.baseline} names {len(baseline)} rules; "
                       f"name one, e.g. {baseline[0].label}")
    references = list(args.rules) + ([] if args.no_baselines else list(BASELINES)) + [args.baseline]
    refs = resolve_all(references)
    baseline_label = next(ref.label for ref in refs if ref.rule == baseline[0].rule)
    tasks = list(SUITES[args.suite]) if args.suite else (args.task or ["mlp_digits"])
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise NosError(f"unknown task {unknown[0]!r}; tasks: {', '.join(TASKS)}")
    if args.seeds < 1 or (args.steps is not None and args.steps < 1):
        raise NosError("--seeds and --steps must be at least 1")
    check_lanes(len(refs), 1, args.seeds)  # the protocol reruns every rule on every seed
    if args.steps is not None and args.steps > MAX_STEPS:
        raise NosError(f"--steps {args.steps} is above the limit of {MAX_STEPS:,}")
    if args.learning_rates and min(args.learning_rates) <= 0:
        raise NosError("--learning-rates must be positive")
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        (out / ".write-test").write_text("")
        (out / ".write-test").unlink()
    except OSError as error:
        raise NosError(f"cannot write to {out}: {error.strerror or error}") from None

    outcomes = run_protocol(
        refs, tasks, learning_rates=args.learning_rates or DEFAULT_GRID, seeds=tuple(range(args.seeds)),
        steps=args.steps, progress=lambda message: print(message, flush=True), baseline=baseline[0].rule,
    )
    print(text_table(HEADERS, table_rows(outcomes)))
    print(f"baseline: {baseline_label}")
    write_results(out, outcomes, tasks, baseline_label, plots=not args.no_plots)
    print(f"results and plots in {out}/")
    return 0
