"""`KerasModelTask`: score a rule on a user's own Keras model and `tf.data` pipeline.

The built-in tasks train K lanes at once behind the batched [K, P] interface. A user's model
cannot: it is any `keras.Model`, trained one (rule, learning rate, seed) at a time through
`RuleOptimizer` and `model.fit` — the general, slower path. Its interface is one method:

    task = KerasModelTask(model_fn, dataset, validation_data, loss="mse", name="my_regressor")
    result = task.train("exp(sign(g)*sign(m))*g", learning_rate=0.01, seed=0, steps=300)
    result["final_loss"], result["validation_loss"], result["curve"], result["diverged"]
"""

from __future__ import annotations

import math

import keras
import numpy as np

from nos.engine.tasks.base import check_positive_int
from nos.keras.optimizer import RuleOptimizer
from nos.limits import MAX_STEPS
from search_space import Rule, parse


class KerasModelTask:
    """Train a fresh Keras model with a rule; report its losses and whether it diverged.

    For each call of `train`, ``keras.utils.set_random_seed(seed)`` fixes the initial weights
    (drawn by ``model_fn()``) and the rule's random draws, then the model is compiled with
    ``RuleOptimizer(rule, learning_rate, decay_steps=steps, seed=seed)`` and fitted for exactly
    `steps` batches of ``dataset.repeat()``. Training stops early once the loss is not finite.

    Arguments:
        model_fn: a function of no arguments returning a new, uncompiled `keras.Model`.
        dataset: a batched `tf.data.Dataset` of (x, y) training pairs, repeated as needed; or a
            function of no arguments returning one, built after seeding, so that its shuffling
            repeats exactly for a seed (a dataset object's own reshuffling carries on between
            calls of `train`).
        validation_data: a batched `tf.data.Dataset` scored after training, or None.
        loss: a Keras loss (name, function or `keras.losses.Loss`).
        name: an identifier that results and caches key on, e.g. ``"imdb_lstm_b64"``.
        curve_every: steps per point of the training curve (default 10).
        jit_compile: passed to ``model.compile`` (default ``"auto"``, Keras' default).
        optimizer_kwargs: extra keyword arguments of `RuleOptimizer` (betas, epsilon, clipnorm, …).
    """

    def __init__(
        self,
        model_fn,
        dataset,
        validation_data,
        loss,
        name,
        curve_every=10,
        jit_compile="auto",
        optimizer_kwargs=None,
    ):
        if not callable(model_fn):
            raise TypeError(
                f"KerasModelTask: model_fn must be a function returning a keras.Model, got {model_fn!r}"
            )
        if not isinstance(name, str) or not name:
            raise ValueError(f"KerasModelTask: name must be a non-empty string, got {name!r}")
        self.model_fn = model_fn
        self.dataset = dataset
        self.validation_data = validation_data
        self.loss = loss
        self.name = name
        self.curve_every = check_positive_int(name, "curve_every", curve_every, maximum=MAX_STEPS)
        self.jit_compile = jit_compile
        self.optimizer_kwargs = dict(optimizer_kwargs or {})

    def train(self, rule, learning_rate, seed, steps) -> dict:
        """Train for `steps` batches and return a dict:

        ``final_loss``        mean training loss over the last curve window (≤ curve_every steps)
        ``validation_loss``   loss on ``validation_data`` (None without it; nan once diverged)
        ``curve``             mean training loss of each window of ``curve_every`` steps
        ``diverged``          True when the loss or a weight stopped being finite
        ``steps``             batches actually trained (fewer than asked once diverged)
        """
        rule = rule if isinstance(rule, Rule) else parse(rule)
        steps = check_positive_int(self.name, "steps", steps, maximum=MAX_STEPS)
        keras.utils.set_random_seed(int(seed))
        model = self.model_fn()
        dataset = self.dataset() if callable(self.dataset) else self.dataset
        optimizer = RuleOptimizer(
            rule,
            learning_rate=float(learning_rate),
            decay_steps=steps if rule.uses_decay else None,
            seed=int(seed),
            **self.optimizer_kwargs,
        )
        model.compile(optimizer=optimizer, loss=self.loss, jit_compile=self.jit_compile)
        window = min(self.curve_every, steps)
        stopper = _StopAfter(steps)
        history = model.fit(
            dataset.repeat(),
            epochs=math.ceil(steps / window),
            steps_per_epoch=window,
            callbacks=[stopper],
            shuffle=False,
            verbose=0,
        )
        curve = [float(loss) for loss in history.history["loss"]]
        diverged = not math.isfinite(curve[-1]) or not all(np.isfinite(w).all() for w in model.get_weights())
        validation_loss = None
        if self.validation_data is not None:
            validation_loss = float("nan")
            if not diverged:
                validation_loss = float(
                    model.evaluate(self.validation_data, verbose=0, return_dict=True)["loss"]
                )
        return {
            "final_loss": curve[-1],
            "validation_loss": validation_loss,
            "curve": curve,
            "diverged": diverged,
            "steps": stopper.seen,
        }

    def __repr__(self) -> str:
        return f"<KerasModelTask {self.name}>"


class _StopAfter(keras.callbacks.Callback):
    """Stop `fit` after exactly `steps` batches, or as soon as the loss is not finite."""

    def __init__(self, steps):
        super().__init__()
        self.steps = steps
        self.seen = 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        loss = (logs or {}).get("loss")
        if self.seen >= self.steps or (loss is not None and not math.isfinite(float(loss))):
            self.model.stop_training = True
