"""Layouts: optional fast training paths of task families, checked against the tasks' reference loss.

    from nos.engine.layouts import layout_for
    layout = layout_for(task)                         # the task family's adapter, else the reference Layout
    w = layout.to_layout(task.init_params(seeds))     # [K, P] in layout.order
    loss = layout.loss(w, step, seeds)                # == task.train_loss(params, step, seeds)
"""

from nos.engine.layouts.base import Layout
from nos.engine.layouts.registry import layout_for, register_layout

__all__ = ["Layout", "layout_for", "register_layout"]
