"""NOS — Neural Optimizer Search: search, evaluate and export optimizer update rules.

Heavy parts (TensorFlow) load on first use, so ``import nos`` and ``nos --help`` stay fast.
"""

import os
import signal
import sys
from importlib import import_module


def _interrupted_while_starting(signum, frame):
    sys.stderr.write("nos: interrupted\n")
    os._exit(130)


if sys.argv and (os.path.basename(sys.argv[0]) == "nos" or sys.argv[0] == "-m"):
    # the console script, or `python -m nos` (argv[0] is "-m" while runpy imports the package):
    # Ctrl-C while it starts is one line; `nos.cli.entry` takes over
    signal.signal(signal.SIGINT, _interrupted_while_starting)

_LAZY = {
    "RuleOptimizer": "nos.optimizer",
    "evaluate": "nos.evaluation",
    "get_task": "nos.tasks",
    "check_task": "nos.tasks",
    "TASKS": "nos.tasks",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nos' has no attribute {name!r}")


def _register_environment():
    import gymnasium

    if "nos/OptimizerSearch-v0" not in gymnasium.registry:
        gymnasium.register(id="nos/OptimizerSearch-v0", entry_point="nos.env:OptimizerSearchEnv")


_register_environment()
