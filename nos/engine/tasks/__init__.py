"""Child tasks: small, batched, XLA-compilable training problems that score update rules.

    from nos.engine.tasks import get_task, check_task, TASKS
    task = get_task("mlp_digits", batch_size=128)     # task.name == "mlp_digits_64x32x10_b128"
    params = task.init_params(seeds)                  # [K] -> [K, P]
    loss = task.train_loss(params, step, seeds)       # [K]
    metrics = task.validation(params)                 # {"loss": [K], "accuracy": [K]}

A task is the reference definition only; the interpreter trains it through `nos.engine.layouts`
(its family's fast layout where one is registered, else ``train_loss`` itself).
"""

from nos.engine import compile_cache
from nos.engine.tasks.base import Task
from nos.engine.tasks.check import check_task
from nos.engine.tasks.registry import TASKS, get_task, register_task, registered_tasks

compile_cache.enable()  # before this process runs any TensorFlow function: see its docstring

__all__ = ["Task", "TASKS", "check_task", "get_task", "register_task", "registered_tasks"]
