"""What an exported optimizer takes and keeps, decided by what the rule's code reads.

An exported SGD takes only a learning rate; PowerSign adds ``beta_1`` and keeps one moving
average m; a rule with a decay operand requires ``decay_steps``; a random one takes ``seed``.
The moving averages follow `search_space.context`, updated before the rule is evaluated:

    m_t = β1·m_{t-1} + (1 − β1)·g,   v_t = β2·v_{t-1} + (1 − β2)·g²,   y_t = β3·y_{t-1} + (1 − β3)·g³
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass

from nos.export.codegen import RANDOM_DRAWS, RuleCode
from search_space.context import EPSILON, MOMENTS, Moment


@dataclass(frozen=True)
class Hyperparameter:
    """A constructor argument: its default (source), a valid-value `condition` (source), docs."""

    name: str
    default: str
    doc: str
    condition: str
    requirement: str


@dataclass(frozen=True)
class Signature:
    """Constructor arguments (besides the learning rate), moving averages, step, randomness."""

    hyperparameters: tuple[Hyperparameter, ...]
    slots: tuple[Moment, ...]
    uses_step: bool
    stochastic: bool


def _beta(slot: Moment) -> Hyperparameter:
    default = slot.default
    return Hyperparameter(
        slot.beta,
        repr(default),
        f"decay rate of {slot.name}, {slot.doc}. Defaults to `{default!r}`.",
        f"0.0 <= {slot.beta} < 1.0",
        f"must be in [0, 1): it is the decay rate of {slot.name}, {slot.doc}, whose bias correction "
        f"1 - {slot.beta}^t divides by zero at 1",
    )


_BETAS = {moment.beta for moment in MOMENTS}
EPSILON_ARGUMENT = Hyperparameter(
    "epsilon",
    repr(EPSILON),
    f"the ε of the adam and rmsprop operands. Defaults to `{EPSILON!r}`.",
    "epsilon >= 0.0",
    "must be >= 0: it keeps the denominators sqrt(v) + epsilon away from zero",
)
DECAY_STEPS_ARGUMENT = Hyperparameter(
    "decay_steps",
    "None",
    "D, the number of steps over which the decay operands fall (the step is clipped to D); required.",
    "isinstance(decay_steps, int) and decay_steps >= 1",
    "is required and must be a positive int: the rule's decay operands are functions of t/decay_steps",
)
SEED_ARGUMENT = Hyperparameter(
    "seed",
    "None",
    "an int seeding the rule's random draws, or None for a random seed. Defaults to `None`.",
    "seed is None or isinstance(seed, int)",
    "must be an int or None: it seeds the rule's random draws",
)


def signature(code: RuleCode) -> Signature:
    """The arguments and state an optimizer running `code` needs."""
    slots = tuple(slot for slot in MOMENTS if slot.name in code.reads)
    betas = {slot.beta for slot in slots} | (code.reads & _BETAS)
    arguments = [_beta(slot) for slot in MOMENTS if slot.beta in betas]
    if "epsilon" in code.reads:
        arguments.append(EPSILON_ARGUMENT)
    if "decay_steps" in code.reads:
        arguments.append(DECAY_STEPS_ARGUMENT)
    stochastic = bool(code.reads & set(RANDOM_DRAWS))
    if stochastic:
        arguments.append(SEED_ARGUMENT)
    return Signature(tuple(arguments), slots, "t" in code.reads, stochastic)


def validation_lines(signature: Signature, indent: str) -> list[str]:
    """``if not <condition>: raise ValueError(...)`` for each argument, Keras' message style."""
    lines = []
    for argument in signature.hyperparameters:
        message = f"Argument `{argument.name}` {argument.requirement}. "
        chunks = textwrap.wrap(
            message, 72, drop_whitespace=False, break_on_hyphens=False, break_long_words=False
        )
        lines += [
            f"{indent}if not ({argument.condition}):",
            f"{indent}    raise ValueError(",
            *(f"{indent}        {string_literal(chunk)}" for chunk in chunks),
            f'{indent}        f"Received: {argument.name}={{{argument.name}!r}}."',
            f"{indent}    )",
        ]
    return lines


def string_literal(text: str) -> str:
    """A double-quoted Python string literal whose value is `text`."""
    return json.dumps(text, ensure_ascii=False)
