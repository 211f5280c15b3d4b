"""The paper's controller: an LSTM that writes a rule token by token, trained by policy gradient.

At step j = 0 … 5U−1 the LSTM reads the embedding of the previous token (a start token at
j = 0) and a dense layer gives logits over the whole vocabulary; logits of tokens illegal in
slot j are replaced by −1e9 (probability exactly 0 in float32), so the policy

    π(x) = ∏_j softmax(mask_j(ℓ_j))[x_j]

puts all its mass on legal programs. With `require_gradient`, mask_j also depends on the tokens
before j (`SearchSpace.gradient_masks`), in sampling and in log π alike, so that no program whose
output structurally ignores the gradient is drawn. Optional logit shaping as in NAS/ENAS:
ℓ ← ℓ / temperature, then ℓ ← c·tanh(ℓ) (`tanh_constant` c).

Training, per batch of rewards R_i (see `controllers.policy_gradient`):
  advantage A_i = R_i − b with b a moving average of past batch means,
  loss = REINFORCE or PPO surrogate − β·mean_i H(x_i) − λ·mean_k min(log π(e_k), log p_max),
  H the summed per-step entropies, e_1 … e_K the K best distinct programs rewarded so far
  (priority-queue training, Abolafia et al. 2018: the policy keeps the best rules it found
  likely, so it explores around them, as evolution does around its parents; an optional cap
  p_max stops the pull once an elite program is that likely),
  one Adam step (REINFORCE) or `ppo_epochs` passes over `ppo_minibatches` minibatches (PPO).
The rewards are what the controller is given: a search hands it novelty-shaped ones
(`controllers.novelty`), so a repeat earns 0 and never enters the elite above a new rule.

Defaults from the paper's experimental setup (Bello et al. 2017): one LSTM layer of 150 units,
weights uniform in [−0.08, 0.08], entropy weight 0.0015; biases are Keras' defaults (zeros, a
forget-gate bias of 1). The learning rate (1e-3) and baseline decay (0.9) are ours, chosen on
target mode so that a thousand samples move the policy (the paper drew far more samples); the
embedding width defaults to the hidden size, as in ENAS.

Sampling is one `tf.function` for a batch of n: a symbolic loop over the 5U steps, Gumbel-max
draws (argmax of logits − log(−log u), u ~ U(0, 1) from a `tf.random.Generator`, whose state
is checkpointed). Log-probabilities of given programs are one teacher-forced pass of
`keras.layers.RNN` over the same cell. Neither retraces for a new n.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from controllers.base import Controller, check_count, reward_stats
from controllers.policy_gradient import MovingAverageBaseline, ppo_loss, reinforce_loss
from search_space import Rule

MASKED_LOGIT = -1e9
ALGORITHMS = ("reinforce", "ppo")
CREDITS = ("all", "live")
ELITE_DISTINCT = ("program", "reward")
WEIGHTS = "weights"


@dataclasses.dataclass(frozen=True)
class RNNConfig:
    algorithm: str = "reinforce"
    """Policy-gradient algorithm: "reinforce" (moving-average baseline) or "ppo" (clipped)."""
    hidden_size: int = 150
    """Units of the single LSTM layer (paper: 150)."""
    embedding_size: int | None = None
    """Width of the token embedding fed to the LSTM; None means `hidden_size`."""
    init_scale: float = 0.08
    """Weights and embeddings start uniform in [−init_scale, init_scale] (paper: 0.08)."""
    learning_rate: float = 1e-3
    """Adam's learning rate for the controller."""
    entropy_weight: float = 0.0015
    """β of the entropy bonus −β·H (paper: 0.0015)."""
    baseline_decay: float = 0.9
    """Decay of the moving-average reward baseline, applied once per update."""
    normalize_advantages: bool = False
    """Divide the batch's advantages by their standard deviation (after subtracting b)."""
    temperature: float | None = None
    """Divide logits by this before the softmax (ENAS: 5.0); None: no temperature."""
    tanh_constant: float | None = None
    """Squash logits to c·tanh(ℓ) (ENAS: 2.5); None: no squashing."""
    max_grad_norm: float | None = None
    """Clip the gradient to this global norm; None: no clipping."""
    ppo_clip: float = 0.2
    """ε of PPO's clipped ratio."""
    ppo_epochs: int = 4
    """Passes over each batch (PPO only)."""
    ppo_minibatches: int = 1
    """Minibatches per pass, shuffled each pass (PPO only)."""
    elite_size: int = 10
    """K of priority-queue training (Abolafia et al. 2018): the K best distinct programs of
    positive reward seen so far, by the reward the controller learned from, are kept; 0 turns
    it off (the paper's controller). Default by measurement: README, "Does a search rediscover
    PowerSign and AddSign?"."""
    elite_weight: float = 1.0
    """λ of the elite term −λ·mean_k min(log π(e_k), log p_max) added to the loss."""
    restart_entropy: float = 0.0
    """Restart when the policy has collapsed: after an update whose mean sampled entropy (nats,
    summed over the 5U tokens) is below this, the weights are drawn anew (seed + restart count),
    Adam's state, the baseline and the elite are reset; 0 never restarts. A collapsed policy
    only replays rules it has seen, which teach nothing under novelty shaping; restarting at
    6 or 3.5 nats measured no better (README), so it is off by default."""
    credit: str = "live"
    """Which tokens the loss counts: "all" (the paper), or "live": only the slots the rule depends
    on (`SearchSpace.live_slots`), for log π and the entropy alike, so that neither credit nor
    entropy goes to tokens of dead units that cannot change the rule. Default by measurement
    (with `elite_distinct = "reward"`): README, "Does a search rediscover PowerSign and AddSign?"."""
    elite_distinct: str = "reward"
    """What makes elite members distinct: "program" (PQT), or "reward": programs of equal reward
    (rounded to 9 digits) are taken for one rule, so functional duplicates (`sign(g) + sign(m)`
    and ten rewrites of it) hold one slot and cannot all pull the policy onto one rule."""
    elite_max_prob: float = 1.0
    """p_max: an elite program as likely as this is pulled no further, against a policy that
    collapses onto replaying its elite (1: no cap; 0.05 measured no better, README)."""
    require_gradient: bool = False
    """Mask, in sampling and in log π alike, the last unit's tokens that would leave the rule
    without a gradient dependence (`SearchSpace.gradient_masks`: invalid-action masking, so the
    policy gradient stays that of the masked policy). Off: the paper's controller, which samples
    such rules and learns from their reward of 0."""

    def __post_init__(self):
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"rnn: algorithm must be one of {', '.join(ALGORITHMS)}, got {self.algorithm!r}")
        if self.elite_distinct not in ELITE_DISTINCT:
            raise ValueError(f"rnn: elite_distinct must be one of {', '.join(ELITE_DISTINCT)}, got {self.elite_distinct!r}")
        if self.credit not in CREDITS:
            raise ValueError(f"rnn: credit must be one of {', '.join(CREDITS)}, got {self.credit!r}")
        _check("elite_size", self.elite_size, int, lambda v: v >= 0, "an int >= 0")
        _check("elite_weight", self.elite_weight, float, lambda v: v >= 0, "a number >= 0")
        _check("restart_entropy", self.restart_entropy, float, lambda v: v >= 0, "a number >= 0")
        _check("elite_max_prob", self.elite_max_prob, float, lambda v: 0 < v <= 1, "a number in (0, 1]")
        for key in ("hidden_size", "ppo_epochs", "ppo_minibatches"):
            _check(key, getattr(self, key), int, lambda v: v >= 1, "a positive int")
        for key in ("init_scale", "learning_rate", "ppo_clip"):
            _check(key, getattr(self, key), float, lambda v: v > 0, "a positive number")
        _check("entropy_weight", self.entropy_weight, float, lambda v: v >= 0, "a number >= 0")
        _check("baseline_decay", self.baseline_decay, float, lambda v: 0 <= v < 1, "a number in [0, 1)")
        for key in ("embedding_size",):
            if getattr(self, key) is not None:
                _check(key, getattr(self, key), int, lambda v: v >= 1, "a positive int or None")
        for key in ("temperature", "tanh_constant", "max_grad_norm"):
            if getattr(self, key) is not None:
                _check(key, getattr(self, key), float, lambda v: v > 0, "a positive number or None")


