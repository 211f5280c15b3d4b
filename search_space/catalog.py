"""Known rules, each written in the language and pinned to its reference.

PowerSign and AddSign follow the paper (Bello et al. 2017, eqs. 3–4) and TF1's
``tf.contrib.opt.PowerSignOptimizer`` / ``AddSignOptimizer``: the decay multiplies
``sign(g)*sign(m)``. The TensorFlow code of the article "Custom Optimizer in TensorFlow"
(Descamps) differs: its m is ``max(β·m + ε, |g|)``, which is always positive, so its
``sign(m)`` is always 1 and its PowerSign reduces to ``α^sign(g)·g`` (with α = β = 0.5 by a
typo). That update needs the constant 0.5, which is not a word of the paper's grammar, so the
article's variant is not in this catalog.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from search_space.grammar import GRAMMAR
from search_space.rule import Rule, parse

PAPER = "Bello et al., Neural Optimizer Search with Reinforcement Learning, ICML 2017"


@dataclass(frozen=True)
class KnownRule:
    name: str
    text: str
    reference: str
    note: str = ""

    @property
    def rule(self) -> Rule:
        return parse(self.text, GRAMMAR)


_DECAYS = {"ld": "linear", "cd": "cosine", "rd": "restart"}

CATALOG: tuple[KnownRule, ...] = (
    KnownRule("sgd", "g", "Robbins & Monro 1951", "plain gradient descent"),
    KnownRule(
        "momentum",
        "m",
        "Polyak 1964",
        "EMA momentum: m̂ = bias-corrected EMA of g, i.e. heavy-ball scaled by (1 − β1)",
    ),
    KnownRule("adam", "adam", "Kingma & Ba 2015", "matches keras.optimizers.Adam step for step"),
    KnownRule("rmsprop", "rmsprop", "Tieleman & Hinton 2012", "g/(√v̂ + ε) with bias-corrected v̂ (β2 = 0.999)"),
    KnownRule("sign_sgd", "sign(g)", "Bernstein et al. 2018", "signSGD"),
    KnownRule("signum", "sign(m)", "Bernstein et al. 2018", "sign of momentum"),
    KnownRule("powersign", "exp(sign(g)*sign(m))*g", PAPER, "PowerSign, base e (eq. 3)"),
    KnownRule("powersign_2", "2^(sign(g)*sign(m))*g", PAPER, "PowerSign, base 2"),
    *(
        KnownRule(f"powersign_{d}", f"exp({d}*sign(g)*sign(m))*g", PAPER, f"PowerSign with {name} sign decay")
        for d, name in _DECAYS.items()
    ),
    KnownRule("addsign", "(1 + sign(g)*sign(m))*g", PAPER, "AddSign, α = 1 (eq. 4)"),
    KnownRule("addsign_2", "(2 + sign(g)*sign(m))*g", PAPER, "AddSign, α = 2"),
    *(
        KnownRule(f"addsign_{d}", f"(1 + {d}*sign(g)*sign(m))*g", PAPER, f"AddSign with {name} sign decay")
        for d, name in _DECAYS.items()
    ),
)

KNOWN_RULES: MappingProxyType = MappingProxyType({entry.name: entry.rule for entry in CATALOG})


def resolve_rule(item) -> Rule:
    """A Rule, a catalog name such as ``"powersign"`` (see `CATALOG`), or rule text, as a Rule.

    ParseError (a ValueError) on text that is neither; TypeError on anything else.
    """
    if isinstance(item, Rule):
        return item
    if not isinstance(item, str):
        raise TypeError(f"a rule is a Rule, a catalog name or rule text; got {type(item).__name__}")
    return KNOWN_RULES[item] if item in KNOWN_RULES else parse(item)


def known_rule(name: str) -> Rule:
    """The catalog rule called `name`; KeyError listing the names otherwise."""
    try:
        return KNOWN_RULES[name]
    except KeyError:
        raise KeyError(f"no known rule {name!r}; known rules: {', '.join(KNOWN_RULES)}") from None
