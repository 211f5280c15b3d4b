"""The char_lm layout: lanes that share a seed read their windows once.

With ``shared_batch`` the windows of ``seeds[0]``, ids [T + 1, B], are gathered once and every lane
reads them (``window_losses`` with shared ids); otherwise each lane reads its own, [T + 1, K, B].
The loss is the task's mean next-character cross-entropy either way.
"""

import tensorflow as tf

from nos.engine.layouts.base import Layout


class CharLMLayout(Layout):
    """`nos.engine.tasks.char_lm.CharLM` with its shared-window path (module docstring)."""

    batch_sharing = True

    def loss(self, params, step, seeds, *, shared_batch=False):
        seeds = tf.convert_to_tensor(seeds)
        if shared_batch:
            return self.task.window_losses(params, self.task.windows(step, seeds[:1])[:, 0])
        return self.task.train_loss(params, step, seeds)