def _check(key, value, kind, ok, wanted):
    numeric = isinstance(value, (int, np.integer)) if kind is int else isinstance(value, (int, float))
    if isinstance(value, bool) or not numeric or not ok(value):
        raise ValueError(f"rnn: {key} must be {wanted}, got {value!r}")


class LSTMPolicy:
    """The autoregressive policy over programs of one space: layers, masks and sampler."""

    def __init__(self, masks: np.ndarray, config: RNNConfig, seed: int, narrow=None):
        self.length, self.vocabulary_size = masks.shape
        self.start_token = self.vocabulary_size
        self.config = config
        self.masks = tf.constant(masks, tf.bool)
        self.narrow = narrow  # programs [n, 5U] -> bool [n, 5U, V]: masks narrowed per program, or None
        seeds = np.random.SeedSequence(seed).generate_state(5) % (2**31 - 1)
        uniform = lambda k: keras.initializers.RandomUniform(
            -config.init_scale, config.init_scale, seed=int(seeds[k])
        )
        embedding_size = config.embedding_size or config.hidden_size
        self.embedding = keras.layers.Embedding(
            self.vocabulary_size + 1, embedding_size, embeddings_initializer=uniform(0)
        )
        self.cell = keras.layers.LSTMCell(
            config.hidden_size, kernel_initializer=uniform(1), recurrent_initializer=uniform(2)
        )
        self.head = keras.layers.Dense(self.vocabulary_size, kernel_initializer=uniform(3))
        self.sequence = keras.layers.RNN(self.cell, return_sequences=True)
        self.embedding.build((None,))
        self.cell.build((None, embedding_size))
        self.head.build((None, config.hidden_size))
        self.sequence.build((None, self.length, embedding_size))
        self.generator = tf.random.Generator.from_seed(int(seeds[4]))
        self.sample = tf.function(self._sample, input_signature=[tf.TensorSpec([], tf.int32)])
        self.log_probs = tf.function(self._log_probs, input_signature=[
            tf.TensorSpec([None, self.length], tf.int32), tf.TensorSpec([None, self.length], tf.float32)])

    @property
    def trainable_variables(self) -> list:
        return [
            *self.embedding.trainable_variables,
            *self.cell.trainable_variables,
            *self.head.trainable_variables,
        ]

    def _initial_state(self, n):
        zeros = tf.zeros([n, self.config.hidden_size])
        return [zeros, zeros]

    def _masked_logits(self, outputs, masks) -> tf.Tensor:
        """Logits of the head on LSTM outputs, shaped, with illegal tokens set to −1e9."""
        logits = self.head(outputs)
        if self.config.temperature is not None:
            logits = logits / self.config.temperature
        if self.config.tanh_constant is not None:
            logits = self.config.tanh_constant * tf.tanh(logits)
        return tf.where(masks, logits, MASKED_LOGIT)

    def _sample(self, n):
        """n programs [n, 5U] int32 drawn from π, and their log-probabilities [n]."""
        state = self._initial_state(n)
        previous = tf.fill([n], self.start_token)
        tokens = tf.TensorArray(tf.int32, size=self.length)
        log_prob = tf.zeros([n])
        tiny = np.finfo(np.float32).tiny
        drawn = tf.zeros([n, self.length], tf.int32)  # the tokens so far; 0 after them
        for step in tf.range(self.length):
            output, state = self.cell(self.embedding(previous), state)
            logits = self._masked_logits(output, self._step_masks(drawn, step))
            u = self.generator.uniform([n, self.vocabulary_size], minval=tiny, maxval=1.0)
            previous = tf.argmax(logits - tf.math.log(-tf.math.log(u)), axis=-1, output_type=tf.int32)
            log_prob += tf.gather(tf.nn.log_softmax(logits), previous, axis=1, batch_dims=1)
            tokens = tokens.write(step, previous)
            drawn = tf.where(tf.range(self.length)[None, :] == step, previous[:, None], drawn)
        return tf.transpose(tokens.stack()), log_prob

    def _masks_of(self, programs) -> tf.Tensor:
        """bool [5U, V] (no narrowing) or [n, 5U, V]: the masks of each slot of `programs`."""
        if self.narrow is None:
            return self.masks
        masks = tf.numpy_function(self.narrow, [programs], tf.bool, stateful=False)
        return tf.ensure_shape(masks, [None, self.length, self.vocabulary_size])

    def _step_masks(self, drawn, step) -> tf.Tensor:
        masks = self._masks_of(drawn)
        return tf.gather(masks, step) if self.narrow is None else masks[:, step]

    def _log_probs(self, tokens, slots):
        """Teacher forcing: log π(x) [n] and the summed per-step entropies [n] of programs x,
        both summed over the slots where `slots` [n, 5U] is 1."""
        n = tf.shape(tokens)[0]
        previous = tf.concat([tf.fill([n, 1], self.start_token), tokens[:, :-1]], axis=1)
        outputs = self.sequence(self.embedding(previous))
        log_softmax = tf.nn.log_softmax(self._masked_logits(outputs, self._masks_of(tokens)))
        log_prob = tf.gather(log_softmax, tokens, axis=2, batch_dims=2)
        entropy = -tf.reduce_sum(tf.exp(log_softmax) * log_softmax, axis=-1)
        return tf.reduce_sum(log_prob * slots, axis=1), tf.reduce_sum(entropy * slots, axis=1)


