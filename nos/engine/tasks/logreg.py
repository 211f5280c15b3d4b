"""Logistic regression on a fixed synthetic data set."""

import numpy as np

from nos.engine.tasks import initializers
from nos.engine.tasks.base import check_positive_int
from nos.engine.tasks.supervised import Dataset, SupervisedTask, dense
from nos.limits import MAX_DATA_VALUES, MAX_SEED


def synthetic_data(num_features, num_train, num_val, data_seed) -> Dataset:
    """Features x ~ N(0, I), labels y ~ Bernoulli(sigmoid(x . w* + b*)).

    w* ~ N(0, 4 I / num_features) and b* ~ N(0, 1) come from the same numpy
    generator ``default_rng(data_seed)``, so the Bayes-optimal classifier is
    imperfect and the loss has a strictly positive minimum.
    """
    gen = np.random.default_rng(data_seed)
    w_true = gen.normal(0.0, 2.0 / np.sqrt(num_features), num_features)
    b_true = gen.normal()
    x = gen.normal(size=(num_train + num_val, num_features))
    y = gen.random(num_train + num_val) < 1.0 / (1.0 + np.exp(-(x @ w_true + b_true)))
    x, y = x.astype(np.float32), y.astype(np.int32)
    return Dataset(x[:num_train], y[:num_train], x[num_train:], y[num_train:])


class LogReg(SupervisedTask):
    """p(y = 1 | x) = sigmoid(x . w + b), sigmoid cross-entropy, on ``synthetic_data``.

    Parameters [w (d, 1), b (1,)], P = d + 1 (21 by default), the same order and
    shapes as keras Dense(1); w starts Glorot-uniform from the lane seed, b = 0.
    Minibatches are sampled with replacement (see ``SupervisedTask``).

    Arguments:
        num_features: d (default 20).
        num_train, num_val: data set sizes (default 1000, 500).
        batch_size: examples per lane and step (default 64).
        data_seed: seed of the generated data set (default 0).
    """

    kind = "logreg"
    num_outputs = 1

    def __init__(self, num_features=20, num_train=1000, num_val=500, batch_size=64, data_seed=0):
        d = check_positive_int(self.kind, "num_features", num_features)
        n_train = check_positive_int(self.kind, "num_train", num_train)
        n_val = check_positive_int(self.kind, "num_val", num_val)
        data_seed = check_positive_int(self.kind, "data_seed", data_seed, minimum=0, maximum=MAX_SEED)
        if (n_train + n_val) * d > MAX_DATA_VALUES:
            raise ValueError(f"logreg: (num_train + num_val) * num_features = {(n_train + n_val) * d:,} values, "
                             f"above the limit of {MAX_DATA_VALUES:,}")
        super().__init__(synthetic_data(d, n_train, n_val, data_seed), batch_size)
        self.config = {"num_features": d, "num_train": n_train, "num_val": n_val,
                       "batch_size": self.batch_size, "data_seed": data_seed}
        self.name = f"logreg_d{d}_n{n_train}_v{n_val}_b{self.batch_size}" + (f"_data{data_seed}" if data_seed else "")
        self.param_shapes = ((d, 1), (1,))

    def init_params(self, seeds):
        return initializers.glorot_uniform(seeds, self.param_shapes)

    def logits(self, params, x):
        w, b = self.split_params(params)
        return dense(x, w, b)

    def keras_model(self):
        import keras

        return keras.Sequential([keras.Input((self.data.x_train.shape[1],)), keras.layers.Dense(1)], name=self.name)
