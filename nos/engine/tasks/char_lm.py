"""A character-level language model: an LSTM predicting the next character of public-domain English."""

import numpy as np
import tensorflow as tf

from nos.engine.tasks import rng
from nos.engine.tasks.base import Task, check_param_count, check_positive_int
from nos.engine.tasks.corpus import ALPHABET, corpus_split
from nos.engine.tasks.initializers import glorot_limits

EMBEDDING_LIMIT = 0.05
"""Keras' Embedding default: entries ~ U(-0.05, 0.05)."""

MAX_SEQ_LEN = 256
"""Longest window: the gradient keeps every step's cell activations (about K·B·T·8H floats), and
the 6,738 held-out characters should still make a fair number of validation windows (26 at 256)."""

STREAM_ORTHOGONAL = 1
"""Extra key word of the recurrent kernel's normal draws (``key(seed, STREAM_INIT, 1)``)."""


class CharLM(Task):
    """Embedding -> LSTM -> dense softmax over the next character, on `nos.engine.tasks.corpus`.

    Vocabulary V = 37 (`nos.engine.tasks.corpus.ALPHABET`). For a window of characters x_0 .. x_T, with
    e_t = E[x_t] (embedding E [V, d]) and h_0 = c_0 = 0, the LSTM (Keras' ``LSTM``: gate order
    i, f, c, o in the kernels' columns, sigmoid recurrent activation, tanh activation) reads

        z_t = e_t W + h_{t-1} U + b                  W [d, 4H], U [H, 4H], b [4H]
        i_t = sigmoid(z_t^i)   f_t = sigmoid(z_t^f)   g_t = tanh(z_t^c)   o_t = sigmoid(z_t^o)
        c_t = f_t * c_{t-1} + i_t * g_t
        h_t = o_t * tanh(c_t)
        y_t = h_t W_o + b_o                          logits [V], W_o [H, V], b_o [V]

    for t = 1 .. T (x_{t-1} in, x_t predicted), and the loss of a window is the mean next-character
    cross-entropy in nats, L = (1/T) sum_t (log sum_v exp(y_t[v]) - y_t[x_t]). The training loss of
    a lane is L averaged over B windows; ``validation`` gives "loss", L averaged over the fixed
    validation windows, and "perplexity" = exp(loss) (a uniform guess scores V = 37; the
    training text's character frequencies score 21.1 on the validation text, its character pairs 11.7).

    Parameters in Keras order [E (V, d), W (d, 4H), U (H, 4H), b (4H,), W_o (H, V), b_o (V,)], so
    ``keras_model()`` (Embedding, LSTM(return_sequences=True), Dense) with ``set_weights(unflatten(row))``
    computes the same logits. They start as Keras' defaults, drawn from the lane seed: E ~ U(-0.05,
    0.05); W and W_o Glorot-uniform; U orthogonal (the rows of a [H, 4H] normal matrix, Gram-Schmidt
    orthonormalised, which is what Keras' QR with its sign fix makes of the same draws); b zero but 1 in the
    forget gate's block (``unit_forget_bias``); b_o zero. The normals are `rng.normal` (Irwin-Hall,
    12 terms) and the orthonormalisation uses only products and sums, so a lane's row depends on
    its seed alone.

    Data: at step s lane k reads B windows of T + 1 characters of the training text starting at
    positions drawn uniformly with replacement, ``rng.indices(key(seeds[k], STREAM_BATCH, s), B,
    N_train - T)``, as `SupervisedTask` draws its minibatches, so lanes that share a seed share
    their windows (`nos.engine.layouts.char_lm` gathers them once for such lanes). Validation: the held-out
    text cut into consecutive windows x_{jT} .. x_{jT+T}, j = 0 .. (N_val - 1) // T - 1, each
    started from a zero state, so every held-out character but the first is predicted once, with
    0 .. T - 1 characters of context.

    Computation, batched over lanes: the embedding is folded into the input kernel, one [K, V, 4H]
    table T_k = E_k W_k + b_k per lane (e_t W + b is row x_t of it, a gather); the T cells run in a
    ``tf.while_loop``, each a batched [K, N, H] x [K, H, 4H] matmul, with the step's logits and
    cross-entropy inside the loop, so ``validation`` (forward only) holds no [K, N, T, ...] tensor.
    (The same cells unrolled by a Python loop take XLA on CPU several times longer to compile: 20 s
    rather than 3 s for ``check_task``'s two compilations of the training path at T = 24.)

    Arguments:
        embedding_dim: d (default 16).
        hidden_size: H (default 48).
        seq_len: T, characters predicted per window (default 24, at most 256).
        batch_size: B, windows per lane and step (default 32).
    """

    kind = "char_lm"
    metric = "loss"

    def __init__(self, embedding_dim=16, hidden_size=48, seq_len=24, batch_size=32):
        self.embedding_dim = check_positive_int(self.kind, "embedding_dim", embedding_dim)
        self.hidden_size = check_positive_int(self.kind, "hidden_size", hidden_size)
        self.seq_len = check_positive_int(self.kind, "seq_len", seq_len, maximum=MAX_SEQ_LEN)
        self.batch_size = check_positive_int(self.kind, "batch_size", batch_size)
        v, d, h, t = len(ALPHABET), self.embedding_dim, self.hidden_size, self.seq_len
        self.vocab_size = v
        self.param_shapes = ((v, d), (d, 4 * h), (h, 4 * h), (4 * h,), (h, v), (v,))
        check_param_count(self.kind, self.param_shapes)
        self.config = {"embedding_dim": d, "hidden_size": h, "seq_len": t, "batch_size": self.batch_size}
        self.name = f"char_lm_lstm_e{d}_h{h}_t{t}_b{self.batch_size}"
        train, validation = corpus_split()
        self.train_ids, self.val_ids = train, validation
        self._train = tf.constant(train)
        windows = (len(validation) - 1) // t
        # [T + 1, W]: column j is x_{jT} .. x_{jT+T}
        self.val_windows = validation[np.arange(t + 1)[:, None] + t * np.arange(windows)[None, :]]
        self.val_windows.setflags(write=False)
        self._val_windows = tf.constant(self.val_windows)
        limits = glorot_limits(self.param_shapes)
        sizes = np.cumsum((0,) + self.param_sizes)
        limits[:sizes[1]] = EMBEDDING_LIMIT
        limits[sizes[2]:sizes[3]] = 0.0  # U is drawn orthogonal, not uniform
        offsets = np.zeros(self.num_params, np.float32)
        offsets[sizes[3] + h:sizes[3] + 2 * h] = 1.0  # unit_forget_bias
        self._limits, self._offsets = tf.constant(limits), tf.constant(offsets)
        self._recurrent = (int(sizes[2]), int(sizes[3]))

    def init_params(self, seeds):
        h = self.hidden_size
        keys = rng.lane_keys(seeds, rng.STREAM_INIT)
        uniform = (2.0 * rng.uniform(keys, self.num_params) - 1.0) * self._limits
        normal = rng.normal(rng.lane_keys(seeds, rng.STREAM_INIT, STREAM_ORTHOGONAL), h * 4 * h)
        recurrent = tf.reshape(orthonormal_rows(tf.reshape(normal, (-1, h, 4 * h))), (-1, h * 4 * h))
        start, end = self._recurrent
        return tf.concat([uniform[:, :start], recurrent, uniform[:, end:]], axis=1) + self._offsets

    def windows(self, step, seeds) -> tf.Tensor:
        """int32 [T + 1, K, B]: lane k's B training windows at ``step``, time-major ([:, k, b] is one)."""
        keys = rng.lane_keys(seeds, rng.STREAM_BATCH, step)
        starts = rng.indices(keys, self.batch_size, len(self.train_ids) - self.seq_len)
        return tf.gather(self._train, starts[None, :, :] + tf.range(self.seq_len + 1)[:, None, None])

    def train_loss(self, params, step, seeds):
        return self.window_losses(params, self.windows(step, seeds))

    def validation(self, params):
        loss = self.window_losses(params, self._val_windows)
        return {"loss": loss, "perplexity": tf.exp(loss)}

    def window_losses(self, params, ids) -> tf.Tensor:
        """float32 [K]: mean next-character cross-entropy of time-major windows, per lane ids [T + 1, K, N]
        or shared by all lanes [T + 1, N] (see the class docstring)."""
        embedding, kernel, recurrent, bias, w_out, b_out = self.split_params(params)
        table = tf.matmul(embedding, kernel) + bias[:, None, :]  # [K, V, 4H]: row v is E[v] W + b
        shared = ids.shape.rank == 2
        lanes = tf.shape(params)[0]
        count = tf.shape(ids)[-1]

        def cell(t, h, c, total):
            if shared:
                z = tf.gather(table, ids[t], axis=1)
                target = tf.broadcast_to(ids[t + 1], [lanes, count])
            else:
                z = tf.gather(table, ids[t], axis=1, batch_dims=1)
                target = ids[t + 1]
            z += tf.matmul(h, recurrent)
            i, f, g, o = tf.split(z, 4, axis=-1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            h = tf.sigmoid(o) * tf.tanh(c)
            logits = tf.matmul(h, w_out) + b_out[:, None, :]
            loss = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=logits)
            return t + 1, h, c, total + tf.reduce_mean(loss, axis=1)

        zeros = tf.zeros(tf.stack([lanes, count, self.hidden_size]), params.dtype)
        start = (tf.constant(0), zeros, zeros, tf.zeros([lanes]))
        steps = self.seq_len
        _, _, _, total = tf.while_loop(lambda t, *_: t < steps, cell, start, maximum_iterations=steps)
        return total / steps

    def keras_model(self):
        import keras

        return keras.Sequential([
            keras.Input((self.seq_len,), dtype="int32"),
            keras.layers.Embedding(self.vocab_size, self.embedding_dim),
            keras.layers.LSTM(self.hidden_size, return_sequences=True),
            keras.layers.Dense(self.vocab_size),
        ], name=self.name)


