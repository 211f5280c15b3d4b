"""Evaluation outputs on disk, and the transfer report that ends a search with a funnel.

`write_results` writes what `nos evaluate` produces (tables, JSON, plots) into a directory
atomically: beside it first, then moved in, replacing a previous evaluation's files, so an
interrupted evaluation leaves the previous set whole.

`transfer_report(run_dir)` (``nos report RUN_DIR``; ``nos search`` writes it when its funnel ran)
asks whether the search's survivors are better optimizers than the field's, beyond one number
on one task: the top rules of the run's final ranking (`nos.search.funnel.final_ranking`) and the
baselines `REPORT_BASELINES` go through `nos.benchmark.deepobs` (the learning rate tuned on the first
seed, then rerun on `DEFAULT_SEEDS` seeds) on each task of the funnel's last stage (else the
search's), and each rule is compared with Adam per task by a paired t-test over the seeds
(`nos.benchmark.statistics`). It writes RUN_DIR/report/: report.md (survivors with their canonical form and
the catalog rule each equals, per-task tables with 95% intervals and verdicts, a verdict
matrix), the `write_results` files and summary.png.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

OUTPUTS = ("results.csv", "results.md", "results.json", "summary.png", "curves_*.png", "lr_sensitivity_*.png")
"""What `write_results` writes; a new evaluation in the same directory replaces all of them."""
REPORT_BASELINES = ("adam", "momentum", "sgd", "powersign", "addsign")
REFERENCE = "adam"
SURVIVORS = 4
REPORT_DIR = "report"


def write_results(out: Path, outcomes, tasks, reference: str, plots: bool = True, extra: dict | None = None):
    """Tables (CSV, Markdown, JSON) and plots of `outcomes` into `out`, atomically; `extra` maps
    further file names to their text."""
    from nos.benchmark import plots as figures
    from nos.benchmark.deepobs import HEADERS, table_rows
    from nos.text_tables import csv_table, markdown_table

    rows = table_rows(outcomes)
    staging = Path(tempfile.mkdtemp(prefix=".nos-evaluate-", dir=out))
    try:
        (staging / "results.csv").write_text(csv_table(HEADERS, rows))
        (staging / "results.md").write_text(markdown_table(HEADERS, rows) + "\n")
        (staging / "results.json").write_text(json.dumps([o.record() for o in outcomes], indent=2))
        for name, text in (extra or {}).items():
            (staging / name).write_text(text)
        if plots:
            for task in tasks:
                figures.loss_curves(outcomes, task, staging / f"curves_{task}.png")
                figures.lr_sensitivity(outcomes, task, staging / f"lr_sensitivity_{task}.png")
            figures.summary(outcomes, staging / "summary.png", reference=reference)
        for stale in (path for pattern in (*OUTPUTS, *(extra or {})) for path in out.glob(pattern)):
            stale.unlink()
        for path in staging.iterdir():
            os.replace(path, out / path.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def transfer_report(run_dir, survivors: int = SURVIVORS, seeds: int | None = None, steps: int | None = None,
                    progress=print) -> Path:
    """Write RUN_DIR/report/ (see the module docstring); returns the report's path."""
    from nos.benchmark.deepobs import DEFAULT_SEEDS, run_protocol
    from nos.errors import NosError
    from nos.rule_references import RuleRef, resolve_all
    from nos.search.config import from_dict
    from nos.search.funnel import current_stages, final_ranking
    from nos.search.store import RunStore
    from search_space import parse

    run_dir = Path(run_dir)
    store = RunStore.open(run_dir, readonly=True)
    try:
        config = from_dict(store.meta("config"))
        stages = current_stages(store, len(config.funnel))
        ranked = final_ranking(store, stages, survivors)
    finally:
        store.close()
    if not ranked:
        raise NosError(f"run {run_dir} has no successfully evaluated rule yet")
    last = stages[-1].config if stages else None
    tasks = (last["tasks"] or [last["task"]]) if last else [name for name, _ in config.reward.task_list()]
    refs = [RuleRef(f"#{rank}", parse(row["text"]), f"rank {rank} of {run_dir}")  # a space is a subset of GRAMMAR
            for rank, row in enumerate(ranked, start=1)]
    refs += [ref for ref in resolve_all(REPORT_BASELINES) if ref.rule not in [r.rule for r in refs]]
    seeds = tuple(range(seeds or DEFAULT_SEEDS))
    outcomes = run_protocol(refs, tasks, seeds=seeds, steps=steps, progress=progress,
                            baseline=next(r.rule for r in refs if r.label == REFERENCE))
    out = run_dir / REPORT_DIR
    out.mkdir(exist_ok=True)
    text = _markdown(run_dir, ranked, stages, refs, outcomes, tasks, seeds)
    write_results(out, outcomes, tasks, REFERENCE, extra={"report.md": text})
    return out / "report.md"


def _markdown(run_dir, ranked, stages, refs, outcomes, tasks, seeds) -> str:
    from nos.benchmark.deepobs import HEADERS, table_rows
    from nos.text_tables import markdown_table
    from search_space import KNOWN_RULES

    stage_names = ["search", *(f"stage {s.stage}" for s in stages)]
    survivors = []
    for ref, row in zip(refs, ranked):
        same = [name for name, known in KNOWN_RULES.items() if known.fingerprint == ref.rule.fingerprint]
        rewards = [f"{r:.4f}" if r is not None else "-" for r in row["rewards"]]
        survivors.append([ref.label, f"`{ref.rule}`", f"`{ref.rule.canonical}`", ", ".join(same) or "-", *rewards])
    verdicts = [[ref.label, *(next((o.verdict or "-" for o in outcomes if o.label == ref.label and o.task == task), "-")
                              for task in tasks)] for ref in refs[:len(ranked)]]
    lines = [
        f"# Transfer report: {run_dir.name}",
        "",
        f"Regenerate with `nos report {run_dir}`. The run's top {len(ranked)} rules (ranked by "
        f"{stage_names[-1]}) and the baselines {', '.join(REPORT_BASELINES)}: the learning rate tuned on "
        f"seed 0 over the grid, then rerun on seeds {seeds[0]}–{seeds[-1]}; each rule is compared with "
        f"{REFERENCE} by a paired t-test over the seeds (level 0.05).",
        "",
        "## Survivors",
        "",
        markdown_table(["rank", "rule", "canonical form", "same function as", *stage_names], survivors),
        "",
        f"## Verdicts against {REFERENCE}",
        "",
        markdown_table(["rule", *tasks], verdicts),
        "",
        "![validation loss relative to adam, 95% intervals](summary.png)",
    ]
    for task in tasks:
        rows = table_rows([o for o in outcomes if o.task == task])
        lines += ["", f"## {task}", "", markdown_table(HEADERS, rows)]
    return "\n".join(lines) + "\n"
