"""Rule references on the command line: rule text, a catalog name, or a search result.

    exp(sign(g)*sign(m))*g     rule text
    powersign                  a catalog name (see `nos rules`)
    runs/NAME                  the top rules of a search run (its leaderboard: by the last
                               funnel stage when the run has a funnel)
    runs/NAME#3                the rule ranked 3rd in that run
    rule:TEXT, run:PATH[#N]    explicit: no doubt about which is meant

Without a prefix, a catalog name wins, then text that parses as a rule (so `g/(1+v)` is a
rule even where a folder `g` exists), then an existing directory, read as a run (a run folder
whose own name contains `#` is taken whole when it exists).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nos.errors import NosError

TOP_OF_RUN = 3


@dataclass(frozen=True)
class RuleRef:
    label: str
    rule: object
    origin: str


def _from_run(path: Path, rank: int | None) -> list[RuleRef]:
    from nos.search.config import from_dict
    from nos.search.funnel import current_stages, final_ranking
    from nos.search.store import RunStore
    from search_space import parse

    store = RunStore.open(path)
    try:
        config = from_dict(store.meta("config"))
        stages = current_stages(store, len(config.funnel))
        top = final_ranking(store, stages, rank or TOP_OF_RUN)
    finally:
        store.close()
    if not top:
        raise NosError(f"run {path} has no successfully evaluated rule yet")
    if rank is not None and len(top) < rank:
        raise NosError(f"run {path} has only {len(top)} distinct evaluated rules; #{rank} does not exist")
    chosen = [(rank, top[rank - 1])] if rank else list(enumerate(top, start=1))
    return [
        RuleRef(f"{path.name}#{r}", parse(row["text"]), _origin(path, r, row))  # a space is a subset of GRAMMAR
        for r, row in chosen
    ]


def _origin(path: Path, rank: int, row: dict) -> str:
    """Where a run's rule comes from: its rank and its reward at each stage it entered."""
    rewards = ", ".join(f"{'search' if stage == 0 else f'stage {stage}'} {reward:.4f}"
                        for stage, reward in enumerate(row["rewards"]) if reward is not None)
    return f"search run {path}, rank {rank}, reward {rewards}"


MAX_RANK = 1_000_000


def resolve(reference: str) -> list[RuleRef]:
    """The rules a command-line reference names; NosError/ParseError with a one-line reason."""
    from search_space import CATALOG, ParseError, parse

    if reference.startswith("rule:"):
        rule = parse(reference[len("rule:"):])
        return [RuleRef(str(rule), rule, "rule text")]
    if reference.startswith("run:"):
        return _run_reference(reference[len("run:"):])
    catalog = {entry.name: entry for entry in CATALOG}
    if reference in catalog:
        entry = catalog[reference]
        return [RuleRef(entry.name, entry.rule, f"catalog: {entry.name} ({entry.reference})")]
    try:
        rule = parse(reference)
    except ParseError as error:
        path_text = reference.rpartition("#")[0] or reference
        if Path(reference).is_dir() or Path(path_text).is_dir():
            return _run_reference(reference)
        if "/" in reference or "#" in reference:  # meant as a path, perhaps
            raise NosError(f"{reference!r} is not a rule ({error}) and {path_text} is not a run directory") from None
        raise
    return [RuleRef(str(rule), rule, "rule text")]


def _run_reference(reference: str) -> list[RuleRef]:
    """PATH or PATH#N, PATH a run directory (a directory whose name contains # is taken whole)."""
    path_text, hash_sign, rank_text = reference.rpartition("#")
    if not hash_sign or Path(reference).is_dir():
        path_text, hash_sign, rank_text = reference, "", ""
    path = Path(path_text)
    if not path.is_dir():
        raise NosError(f"{path_text} is not a run directory")
    if hash_sign and rank_text != "" and not (rank_text.isdigit() and 1 <= int(rank_text) <= MAX_RANK):
        raise NosError(f"{reference}: the rank after # must be an integer in 1..{MAX_RANK}")
    return _from_run(path, int(rank_text) if rank_text else None)


def resolve_all(references: list[str]) -> list[RuleRef]:
    seen, refs = set(), []
    for reference in references:
        for ref in resolve(reference):
            if ref.rule not in seen:
                seen.add(ref.rule)
                refs.append(ref)
    return refs
