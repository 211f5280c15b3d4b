"""Command-line rule references: rule text first, runs only where a run directory exists."""

import pytest

from nos.engine.outcome import Outcome
from nos.errors import NosError
from nos.rule_references import resolve
from nos.search.config import from_dict
from nos.search.store import RunStore, Sample
from search_space import parse
from tests.test_search import SMALL


def _run_with(path, texts):
    """A run directory whose store holds `texts` as evaluated rules, best first."""
    store = RunStore.create(path, from_dict(SMALL).to_dict())
    samples = []
    for i, text in enumerate(texts):
        rule = parse(text)
        samples.append(Sample.of(rule, "evaluated", Outcome("ok", score=0.1, best_lr=0.01, reward=0.9 - 0.1 * i)))
    store.commit_batch(0, samples, {})
    store.close()
    return path


@pytest.fixture
def here(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_rule_text_with_a_slash_is_a_rule_even_beside_a_folder_of_that_name(here):
    (here / "g").mkdir()
    assert resolve("g/(1+v)")[0].rule == parse("g/(1+v)")
    assert resolve("g")[0].rule == parse("g")
    assert resolve("rule:g")[0].origin == "rule text"


def test_runs_are_read_where_a_run_directory_exists_with_or_without_the_prefix(here):
    _run_with(here / "runs" / "a#b", ["sign(m) + g", "g"])
    assert [ref.rule for ref in resolve("runs/a#b")] == [parse("sign(m) + g"), parse("g")]
    assert resolve("runs/a#b#2")[0].rule == parse("g")
    assert resolve("run:runs/a#b#1")[0].rule == parse("sign(m) + g")


@pytest.mark.parametrize("reference, message", [
    ("run:g/(1+v)", r"g/\(1\+v\) is not a run directory"),
    ("runs/a#0", r"the rank after # must be an integer in 1\.\.1000000"),
    ("runs/a#99999999999999999999999", r"the rank after # must be an integer in 1\.\.1000000"),
    ("runs/a#3", r"has only 1 distinct evaluated rules; #3 does not exist"),
])
def test_bad_run_references_are_one_clear_error(here, reference, message):
    _run_with(here / "runs" / "a", ["g"])
    with pytest.raises(NosError, match=message):
        resolve(reference)
