"""The shared-batch layout of every `SupervisedTask` (classifiers and regressors).

With ``shared_batch`` the lanes' common minibatch is that of ``seeds[0]``, gathered once as
x [B, ...] (the task's ``minibatch_indices``) and handed to ``logits``, which returns *class-major*
logits z [K, O, B] (O = num_outputs: the MLP's natural layout, the class reduction of the softmax
over a middle axis). The loss of lane k is then

    mean_b class_major_losses(z, y)[k, b]            (cross-entropy, see `nos.engine.tasks.supervised`)
    mean_b class_major_squared_errors(z, y)[k, b]    (a regressor)

the same per-example losses as the task's ``train_loss``. Without ``shared_batch`` each lane
gathers its own minibatch, x [K, B, ...]. The default ``logits`` transposes the task's own
``logits``; family adapters (`mlp`, `conv_digits`, `cifar10_conv`) override it, and ``order``.
"""

import tensorflow as tf

from nos.engine.layouts.base import Layout
from nos.engine.tasks.supervised import class_major_losses, class_major_squared_errors


class SupervisedLayout(Layout):
    """Per-lane or shared minibatches through class-major logits (module docstring)."""

    batch_sharing = True

    def loss(self, params, step, seeds, *, shared_batch=False):
        task = self.task
        seeds = tf.convert_to_tensor(seeds)
        index = task.minibatch_indices(step, seeds[:1] if shared_batch else seeds)
        if shared_batch:
            index = index[0]
        x, y = task.training_examples(index)
        losses = class_major_squared_errors if task.regression else class_major_losses
        return tf.reduce_mean(losses(self.logits(params, x), y), axis=-1)

    def logits(self, params, x) -> tf.Tensor:
        """params [K, P] in ``order``; x [K, B, ...] or shared [B, ...] -> class-major [K, num_outputs, B]."""
        return tf.transpose(self.task.logits(params, x), (0, 2, 1))
