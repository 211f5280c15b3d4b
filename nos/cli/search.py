"""``nos search``: launch or resume a search, in this process or on a Ray cluster."""

from __future__ import annotations

import sys
from pathlib import Path

from controllers.registry import CONTROLLERS

PRESET_HELP = "quick (default: minutes on 2 CPU cores), rediscover (PowerSign/AddSign expressible), paper"


def register(subparsers):
    parser = subparsers.add_parser(
        "search",
        help="search for update rules (default: the quick preset)",
        description=(
            "Search for optimizer update rules: a controller proposes rules, each is trained on a "
            "child task, and the controller learns from the rewards. Everything is saved in the "
            "run directory (store.sqlite, config.json, controller checkpoints, TensorBoard logs in "
            "tb/, leaderboard.md); an interrupted or killed search continues with --resume RUN_DIR. "
            "Exit status: 0 done, 2 bad input, 130 Ctrl-C, 143 SIGTERM."
        ),
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", metavar="NAME", help=PRESET_HELP)
    source.add_argument("--config", metavar="FILE", help="a TOML config (see nos/search/presets/*.toml)")
    parser.add_argument(
        "--resume", metavar="RUN_DIR",
        help="continue the run in RUN_DIR (with --config: check that FILE describes the same search)",
    )
    parser.add_argument("--controller", choices=list(CONTROLLERS), help="override the controller")
    parser.add_argument("--budget", type=int, metavar="N", help="number of rules to sample in all")
    parser.add_argument("--max-seconds", type=float, metavar="S", help="wall-time budget in seconds")
    parser.add_argument("--seed", type=int, metavar="S", help="seed of the controller")
    parser.add_argument("--out", metavar="RUN_DIR", help="run directory (default: runs/<preset>-<time>)")
    parser.add_argument("--no-report", action="store_true",
                        help="skip the transfer report a search with a funnel ends with (nos report)")
    parser.add_argument(
        "--executor", choices=("local", "ray"),
        help="where rules are trained: local (this process, the default) or ray (Ray tasks)",
    )
    parser.add_argument(
        "--ray-address", metavar="ADDR",
        help="Ray cluster to use with --executor ray: auto, HOST:6379 or ray://HOST:10001 "
        "(default: start a local Ray instance)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.set_defaults(run=run)


def run(args) -> int:
    import time

    from nos.errors import NosError
    from nos.search.config import from_dict, load_config, load_preset, validate
    from nos.search.loop import format_summary, search
    from nos.search.store import RunStore

    if args.resume:
        if args.preset or args.out or args.controller or args.seed is not None:
            raise NosError(
                "--resume continues a run as it was made; only --config (checked), --budget, "
                "--max-seconds, --executor and --ray-address may be given with it"
            )
        run_dir = Path(args.resume)
        if args.config:
            config = load_config(args.config)
        else:
            store = RunStore.open(run_dir)
            try:
                config = from_dict(store.meta("config"))
            except ValueError as error:
                raise NosError(f"{run_dir} holds a config this NOS cannot read: {error}") from None
            finally:
                store.close()
    else:
        config = load_config(args.config) if args.config else load_preset(args.preset or "quick")
        name = Path(args.config).stem if args.config else (args.preset or "quick")
        run_dir = Path(args.out) if args.out else Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    if args.controller:
        config.controller.name = args.controller
    if args.seed is not None:
        config.seed = args.seed
    if args.budget is not None:
        if args.budget < 1:
            raise NosError(f"--budget must be at least 1, got {args.budget}")
        config.budget = args.budget
    if args.max_seconds is not None:
        config.max_seconds = args.max_seconds
    if args.executor:
        config.executor.name = args.executor
        if args.executor == "local":
            config.executor.address = ""
    if args.ray_address is not None:
        if config.executor.name != "ray":
            raise NosError("--ray-address needs --executor ray")
        config.executor.address = args.ray_address
    validate(config)
    summary = search(
        config, run_dir, resume=bool(args.resume), progress=not args.no_progress,
        log=lambda message: print(message, file=sys.stderr, flush=True),
    )
    print(format_summary(summary))
    if summary.funnel and not summary.interrupted and not args.no_report:
        from nos.benchmark.report import transfer_report

        path = transfer_report(run_dir, progress=lambda message: print(message, file=sys.stderr, flush=True))
        print(f"transfer report: {path}")
    return 128 + summary.interrupted if summary.interrupted else 0