def orthonormal_rows(x) -> tf.Tensor:
    """[K, n, m] with n <= m -> [K, n, m]: each lane's rows Gram-Schmidt orthonormalised, in order.

    Row j is x_j minus its projections on the rows q_0 .. q_{j-1} already made (subtracted twice,
    "CGS2", which keeps the rows orthogonal to float32 precision), divided by its norm; the result
    is Q^T of the QR decomposition x^T = Q R with diag(R) > 0. A ``tf.while_loop`` over j fills a
    zero [K, n, m] buffer row by row (rows not yet made are zero and project to nothing), so the
    graph does not grow with n; only products, sums, a square root and a division, lane by lane.
    """
    n = x.shape[1]

    def step(j, q):
        v = tf.gather(x, j, axis=1)  # [K, m]
        for _ in range(2):
            v -= tf.reduce_sum(tf.reduce_sum(q * v[:, None, :], axis=2, keepdims=True) * q, axis=1)
        v /= tf.sqrt(tf.reduce_sum(v * v, axis=1, keepdims=True))
        return j + 1, q + tf.one_hot(j, n, dtype=x.dtype)[None, :, None] * v[:, None, :]

    _, q = tf.while_loop(lambda j, _: j < n, step, (tf.constant(0), tf.zeros_like(x)), maximum_iterations=n)
    return q
