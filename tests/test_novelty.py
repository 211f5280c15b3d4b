"""Novelty shaping: a repeated rule teaches `repeat_reward`; the store keeps every sample's reward."""

import pytest

from controllers.novelty import NoveltyReward
from nos.search.config import from_dict
from nos.search.loop import search
from search_space import parse
from tests.test_search import SMALL, rows_of


def test_a_repeat_teaches_the_repeat_reward_in_order_within_and_across_batches():
    novelty = NoveltyReward(0.0, seen=["a"])
    assert novelty(["a", "b", "b", "c"], [0.5, 0.6, 0.6, 0.7]) == [0.0, 0.6, 0.0, 0.7]
    assert novelty(["c", "d"], [0.7, 0.2]) == [0.0, 0.2]
    penalty = NoveltyReward(-0.1)
    assert penalty(["x", "x"], [0.9, 0.9]) == [0.9, -0.1]
    off = NoveltyReward(None)
    assert off(["x", "x"], [0.9, 0.9]) == [0.9, 0.9]
    with pytest.raises(ValueError, match="2 novelty flags but 1 rewards"):
        off.shape([True, False], [1.0])


def _search_recording_updates(tmp_path, monkeypatch, name, novelty):
    """Run the SMALL search (random controller: proposals do not depend on what it learns) and
    return (stored rows, rewards handed to controller.update)."""
    from controllers.random_search import RandomSearch

    learned = []
    original = RandomSearch.update

    def spy(self, rules, rewards):
        learned.extend(rewards)
        return original(self, rules, rewards)

    space = {"units": 1, "operands": ["g", "sign(g)", "1"], "unary": ["id", "neg"], "binary": ["mul", "add"]}
    config = from_dict({**SMALL, "budget": 24, "space": space,
                        "controller": {"name": "random", "novelty": novelty}})
    with monkeypatch.context() as patch:
        patch.setattr(RandomSearch, "update", spy)
        search(config, tmp_path / name, progress=False, log=lambda *_: None)
    return rows_of(tmp_path / name), learned


def test_novelty_changes_what_the_controller_learns_not_what_the_store_records(tmp_path, monkeypatch):
    rows_on, learned_on = _search_recording_updates(tmp_path, monkeypatch, "on", True)
    rows_off, learned_off = _search_recording_updates(tmp_path, monkeypatch, "off", False)
    assert rows_on == rows_off  # same samples, same stored rewards
    stored = [row[-1] for row in rows_on]
    assert learned_off == stored
    seen, expected = set(), []
    for text, reward in [(row[2], row[-1]) for row in rows_on]:
        shape = parse(text).fingerprint_up_to_scale  # a positive multiple is a repeat
        expected.append(0.0 if shape in seen else reward)
        seen.add(shape)
    assert learned_on == expected
    assert learned_on != learned_off and any(r > 0 for r in learned_on)  # repeats happened, and paid 0
