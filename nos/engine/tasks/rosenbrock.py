"""Rosenbrock's banana function, the reference article's toy problem."""

import tensorflow as tf

from nos.engine.tasks.base import Task

START = (-2.39, -1.57)


class Rosenbrock(Task):
    """f(x, y) = (1 - x)^2 + 100 (y - x^2)^2, minimum f(1, 1) = 0.

    P = 2 with params[k] = (x, y). Every lane starts at (-2.39, -1.57), whatever
    its seed (as in the reference article), where f is about 5314.39. The loss is
    deterministic: ``train_loss`` ignores step and seeds and equals
    ``validation(params)["loss"]``.
    """

    kind = "rosenbrock"

    def __init__(self):
        self.name = "rosenbrock_2d"
        self.config = {}
        self.param_shapes = ((2,),)

    def init_params(self, seeds):
        k = tf.shape(tf.convert_to_tensor(seeds))[0]
        return tf.broadcast_to(tf.constant([START], tf.float32), tf.stack([k, 2]))

    def train_loss(self, params, step, seeds):
        return self._value(params)

    def validation(self, params):
        return {"loss": self._value(params)}

    @staticmethod
    def _value(params):
        x, y = params[:, 0], params[:, 1]
        return tf.square(1.0 - x) + 100.0 * tf.square(y - tf.square(x))
