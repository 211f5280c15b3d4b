"""A ReLU multilayer perceptron regressing diabetes progression (mean squared error)."""

from nos.engine.tasks.base import check_positive_int
from nos.engine.tasks.diabetes import diabetes
from nos.engine.tasks.mlp import MLP, check_hidden_sizes
from nos.limits import MAX_SEED

NUM_FEATURES, NUM_OUTPUTS = 10, 1


class MLPDiabetes(MLP):
    """y_hat = W_L relu(... relu(W_1 x + b_1) ...) + b_L on 10 standardized features -> 1 target.

    Data: ``diabetes(split_seed)``, 354 train / 88 validation, features and target standardized
    with the training split's mean and std. Loss: the mean squared error

        L = (1 / B) sum_b (y_hat_b - y_b)^2

    on minibatches of B training examples sampled with replacement (see ``SupervisedTask``);
    ``validation`` returns {"loss": the same MSE over the 88 validation examples}. On the default
    split, predicting the training mean scores 0.83 and a linear least-squares fit 0.56.
    Parameters in Keras order [W1 (10, h1), b1 (h1,), ..., WL (h_last, 1), bL (1,)]; the default
    (32,) hidden layer gives P = 10*32 + 32 + 32*1 + 1 = 385. Glorot-uniform kernels, zero biases.
    The network is `nos.engine.tasks.mlp.MLP`, its fast layout `nos.engine.layouts.mlp`'s.

    Arguments:
        hidden_sizes: widths of the hidden layers (default (32,)).
        batch_size: examples per lane and step (default 32).
        split_seed: seed of the train/validation split (default 0).
    """

    kind = "mlp_diabetes"
    num_outputs = NUM_OUTPUTS
    regression = True

    def __init__(self, hidden_sizes=(32,), batch_size=32, split_seed=0):
        hidden = check_hidden_sizes(self.kind, hidden_sizes)
        split_seed = check_positive_int(self.kind, "split_seed", split_seed, minimum=0, maximum=MAX_SEED)
        super().__init__(diabetes(split_seed), (NUM_FEATURES, *hidden, NUM_OUTPUTS), batch_size)
        self.config = {"hidden_sizes": hidden, "batch_size": self.batch_size, "split_seed": split_seed}
        self.name = "mlp_diabetes_" + "x".join(map(str, self.widths)) + f"_b{self.batch_size}"
        if split_seed:
            self.name += f"_split{split_seed}"
