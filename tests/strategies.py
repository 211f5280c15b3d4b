"""Hypothesis strategies shared by tests: random legal programs of a grammar."""

from hypothesis import strategies as st

from search_space import GRAMMAR, Rule
from search_space.tokens import slot_masks


@st.composite
def token_programs(draw, grammar=GRAMMAR, max_units=4):
    units = draw(st.integers(1, max_units))
    masks = slot_masks(grammar, units)
    tokens = [draw(st.sampled_from(list(mask.nonzero()[0]))) for mask in masks]
    return tokens


def rules(grammar=GRAMMAR, max_units=4):
    return token_programs(grammar, max_units).map(lambda tokens: Rule.from_tokens(tokens, grammar))
