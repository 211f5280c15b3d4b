"""A ReLU multilayer perceptron on the 8x8 digits."""

from nos.engine.tasks.base import check_positive_int
from nos.engine.tasks.digits import digits
from nos.engine.tasks.mlp import MLP, check_hidden_sizes
from nos.limits import MAX_SEED

NUM_FEATURES, NUM_CLASSES = 64, 10


class MLPDigits(MLP):
    """logits = W_L relu(... relu(W_1 x + b_1) ...) + b_L on 64 pixels -> 10 classes.

    Data: ``digits(split_seed)``, 1437 train / 360 validation. Parameters in
    Keras order [W1 (64, h1), b1 (h1,), ..., WL (h_last, 10), bL (10,)]; the
    default (32,) hidden layer gives P = 64*32 + 32 + 32*10 + 10 = 2410.
    Kernels start Glorot-uniform from the lane seed, biases at zero (Keras'
    Dense defaults). Loss: softmax cross-entropy on minibatches sampled with
    replacement (see ``SupervisedTask``). The network is `nos.engine.tasks.mlp.MLP`,
    its fast layout `nos.engine.layouts.mlp`'s.

    Arguments:
        hidden_sizes: widths of the hidden layers (default (32,)).
        batch_size: examples per lane and step (default 128).
        split_seed: seed of the stratified train/validation split (default 0).
    """

    kind = "mlp_digits"
    num_outputs = NUM_CLASSES

    def __init__(self, hidden_sizes=(32,), batch_size=128, split_seed=0):
        hidden = check_hidden_sizes(self.kind, hidden_sizes)
        split_seed = check_positive_int(self.kind, "split_seed", split_seed, minimum=0, maximum=MAX_SEED)
        super().__init__(digits(split_seed), (NUM_FEATURES, *hidden, NUM_CLASSES), batch_size)
        self.config = {"hidden_sizes": hidden, "batch_size": self.batch_size, "split_seed": split_seed}
        self.name = "mlp_digits_" + "x".join(map(str, self.widths)) + f"_b{self.batch_size}"
        if split_seed:
            self.name += f"_split{split_seed}"
