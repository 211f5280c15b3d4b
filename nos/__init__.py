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
    "RuleOptimizer": "nos.keras.optimizer",
    "evaluate": "nos.engine.grid",
    "get_task": "nos.engine.tasks",
    "check_task": "nos.engine.tasks",
    "TASKS": "nos.engine.tasks",
}

__all__ = sorted(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nos' has no attribute {name!r}")


ENV_ID = "nos/OptimizerSearch-v0"


def _load_triton_before_tensorflow() -> None:
    """Import triton now if it is installed and TensorFlow is not loaded yet.

    Loading triton's libtriton.so after TensorFlow segfaults: its LLVM static initializers bind
    to the LLVM symbols TensorFlow exported first. torch imports triton on first use of
    ``torch._dynamo`` (any ``torch.optim`` optimizer), and Stable-Baselines3 imports TensorFlow
    through tensorboard, so an RL agent built after TensorFlow crashes. Loaded first, triton
    keeps its own LLVM and both work. About 0.2 s, and nothing without triton (CPU-only torch).
    """
    from importlib.util import find_spec

    if "tensorflow" not in sys.modules and find_spec("triton") is not None:
        try:
            import triton  # noqa: F401
        except ImportError:  # a broken install: torch will say so when it needs it
            pass


def _register_environment():
    """``gymnasium.make(ENV_ID)`` and ``gymnasium.make_vec(ENV_ID, …)`` (see `nos.env`)."""
    import gymnasium

    if ENV_ID not in gymnasium.registry:
        gymnasium.register(id=ENV_ID, entry_point="nos.env:OptimizerSearchEnv",
                           vector_entry_point="nos.env:OptimizerSearchVectorEnv")


_load_triton_before_tensorflow()
_register_environment()
