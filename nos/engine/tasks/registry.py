"""Task registry: build a task from its kind and keyword configuration."""

import inspect

from nos.engine.tasks.base import Task
from nos.engine.tasks.char_lm import CharLM
from nos.engine.tasks.cifar10_conv import Cifar10Conv
from nos.engine.tasks.conv_digits import ConvDigits
from nos.engine.tasks.logreg import LogReg
from nos.engine.tasks.matrix_factorization import MatrixFactorization
from nos.engine.tasks.mlp_diabetes import MLPDiabetes
from nos.engine.tasks.mlp_digits import MLPDigits
from nos.engine.tasks.quadratic import Quadratic
from nos.engine.tasks.rosenbrock import Rosenbrock

_REGISTRY = {}


def register_task(name: str, factory, *, overwrite: bool = False) -> None:
    """Make ``get_task(name, **config)`` return ``factory(**config)``.

    ``factory`` is a callable (usually a Task subclass) whose keyword parameters
    are the task's configuration keys. Re-registering a name raises ValueError
    unless ``overwrite=True``.
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"register_task: name must be an identifier-like string, got {name!r}")
    if not callable(factory):
        raise ValueError(f"register_task: factory for {name!r} must be callable, got {factory!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"register_task: {name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[name] = factory


def registered_tasks() -> tuple:
    """Names accepted by ``get_task``, built-in and user-registered, sorted."""
    return tuple(sorted(_REGISTRY))


def config_keys(name: str) -> tuple:
    """The configuration keys of a registered task, from its factory's signature."""
    parameters = inspect.signature(_factory(name)).parameters.values()
    return tuple(p.name for p in parameters if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))


def get_task(name: str, **config) -> Task:
    """Build the task registered as ``name`` with keyword ``config``; ValueError names bad input."""
    factory = _factory(name)
    parameters = inspect.signature(factory).parameters.values()
    if not any(p.kind == p.VAR_KEYWORD for p in parameters):
        valid = config_keys(name)
        unknown = sorted(set(config) - set(valid))
        if unknown:
            raise ValueError(f"unknown config key(s) {', '.join(unknown)} for task {name!r}; "
                             f"valid keys: {', '.join(valid) or '(none)'}")
    task = factory(**config)
    task.kind = name
    return task


def _factory(name):
    if name not in _REGISTRY:
        raise ValueError(f"unknown task {name!r}; valid names: {', '.join(registered_tasks())}")
    return _REGISTRY[name]


for _cls in (Rosenbrock, Quadratic, LogReg, MLPDigits, ConvDigits, MLPDiabetes, MatrixFactorization, Cifar10Conv,
             CharLM):
    register_task(_cls.kind, _cls)

TASKS = ("rosenbrock", "quadratic", "logreg", "mlp_digits", "conv_digits", "mlp_diabetes", "matrix_factorization",
         "cifar10_conv", "char_lm")
