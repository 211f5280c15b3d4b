"""``nos rediscover``: do the controllers rediscover PowerSign and AddSign?"""

from __future__ import annotations

from pathlib import Path

TARGET_BUDGET = 50_000
"""Default samples per seed in target mode: evolution needs 4k–25k to find PowerSign."""


def register(subparsers):
    from nos.benchmark.rediscover import STUDY_CONTROLLERS
    from nos.search.target_reward import METRICS

    parser = subparsers.add_parser(
        "rediscover",
        help="measure how fast each controller rediscovers PowerSign/AddSign",
        description=(
            "Target mode (--target NAME): the reward is agreement with the hidden target rule's "
            "updates on fixed gradient streams (no child training); each seed runs until it proposes "
            "a rule computing the target's function, or until its budget. Reported per seed: samples "
            "to a positive multiple of the target (c·target, the same optimizer once the learning "
            "rate is tuned), to the same function (fingerprint) and to the same canonical key; per "
            "controller the medians and 'found in K/N'. Engine mode (default): the 'rediscover' "
            "preset's search with each controller and seed, reporting samples to the best known "
            "rule's reward and to a PowerSign/AddSign variant; runs are kept in OUT/CONTROLLER-seedS "
            "and resumed if present. Medians count unreached seeds as infinite (marked *). "
            "Controllers learn from novelty: a repeated rule teaches reward 0 (--no-novelty: its "
            "reward)."
        ),
    )
    parser.add_argument("--controllers", nargs="+", default=list(STUDY_CONTROLLERS),
                        choices=list(STUDY_CONTROLLERS), metavar="NAME", help=", ".join(STUDY_CONTROLLERS))
    parser.add_argument("--seeds", type=int, default=5, metavar="N", help="seeds per controller (default 5)")
    parser.add_argument("--budget", type=int, metavar="N",
                        help=f"samples per seed (default: the preset's, or {TARGET_BUDGET} in target mode)")
    parser.add_argument("--target", metavar="NAME", help="target mode: a catalog rule, e.g. powersign")
    parser.add_argument("--metric", choices=METRICS, default="relative",
                        help="target mode's agreement metric (default relative, chosen by measurement: README)")
    parser.add_argument("--no-novelty", action="store_true",
                        help="target mode: controllers learn a repeated rule's reward, not 0")
    parser.add_argument("--random-draws", type=int, default=2_000_000, metavar="N",
                        help="target mode: uniform programs drawn to estimate random search's odds "
                             "of hitting c·target and its expected samples 1/p (default 2000000; 0: skip)")
    parser.add_argument("--out", metavar="DIR", help="output directory (default runs/rediscover[-target])")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.set_defaults(run=run)


def run(args) -> int:
    import json

    from nos.benchmark import rediscover
    from nos.errors import NosError
    from nos.text_tables import markdown_table, text_table
    from search_space import KNOWN_RULES

    if args.seeds < 1 or (args.budget is not None and args.budget < 1):
        raise NosError("--seeds and --budget must be at least 1")
    if args.random_draws < 0:
        raise NosError("--random-draws must be at least 0")
    if args.target and args.target not in KNOWN_RULES:
        raise NosError(f"unknown target {args.target!r}; known rules: {', '.join(KNOWN_RULES)}")
    if not args.target and (args.metric != "relative" or args.no_novelty):
        raise NosError("--metric and --no-novelty apply to target mode (--target NAME)")
    out = Path(args.out or ("runs/rediscover" + (f"-{args.target}" if args.target else "")))
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise NosError(f"cannot write to {out}: {error.strerror or error}") from None
    seeds = list(range(args.seeds))
    odds = None
    if args.target:
        trials = rediscover.target_study(args.target, args.controllers, seeds, args.budget or TARGET_BUDGET,
                                         metric=args.metric, novelty=not args.no_novelty)
        level, title = None, f"Target mode: agreement with {args.target}"
        if args.random_draws:
            odds = rediscover.random_odds(KNOWN_RULES[args.target], rediscover.rediscover_space(),
                                          draws=args.random_draws)
    else:
        trials, level = rediscover.engine_study(args.controllers, seeds, out, args.budget,
                                                progress=not args.no_progress)
        title = "Rediscover preset: best reward vs samples"
    headers, rows = rediscover.table(trials, target_mode=bool(args.target))
    print(text_table(headers, rows))
    lines = [f"{name}: {rediscover.found_line([t for t in trials if t.controller == name])}"
             for name in dict.fromkeys(t.controller for t in trials)]
    if odds is not None:
        lines.append(rediscover.odds_line(odds, args.target))
    print("\n".join(lines))
    (out / "rediscover.md").write_text(markdown_table(headers, rows) + "\n\n" + "\n".join(f"- {line}" for line in lines) + "\n")
    document = {"trials": [t.__dict__ for t in trials], "random_odds": odds and {**odds.__dict__, "p": odds.p}}
    (out / "rediscover.json").write_text(json.dumps(document, indent=2))
    rediscover.plot(trials, out / "rediscover.png", level, title,
                    expected_random=odds.expected_samples()[0] if odds and odds.hits else None)
    print(f"table, per-seed JSON and plot in {out}/")
    return 0
