"""``nos verify``: check a run's integrity records, step by step."""

from __future__ import annotations


def register(subparsers):
    parser = subparsers.add_parser(
        "verify",
        help="check that a run's stored steps are as they were committed",
        description="Recompute the run store's integrity chain (nos.search.store) and name the first step "
        "whose rows changed, are missing or have no step; exit 2 if there is one. The same check "
        "runs whenever a run is opened (--resume, a run reference in evaluate or export).",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory")
    parser.set_defaults(run=run)


def run(args) -> int:
    from nos.search.store import RunStore

    store = RunStore.open(args.run_dir)  # verifies; NosError names the first bad step
    try:
        steps, samples = store.steps_verified, store.sample_count()
    finally:
        store.close()
    if steps or not samples:
        print(f"{args.run_dir}: {steps} steps, {samples} samples as committed")
    else:
        print(f"{args.run_dir}: made before integrity records; {samples} samples not verified")
    return 0
