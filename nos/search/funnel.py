"""The funnel: a search's best rules trained again at higher fidelity, stage by stage.

Stage 0 is the search: its rules, ranked by reward. Stage k (``config.funnel[k - 1]``, a
`nos.search.config.FunnelStage`) takes the ``top`` best rules of stage k − 1 that trained without
failure or divergence, distinct by fingerprint (two rules computing the same function do not
take two slots), trains them with its own reward — other tasks, more steps, learning rates and
seeds — through the search's executor, and ranks them by that reward. The last stage's order
is the run's final ranking: a rule that looked good on the search's small budget must hold up
at every stage to stay on top, as in the funnels of the Lion search (Chen et al., 2023).

A stage is one store transaction: its rules and an integrity record chained to the committed
steps it was computed from (`nos.search.store`). It runs when the search has reached its budget; a run
stopped earlier computes its funnel when it is resumed to its budget. A stage whose inputs
changed — more committed steps (a resumed run with a larger budget), its own config (``funnel``
may change on resume), or an earlier stage — is computed again and replaces the stored one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass
class StageResult:
    """One funnel stage: its config, the baseline's score(s) and its rules, best first. Each rule
    is a dict with text, key, fingerprint and the fields of its `nos.engine.outcome.Outcome`."""

    stage: int
    steps: int
    config: dict
    baseline: float | dict
    rules: list[dict]
    computed: bool = False
    """True when this process trained the stage; False when it was read from the store."""

    def survivors(self) -> list[dict]:
        """The rules that may enter the next stage: trained, neither failed nor diverged."""
        return [rule for rule in self.rules if rule["status"] == "ok"]


def search_ranking(store) -> list[dict]:
    """Stage 0: the search's distinct rules (by key) that trained, best reward first."""
    return [
        {"text": row["text"], "key": row["key"], "fingerprint": row["fingerprint"], "reward": row["best"],
         "score": row["score"], "best_lr": row["best_lr"]}
        for row in store.top(store.sample_count() or 1)
    ]


def distinct_by_fingerprint(ranking: list[dict], k: int) -> list[dict]:
    """The first `k` rules of `ranking` whose fingerprints were not already taken."""
    chosen, seen = [], set()
    for rule in ranking:
        if rule["fingerprint"] not in seen:
            seen.add(rule["fingerprint"])
            chosen.append(rule)
            if len(chosen) == k:
                break
    return chosen


def run_funnel(config, store, executor, log=print, on_stage=None) -> list[StageResult]:
    """Compute (or read) every stage of ``config.funnel`` for the run in `store`; returns them in
    order. `on_stage(result)` is called for each stage this process computes."""
    from nos.search.reward import Scorer

    steps = store.batches_done()
    ranking, results, recompute = search_ranking(store), [], False
    for index, stage in enumerate(config.funnel, start=1):
        settings = dataclasses.asdict(stage)
        stored = store.funnel_stage(index)
        recompute = recompute or stored is None or stored.config != settings or stored.steps != steps
        if recompute:
            candidates = distinct_by_fingerprint(ranking, stage.top)
            tasks = ", ".join(name for name, _ in stage.task_list())
            log(f"funnel stage {index}: the best {len(candidates)} rules on {tasks}, {stage.steps} steps, "
                f"{len(stage.seeds)} seed{'s' if len(stage.seeds) > 1 else ''} …")
            # the search's trained rules, on the loop of the space's units (as the steps): every
            # search with this funnel builds the same loops, which the compile cache then holds
            scorer = Scorer(stage, executor=executor, checked=True, units=config.space.units)
            baseline = scorer.measure_baseline()
            scored = scorer.score([rule["text"] for rule in candidates]) if candidates else []
            rules = [{"text": rule["text"], "key": rule["key"], "fingerprint": rule["fingerprint"], **outcome.to_dict()}
                     for rule, outcome in zip(candidates, scored)]
            rules.sort(key=lambda rule: -rule["reward"])  # stable: ties keep the previous stage's order
            stored = StageResult(index, steps, settings, baseline, rules, computed=True)
            store.commit_funnel_stage(stored)
            if on_stage is not None:
                on_stage(stored)
        results.append(stored)
        ranking = stored.survivors()
    store.drop_funnel_stages_after(len(config.funnel))
    return results


def current_stages(store, count: int | None = None) -> list[StageResult]:
    """The stored stages computed from the run's committed steps, from stage 1 on (the first
    `count` of them when given)."""
    stages, steps = [], store.batches_done()
    for index in range(1, (count if count is not None else store.funnel_stage_count()) + 1):
        stage = store.funnel_stage(index)
        if stage is None or stage.steps != steps:
            break
        stages.append(stage)
    return stages


def final_ranking(store, stages: list[StageResult], k: int) -> list[dict]:
    """The run's top `k` rules: the last stage's order first, then the rules each earlier stage
    dropped (later stages first), then the rest of the search's; each with ``rewards`` (its
    reward at stage 0, the search, and at every stage it entered, None where it did not) and
    the score and best learning rate of the last stage it entered."""
    search = {rule["key"]: rule for rule in search_ranking(store)}
    order = [rule["key"] for stage in reversed(stages) for rule in stage.rules]
    order += list(search)
    ranked, placed = [], set()
    for key in order:
        if key in placed:
            continue
        placed.add(key)
        entered = [stage_rule for stage in stages for stage_rule in stage.rules if stage_rule["key"] == key]
        last = entered[-1] if entered else search[key]
        rewards = [search[key]["reward"] if key in search else None]
        rewards += [next((r["reward"] for r in stage.rules if r["key"] == key), None) for stage in stages]
        ranked.append({"key": key, "text": last["text"], "rewards": rewards, "score": last["score"],
                       "best_lr": last["best_lr"]})
        if len(ranked) == k:
            break
    return ranked
