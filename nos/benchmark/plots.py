"""Figures of `nos evaluate` and the Rosenbrock reproduction (matplotlib, written as PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _legend_outside(ax):
    """The legend to the right of the axes, never over the data."""
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)


def loss_curves(outcomes, task: str, path: Path):
    """Training loss vs step at each rule's best learning rate; band = ± std over seeds (on the log
    axis its lower edge stops at a tenth of the mean)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for o in outcomes:
        if o.task != task or not o.curve_mean:
            continue
        steps, mean, std = map(np.asarray, (o.curve_steps, o.curve_mean, o.curve_std))
        (line,) = ax.plot(steps, mean, label=f"{o.label} (lr {o.best_lr:g})")
        ax.fill_between(steps, np.maximum(mean - std, mean / 10), mean + std, color=line.get_color(), alpha=0.2)
    ax.set(xlabel="step", ylabel="training loss", yscale="log", title=f"{task}: loss at the best learning rate")
    _legend_outside(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def lr_sensitivity(outcomes, task: str, path: Path):
    """Validation loss after tuning vs learning rate; diverged settings are marked with x."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for o in outcomes:
        if o.task != task or not o.tuning:
            continue
        lrs = np.array([lr for lr, _, _ in o.tuning])
        loss = np.array([np.nan if v is None else v for _, v, _ in o.tuning])
        (line,) = ax.plot(lrs, loss, marker="o", label=o.label)
        diverged = np.array([d for *_, d in o.tuning])
        if diverged.any():
            top = np.nanmax(loss) if np.isfinite(loss).any() else 1.0
            ax.scatter(lrs[diverged], np.full(diverged.sum(), top), marker="x", color=line.get_color())
    ax.set(xlabel="learning rate", ylabel="validation loss", xscale="log", yscale="log",
           title=f"{task}: learning-rate sensitivity (x: diverged)")
    _legend_outside(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)


def summary(outcomes, path: Path, reference: str = "adam"):
    """Each rule's mean validation loss divided by the reference rule's mean, per task (lower is better).

    Error bars: the rule's Student-t interval of the mean over seeds (`nos.benchmark.statistics`), divided
    by the same reference mean (the reference's own uncertainty is its own bar's interval). An
    interval reaching 0 or below is drawn to the bottom of the log axis.
    """
    from nos.benchmark.statistics import CONFIDENCE

    plt = _pyplot()
    tasks = sorted({o.task for o in outcomes})
    labels = list(dict.fromkeys(o.label for o in outcomes))
    base = {o.task: o.mean for o in outcomes if o.label == reference}
    bars = {}  # label -> (ratio, interval low, interval high) per task, NaN where undefined
    for label in labels:
        bars[label] = []
        for task in tasks:
            match = [o for o in outcomes if o.task == task and o.label == label]
            scale = base.get(task)
            o = match[0] if match and scale and np.isfinite(scale) else None
            ratio = o.mean / scale if o else np.nan
            defined = o is not None and o.ci_low is not None
            low, high = (o.ci_low / scale, o.ci_high / scale) if defined else (np.nan, np.nan)
            bars[label].append((ratio, low, high))
    values = np.array([v for rows in bars.values() for row in rows for v in row], dtype=float)
    positive = values[np.isfinite(values) & (values > 0)]
    floor = positive.min() / 10 if positive.size else 1e-12
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(tasks) * len(labels) / 3), 4.5))
    width = 0.8 / max(len(labels), 1)
    for j, label in enumerate(labels):
        ratio, low, high = np.array(bars[label]).T
        below = np.where(np.isfinite(low), ratio - np.maximum(low, floor), 0.0)
        above = np.where(np.isfinite(high), high - ratio, 0.0)
        ax.bar(np.arange(len(tasks)) + j * width, ratio, width, label=label,
               yerr=[np.maximum(below, 0), np.maximum(above, 0)], capsize=2, error_kw={"linewidth": 0.8})
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks(np.arange(len(tasks)) + width * (len(labels) - 1) / 2, tasks)
    ylabel = (f"validation loss / {reference}'s mean\n"
              f"(error bars: {CONFIDENCE:.0%} t-interval of the mean over seeds)")
    ax.set(ylabel=ylabel, yscale="log", ylim=(floor, None),
           title=f"Across tasks, relative to {reference} (lower is better; missing: diverged)")
    _legend_outside(ax)
    fig.tight_layout()
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