class RNNController(Controller):
    """LSTM policy over the space's programs, trained by REINFORCE or PPO with Adam."""

    name = "rnn"
    Config = RNNConfig

    def __init__(self, space, seed: int = 0, **config):
        super().__init__(space, seed, **config)
        self.policy = LSTMPolicy(space.masks, self.config, self.seed, self._narrow())
        self.optimizer = keras.optimizers.Adam(learning_rate=self.config.learning_rate)
        self.optimizer.build(self.policy.trainable_variables)
        self.baseline = MovingAverageBaseline(self.config.baseline_decay)
        self.updates = 0
        self.restarts = 0
        self.elite: list[tuple[float, tuple[int, ...]]] = []
        self.entropy_weight = tf.Variable(self.config.entropy_weight, dtype=tf.float32, trainable=False)
        spec = [
            tf.TensorSpec([None, space.length], tf.int32),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None, space.length], tf.int32),
            tf.TensorSpec([None, space.length], tf.float32),
            tf.TensorSpec([None, space.length], tf.float32),
        ]
        self._train_step = tf.function(self._step, input_signature=spec)
        self._checkpoint = tf.train.Checkpoint(
            embedding=self.policy.embedding,
            cell=self.policy.cell,
            head=self.policy.head,
            optimizer=self.optimizer,
            generator=self.policy.generator,
        )

    # --- sample ------------------------------------------------------------------------------

    def propose(self, n: int) -> list[Rule]:
        n = check_count(n)
        if n == 0:
            return []
        tokens, _ = self.policy.sample(tf.constant(n, tf.int32))
        return self.decode(tokens.numpy())

    def log_probs(self, rules: Sequence[Rule]) -> np.ndarray:
        """log π of each rule's program (float32), by teacher forcing, summed over the slots the
        loss credits: every token, or with `credit = "live"` the tokens the rule depends on."""
        tokens = np.array([self.space.encode(r) for r in rules], dtype=np.int32).reshape(
            -1, self.space.length
        )
        return self.policy.log_probs(tf.constant(tokens), self._credited(tokens))[0].numpy()

    # --- learn ---------------------------------------------------------------------------------

    def _step(self, tokens, advantages, old_log_probs, elite, slots, elite_slots):
        """One optimizer step on the configured loss; returns its statistics."""
        config = self.config
        variables = self.policy.trainable_variables
        with tf.GradientTape() as tape:
            log_probs, entropy = self.policy.log_probs(tokens, slots)
            if config.algorithm == "ppo":
                pg_loss, approx_kl, clip_fraction = ppo_loss(
                    log_probs, old_log_probs, advantages, config.ppo_clip
                )
            else:
                pg_loss = reinforce_loss(log_probs, advantages)
            entropy_loss = -self.entropy_weight * tf.reduce_mean(entropy)
            elite_log_probs = tf.minimum(self.policy.log_probs(elite, elite_slots)[0], np.log(config.elite_max_prob))
            elite_loss = -config.elite_weight * tf.math.divide_no_nan(
                tf.reduce_sum(elite_log_probs), tf.cast(tf.size(elite_log_probs), tf.float32)
            )
            loss = pg_loss + entropy_loss + elite_loss
        gradients = tape.gradient(loss, variables)
        if config.max_grad_norm is not None:
            gradients, grad_norm = tf.clip_by_global_norm(gradients, config.max_grad_norm)
        else:
            grad_norm = tf.linalg.global_norm(gradients)
        self.optimizer.apply_gradients(zip(gradients, variables))
        stats = {
            "losses/pg_loss": pg_loss,
            "losses/entropy_loss": entropy_loss,
            "losses/elite_loss": elite_loss,
            "losses/loss": loss,
            "controller/entropy": tf.reduce_mean(entropy),
            "controller/log_prob": tf.reduce_mean(log_probs),
            "controller/grad_norm": grad_norm,
        }
        if config.algorithm == "ppo":
            stats.update({"losses/approx_kl": approx_kl, "losses/clip_fraction": clip_fraction})
        return stats

    def update(self, rules: Sequence[Rule], rewards: Sequence[float]) -> dict[str, float]:
        tokens, rewards = self.batch(rules, rewards)
        if len(rewards) == 0:
            return {}
        # advantage: reward minus the moving-average baseline of earlier batches
        advantages = self.baseline.advantages(rewards)
        if self.config.normalize_advantages:
            advantages = advantages / (advantages.std() + 1e-8)
        self._remember_elite(tokens, rewards)
        elite = np.array([t for _, t in self.elite], np.int32).reshape(-1, self.space.length)
        slots, elite_slots = self._credited(tokens), self._credited(elite)
        elite = tf.constant(elite)
        tokens = tf.constant(tokens, tf.int32)
        advantages = tf.constant(advantages, tf.float32)
        if self.config.algorithm == "reinforce":
            stats = self._train_step(tokens, advantages, tf.zeros_like(advantages), elite, slots, elite_slots)
        else:
            # PPO: ratios are taken against the policy that sampled the batch (the current one)
            old_log_probs = self.policy.log_probs(tokens, slots)[0]
            parts = min(self.config.ppo_minibatches, len(rewards))
            for _ in range(self.config.ppo_epochs):
                for part in np.array_split(self.rng.permutation(len(rewards)), parts):
                    stats = self._train_step(
                        tf.gather(tokens, part), tf.gather(advantages, part), tf.gather(old_log_probs, part), elite,
                        tf.gather(slots, part), elite_slots,
                    )
        stats = {key: float(value) for key, value in stats.items()}
        stats["controller/baseline"] = float(
            self.baseline.value if self.baseline.value is not None else rewards.mean()
        )
        self.baseline.update(rewards)
        self.updates += 1
        if stats["controller/entropy"] < self.config.restart_entropy:
            self.restart()
        stats["controller/restarts"] = float(self.restarts)
        return {**stats, **reward_stats(rewards)}

    def _narrow(self):
        return self.space.gradient_masks_of if self.config.require_gradient else None

    def _credited(self, programs: np.ndarray) -> tf.Tensor:
        """float32 [n, 5U]: the slots whose tokens the loss counts (all, or the live ones)."""
        if self.config.credit == "live":
            return tf.constant(self.space.live_slots(programs), tf.float32)
        return tf.ones(programs.shape, tf.float32)

    def restart(self) -> None:
        """Fresh weights (seeded by seed and restart count), Adam's state, baseline and elite."""
        self.restarts += 1
        fresh = LSTMPolicy(self.space.masks, self.config, self.seed + 100_003 * self.restarts, self._narrow())
        for variable, value in zip(self.policy.trainable_variables, fresh.trainable_variables):
            variable.assign(value)
        for variable in self.optimizer.variables:
            variable.assign(tf.zeros_like(variable))
        self.baseline.value = None
        self.elite = []

    def _remember_elite(self, tokens: np.ndarray, rewards: np.ndarray) -> None:
        """Keep the `elite_size` best distinct programs of positive reward (earliest on ties);
        with `elite_distinct = "reward"` also of distinct rewards."""
        if self.config.elite_size == 0:
            return
        by_reward = self.config.elite_distinct == "reward"
        known = {round(reward, 9) if by_reward else program for reward, program in self.elite}
        for row, reward in zip(tokens, rewards):
            program = tuple(int(t) for t in row)
            key = round(float(reward), 9) if by_reward else program
            if reward > 0 and key not in known:
                known.add(key)
                self.elite.append((float(reward), program))
        self.elite.sort(key=lambda item: -item[0])  # stable: earlier programs first on ties
        del self.elite[self.config.elite_size :]

    # --- persist -------------------------------------------------------------------------------

    def state(self) -> dict:
        return {"baseline": self.baseline.value, "updates": self.updates, "restarts": self.restarts,
                "elite": [[reward, list(program)] for reward, program in self.elite]}

    def load_state(self, state: dict) -> None:
        self.baseline.value = state["baseline"]
        self.updates = int(state["updates"])
        self.restarts = int(state.get("restarts", 0))
        self.elite = [(float(reward), tuple(program)) for reward, program in state.get("elite", [])]

    def save_weights(self, directory: Path) -> None:
        self._checkpoint.write(str(directory / WEIGHTS))

    def restore_weights(self, directory: Path) -> None:
        self._checkpoint.read(str(directory / WEIGHTS)).assert_consumed()
