"""Low-rank matrix completion: recover a fixed random rank-r matrix from some of its entries."""

import math
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from nos.engine.tasks import rng
from nos.engine.tasks.base import Task, check_param_count, check_positive_int
from nos.limits import MAX_DATA_VALUES, MAX_SEED

INIT_SCALE = 0.3
"""Standard deviation of every entry of U and V at initialisation."""


class Entries(NamedTuple):
    """A fixed matrix and the split of its entries: the observed ones' int32 row and column
    indices and float32 values, and the held-out ones' flat indices."""

    matrix: np.ndarray
    """float32 [m, n], the whole matrix M."""
    rows: np.ndarray
    cols: np.ndarray
    values: np.ndarray
    held_out: np.ndarray
    """int32 flat indices i * n + j of the entries not observed (the validation set)."""


def low_rank_entries(num_rows, num_cols, rank, num_observed, data_seed) -> Entries:
    """M = A B^T / sqrt(r), A [m, r] and B [n, r] with i.i.d. N(0, 1) entries, so Var(M_ij) = 1.

    The first ``num_observed`` entries of a random permutation of the m n positions are the
    observed ones (training); the rest are held out. Everything comes from the numpy generator
    ``default_rng(data_seed)``.
    """
    gen = np.random.default_rng(data_seed)
    a = gen.standard_normal((num_rows, rank))
    b = gen.standard_normal((num_cols, rank))
    matrix = (a @ b.T / math.sqrt(rank)).astype(np.float32)
    order = gen.permutation(num_rows * num_cols)
    observed, held_out = order[:num_observed], order[num_observed:]
    rows, cols = np.divmod(observed, num_cols)
    arrays = [matrix, rows.astype(np.int32), cols.astype(np.int32), matrix.ravel()[observed], held_out.astype(np.int32)]
    for array in arrays:
        array.setflags(write=False)
    return Entries(*arrays)


class MatrixFactorization(Task):
    """Fit U V^T to the observed entries of a fixed rank-r matrix M (m x n), U [m, r], V [n, r].

    Data: ``low_rank_entries``: M = A B^T / sqrt(r) with Gaussian factors (unit-variance entries),
    of which ``num_observed`` random entries Omega are observed. Parameters [U (m, r), V (n, r)],
    P = (m + n) r, every entry N(0, 0.3^2) from the lane seed (``rng.normal``). At step s lane k
    draws B observed entries (i_b, j_b) uniformly with replacement (indices as
    ``SupervisedTask``'s minibatches: ``rng.indices`` of ``key(seeds[k], STREAM_BATCH, s)``) and
    its loss is their mean squared error

        L = (1 / B) sum_b (u_{i_b} . v_{j_b} - M_{i_b j_b})^2.

    ``validation`` returns "loss", the mean squared error of U V^T over the held-out entries
    (how well M is recovered where it was not seen; predicting 0 scores about 1), and
    "observed_loss", the same over all of Omega (how well the training entries are fitted).
    The problem is not a neural network: non-convex, with the symmetry U V^T = (U Q)(V Q^-T)^T,
    and well posed when |Omega| exceeds the r (m + n - r) degrees of freedom.

    Arguments:
        num_rows, num_cols: m, n (default 50, 50).
        rank: r, the rank of M and of the factorisation (default 3).
        num_observed: |Omega|, observed entries, fewer than m n (default 1000 of 2500).
        batch_size: B, entries per lane and step (default 64).
        data_seed: seed of M and Omega (default 0).
    """

    kind = "matrix_factorization"

    def __init__(self, num_rows=50, num_cols=50, rank=3, num_observed=1000, batch_size=64, data_seed=0):
        m = check_positive_int(self.kind, "num_rows", num_rows)
        n = check_positive_int(self.kind, "num_cols", num_cols)
        if m * n > MAX_DATA_VALUES:
            raise ValueError(f"{self.kind}: num_rows * num_cols = {m * n:,} entries, above the limit of {MAX_DATA_VALUES:,}")
        r = check_positive_int(self.kind, "rank", rank, maximum=min(m, n))
        if m * n < 2:
            raise ValueError(f"{self.kind}: num_rows * num_cols must be at least 2 (an entry to observe, one to hold out)")
        observed = check_positive_int(self.kind, "num_observed", num_observed, maximum=m * n - 1)
        self.batch_size = check_positive_int(self.kind, "batch_size", batch_size)
        data_seed = check_positive_int(self.kind, "data_seed", data_seed, minimum=0, maximum=MAX_SEED)
        self.param_shapes = ((m, r), (n, r))
        check_param_count(self.kind, self.param_shapes)
        self.shape, self.rank = (m, n), r
        self.config = {"num_rows": m, "num_cols": n, "rank": r, "num_observed": observed,
                       "batch_size": self.batch_size, "data_seed": data_seed}
        self.name = f"matrix_factorization_{m}x{n}_r{r}_obs{observed}_b{self.batch_size}"
        if data_seed:
            self.name += f"_data{data_seed}"
        self.entries = low_rank_entries(m, n, r, observed, data_seed)
        self._rows = tf.constant(self.entries.rows)
        self._cols = tf.constant(self.entries.cols)
        self._values = tf.constant(self.entries.values)
        self._observed_flat = tf.constant(self.entries.rows * n + self.entries.cols)
        self._held_out = tf.constant(self.entries.held_out)
        self._matrix = tf.constant(self.entries.matrix.ravel())

    def init_params(self, seeds):
        return INIT_SCALE * rng.normal(rng.lane_keys(seeds, rng.STREAM_INIT), self.num_params)

    def minibatch_indices(self, step, seeds) -> tf.Tensor:
        """int32 [K, batch_size]: positions in the observed list of each lane's entries at ``step``."""
        keys = rng.lane_keys(seeds, rng.STREAM_BATCH, step)
        return rng.indices(keys, self.batch_size, self.entries.values.shape[0])

    def train_loss(self, params, step, seeds):
        u, v = self.split_params(params)
        index = self.minibatch_indices(step, seeds)
        u_rows = tf.gather(u, tf.gather(self._rows, index), batch_dims=1)  # [K, B, r]
        v_rows = tf.gather(v, tf.gather(self._cols, index), batch_dims=1)
        predicted = tf.reduce_sum(u_rows * v_rows, axis=-1)
        return tf.reduce_mean(tf.square(predicted - tf.gather(self._values, index)), axis=1)

    def validation(self, params):
        u, v = self.split_params(params)
        error = tf.reshape(tf.matmul(u, v, transpose_b=True), (tf.shape(params)[0], -1)) - self._matrix  # [K, m n]
        return {
            "loss": tf.reduce_mean(tf.square(tf.gather(error, self._held_out, axis=1)), axis=1),
            "observed_loss": tf.reduce_mean(tf.square(tf.gather(error, self._observed_flat, axis=1)), axis=1),
        }
