"""Which layout the interpreter uses for a task: `layout_for`, `register_layout`.

Adapters are registered per task class; a task gets the adapter of the first class of its method
resolution order that has one (a subclass of `MLP` gets the MLP layout), else the reference
`Layout`: a task with no adapter trains unchanged, through its ``train_loss``.
"""

from nos.engine.layouts.base import Layout
from nos.engine.layouts.char_lm import CharLMLayout
from nos.engine.layouts.cifar10_conv import Cifar10ConvLayout
from nos.engine.layouts.conv_digits import ConvDigitsLayout
from nos.engine.layouts.mlp import MLPLayout
from nos.engine.layouts.supervised import SupervisedLayout
from nos.engine.tasks.char_lm import CharLM
from nos.engine.tasks.cifar10_conv import Cifar10Conv
from nos.engine.tasks.conv_digits import ConvDigits
from nos.engine.tasks.mlp import MLP
from nos.engine.tasks.supervised import SupervisedTask

_LAYOUTS = {}


def register_layout(task_class: type, factory) -> None:
    """Make ``layout_for(task)`` return ``factory(task)`` for instances of ``task_class`` and its subclasses."""
    if not isinstance(task_class, type):
        raise ValueError(f"register_layout: task_class must be a class, got {task_class!r}")
    if not callable(factory):
        raise ValueError(f"register_layout: factory for {task_class.__name__} must be callable, got {factory!r}")
    _LAYOUTS[task_class] = factory


def layout_for(task) -> Layout:
    """The registered layout of ``task``'s nearest class that has one, else the reference `Layout`."""
    for cls in type(task).__mro__:
        if cls in _LAYOUTS:
            return _LAYOUTS[cls](task)
    return Layout(task)


for _task_class, _factory in ((SupervisedTask, SupervisedLayout), (MLP, MLPLayout), (ConvDigits, ConvDigitsLayout),
                              (Cifar10Conv, Cifar10ConvLayout), (CharLM, CharLMLayout)):
    register_layout(_task_class, _factory)
