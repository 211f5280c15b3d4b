"""``nos report``: the transfer report of a search run (see `nos.benchmark.report`)."""

from __future__ import annotations

from nos.benchmark.report import REFERENCE, REPORT_BASELINES, REPORT_DIR, SURVIVORS


def register(subparsers):
    parser = subparsers.add_parser(
        "report",
        help="compare a run's best rules with the baselines on its funnel's tasks (Markdown + PNG)",
        description=(
            f"Train the top rules of a run (its final ranking: the funnel's last stage when it has one) "
            f"and the baselines {', '.join(REPORT_BASELINES)} with the benchmark protocol of nos evaluate on "
            f"the tasks of the funnel's last stage (else the search's), and compare each with {REFERENCE} "
            f"by a paired t-test over the seeds. Writes RUN_DIR/{REPORT_DIR}/report.md, tables and plots; "
            "nos search writes it when its funnel ran. The run's store is only read."
        ),
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory")
    parser.add_argument("--top", type=int, default=SURVIVORS, metavar="N", help=f"rules of the run (default {SURVIVORS})")
    parser.add_argument("--seeds", type=int, metavar="N", help="seeds of the rerun (default: nos evaluate's)")
    parser.add_argument("--steps", type=int, metavar="N", help="training steps (default: nos evaluate's per task)")
    parser.set_defaults(run=run)


def run(args) -> int:
    from nos.benchmark.report import transfer_report
    from nos.errors import NosError
    from nos.limits import MAX_STEPS

    if not 1 <= args.top <= 64:
        raise NosError(f"--top must be in 1..64, got {args.top}")
    if args.seeds is not None and not 1 <= args.seeds <= 100:
        raise NosError(f"--seeds must be in 1..100, got {args.seeds}")
    if args.steps is not None and not 1 <= args.steps <= MAX_STEPS:
        raise NosError(f"--steps must be in 1..{MAX_STEPS:,}, got {args.steps}")
    path = transfer_report(args.run_dir, args.top, args.seeds, args.steps,
                           progress=lambda message: print(message, flush=True))
    print(f"report: {path}")
    return 0
