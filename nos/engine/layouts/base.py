"""`Layout`: how the compiled training loop holds and differentiates one task's parameters.

A task (`nos.engine.tasks.base.Task`) is the reference definition: ``train_loss(params, step,
seeds)`` of flat parameters [K, P]. The loop (`nos.engine.interpreter.loop`) never calls it
directly; it asks the task's layout (`nos.engine.layouts.registry.layout_for`) for

    order                                    None, or a permutation [P] of the flat columns
    loss(w, step, seeds, shared_batch=False) [K, P] held in ``order`` -> [K]

with w = params[:, order], i.e. column j holds flat parameter ``order[j]``. The loop permutes once
after ``init_params`` (`to_layout`) and back once before ``validation`` (`from_layout`); rule math
is elementwise, so the order changes no value. With ``shared_batch=True`` the caller promises that
every lane has the seed ``seeds[0]`` and hence one minibatch; ``batch_sharing`` says whether the
layout has a faster path for that case, so that the loop lays lanes out in single-seed chunks
(`nos.engine.interpreter.lanes`). Whatever the path, the contract is

    loss(to_layout(params), s, seeds)  = task.train_loss(params, s, seeds)
    ∂/∂w Σ loss, mapped by from_layout = ∂/∂params Σ task.train_loss

to float tolerance, which ``check_task`` verifies for the task's layout.

This class is the layout of a task with no adapter of its own: flat order, no shared path, and the
reference loss itself, differentiated by the loop's ``tf.GradientTape`` (the reference loss is
batched over lanes, so one tape gives every lane's gradient). Adapters for task families subclass
it and override ``loss`` (and ``order``, ``batch_sharing``) for speed only.
"""

import numpy as np
import tensorflow as tf


class Layout:
    """The reference layout of ``task``: ``loss`` = ``task.train_loss``, flat order, no shared path."""

    order = None
    batch_sharing = False

    def __init__(self, task):
        self.task = task

    def loss(self, params, step, seeds, *, shared_batch: bool = False) -> tf.Tensor:
        """float32 [K]: the task's training loss of parameters [K, P] held in ``order``.

        With ``shared_batch`` every lane must have the seed ``seeds[0]``; the reference needs no
        other path, since lanes with equal seeds already draw the same minibatch.
        """
        return self.task.train_loss(params, step, seeds)

    def to_layout(self, params) -> tf.Tensor:
        """[K, P] flat -> [K, P] in ``order`` (the identity when it is None)."""
        if self.order is None:
            return tf.convert_to_tensor(params)
        return tf.gather(params, self.order, axis=1)

    def from_layout(self, params) -> tf.Tensor:
        """Inverse of ``to_layout``."""
        if self.order is None:
            return tf.convert_to_tensor(params)
        return tf.gather(params, np.argsort(self.order).astype(np.int32), axis=1)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self.task.name}>"
