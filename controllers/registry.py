"""Build a controller by name: ``make_controller("rnn", space, seed=0, algorithm="ppo")``.

The rnn module (TensorFlow) is imported only when an rnn is made, so ``import controllers``
stays light.
"""

from __future__ import annotations

import json
from importlib import import_module
from pathlib import Path

from controllers.base import STATE_FILE, Controller
from search_space.tokens import SearchSpace

CONTROLLERS = {
    "rnn": ("controllers.rnn", "RNNController"),
    "random": ("controllers.random_search", "RandomSearch"),
    "evolution": ("controllers.evolution", "RegularizedEvolution"),
}


def controller_class(name: str) -> type[Controller]:
    """The class registered as `name`; ValueError listing the names otherwise."""
    if name not in CONTROLLERS:
        raise ValueError(f"unknown controller {name!r}; valid controllers: {', '.join(CONTROLLERS)}")
    module, attribute = CONTROLLERS[name]
    return getattr(import_module(module), attribute)


def make_controller(name: str, space: SearchSpace, seed: int = 0, **config) -> Controller:
    """A new controller; ValueError naming an unknown controller or config key and the valid ones."""
    cls = controller_class(name)
    unknown = sorted(set(config) - set(cls.options()))
    if unknown:
        raise ValueError(
            f"controller {name!r} has no option {', '.join(map(repr, unknown))}; "
            f"valid options: {', '.join(cls.options()) or '(none)'}"
        )
    return cls(space, seed=seed, **config)


def load_controller(directory, space: SearchSpace) -> Controller:
    """The controller saved in `directory`, rebuilt from its saved name, seed and config."""
    path = Path(directory) / STATE_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no controller checkpoint in {directory} (missing {STATE_FILE})")
    document = json.loads(path.read_text())
    controller = make_controller(document["controller"], space, seed=document["seed"], **document["config"])
    controller.restore(directory)
    return controller
