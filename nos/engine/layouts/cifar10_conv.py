"""The cifar10_conv layout: the task's own class-major shared-batch logits.

With a shared minibatch x [B, 32, 32, 3] the first convolution runs for all lanes as ONE 2-D
matmul, patches [B·900, 27] x kernels [27, K·F1] (the task's ``class_major_logits``, which its
``validation`` uses too); per-lane minibatches take the reference ``logits``, transposed to [K, 10, B].
"""

from nos.engine.layouts.supervised import SupervisedLayout


class Cifar10ConvLayout(SupervisedLayout):
    """`nos.engine.tasks.cifar10_conv.Cifar10Conv` through ``class_major_logits`` (module docstring)."""

    def logits(self, params, x):
        return self.task.class_major_logits(params, x)
