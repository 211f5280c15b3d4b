"""char_lm: an LSTM character-level language model on the bundled public-domain corpus."""

import hashlib
import math
import tomllib
from importlib import resources
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import nos
from nos.benchmark.deepobs import DEFAULT_STEPS, SUITES
from nos.engine.layouts import layout_for
from nos.engine.tasks import check_task, get_task
from nos.engine.tasks.corpus import ALPHABET, CORPUS_FILE, OTHER, corpus_split, decode, encode, normalise
from nos.search.config import ConfigError, from_dict
from nos.search.loop import _check_task, search

CORPUS_SHA256 = "ebeb2b8d5997f8e868dfced318ef67308ab84cf68a1404e7b5d419c478e55de9"
CORPUS_BYTES = 67_375
SMALL = {"embedding_dim": 4, "hidden_size": 6, "seq_len": 5, "batch_size": 3}


def corpus_text() -> str:
    return resources.files("nos.engine.tasks").joinpath("data", CORPUS_FILE).read_bytes().decode("ascii")


# --- the corpus --------------------------------------------------------------------------------

def test_the_corpus_file_is_pinned_and_installed_as_package_data():
    data = resources.files("nos.engine.tasks").joinpath("data", CORPUS_FILE).read_bytes()
    assert len(data) == CORPUS_BYTES and hashlib.sha256(data).hexdigest() == CORPUS_SHA256
    assert data.isascii() and b"\r" not in data and data.endswith(b"the bar.\n")
    assert data.count(b"\nby ") == 47  # the 47 texts, each headed "Title\nby Author"
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert "data/*.txt" in pyproject["tool"]["setuptools"]["package-data"]["nos.engine.tasks"]


def test_normalisation_is_a_fixed_small_alphabet():
    assert len(ALPHABET) == len(set(ALPHABET)) == 37 and OTHER in ALPHABET
    assert normalise('Tyger, "Burning"\r\nBright!\t1776 & (x)\r') == "tyger, 'burning'\nbright! #### # #x#\n"
    ids = encode("Call me Ishmael.")
    assert ids.dtype == np.int32 and decode(ids) == "call me ishmael."
    # independently of nos.engine.tasks.corpus: lowercase, " -> ', anything else outside the alphabet -> OTHER
    text = corpus_text().lower().replace('"', "'")
    expected = np.array([ALPHABET.index(c) if c in ALPHABET else ALPHABET.index(OTHER) for c in text])
    train, validation = corpus_split()
    np.testing.assert_array_equal(np.concatenate([train, validation]), expected)
    assert len(validation) == round(0.1 * len(expected)) == 6738
    assert decode(validation[:10]) == " nations.\n" and decode(validation[-9:]) == "the bar.\n"
    assert set(np.unique(validation)) <= set(np.unique(train))  # the unigram baseline below is finite


# --- the task ----------------------------------------------------------------------------------

def test_name_config_and_sizes():
    task = get_task("char_lm")
    assert task.name == "char_lm_lstm_e16_h48_t24_b32" and task.metric == "loss" and layout_for(task).batch_sharing
    v, d, h = 37, 16, 48
    assert task.param_shapes == ((v, d), (d, 4 * h), (h, 4 * h), (4 * h,), (h, v), (v,))
    assert task.num_params == v * d + d * 4 * h + h * 4 * h + 4 * h + h * v + v == 14885
    small = get_task("char_lm", **SMALL)
    assert small.name == "char_lm_lstm_e4_h6_t5_b3" and get_task(small.kind, **small.config).name == small.name
    _, validation = corpus_split()
    assert task.val_windows.shape == (25, (len(validation) - 1) // 24)


def test_check_task_passes_on_a_small_configuration():
    check_task(get_task("char_lm", **SMALL))  # the default configuration is checked in tests/test_tasks.py


def test_initialisation_is_keras_default():
    task = get_task("char_lm")
    h = task.hidden_size
    params = task.init_params(tf.constant([3, 4]))
    embedding, kernel, recurrent, bias, w_out, b_out = task.unflatten(params[0].numpy())
    assert 0.04 < np.abs(embedding).max() <= 0.05
    for weight in (kernel, w_out):
        limit = math.sqrt(6.0 / sum(weight.shape))
        assert 0.9 * limit < np.abs(weight).max() <= limit
    np.testing.assert_allclose(recurrent @ recurrent.T, np.eye(h), atol=2e-6)  # orthonormal rows, like Keras'
    np.testing.assert_array_equal(bias, np.repeat(np.float32([0, 1, 0, 0]), h))  # unit_forget_bias
    np.testing.assert_array_equal(b_out, 0.0)
    other = task.unflatten(params[1].numpy())[2]
    assert not np.allclose(other, recurrent) and abs(float(np.sum(other * recurrent))) < 5.0  # independent draws


def test_windows_come_from_the_training_text_by_seed_and_step():
    task = get_task("char_lm")
    train = task.train_ids
    ids = task.windows(tf.constant(7), tf.constant([1, 2, 1])).numpy()  # [T + 1, K, B]
    assert ids.shape == (25, 3, 32)
    np.testing.assert_array_equal(ids[:, 0], ids[:, 2])
    assert not np.array_equal(ids[:, 0], ids[:, 1])
    assert not np.array_equal(task.windows(tf.constant(8), tf.constant([1])).numpy()[:, 0], ids[:, 0])
    text = decode(train)
    for b in range(32):
        assert decode(ids[:, 1, b]) in text
    np.testing.assert_array_equal(task.val_windows[:, 3], task.val_ids[72:97])  # window j covers x_{24j} .. x_{24j+24}


def test_loss_and_validation_match_the_keras_model():
    task = get_task("char_lm")
    params = task.init_params(tf.constant([0, 1]))
    params += 0.05 * tf.sin(tf.reshape(tf.range(2 * task.num_params, dtype=tf.float32), params.shape))
    model = task.keras_model()
    xent = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    metrics = task.validation(params)
    windows = task.windows(tf.constant(5), tf.constant([0, 1])).numpy()
    train = task.train_loss(params, tf.constant(5), tf.constant([0, 1]))
    shared = layout_for(task).loss(params, tf.constant(5), tf.constant([0, 0]), shared_batch=True)
    np.testing.assert_allclose(shared, task.train_loss(params, tf.constant(5), tf.constant([0, 0])), rtol=1e-5)
    for lane in range(2):
        model.set_weights(task.unflatten(params[lane].numpy()))
        val = task.val_windows.T  # [W, T + 1]
        expected = float(xent(val[:, 1:], model(val[:, :-1])))
        assert float(metrics["loss"][lane]) == pytest.approx(expected, rel=1e-5)
        assert float(metrics["perplexity"][lane]) == pytest.approx(math.exp(expected), rel=1e-5)
        batch = windows[:, lane].T
        assert float(train[lane]) == pytest.approx(float(xent(batch[:, 1:], model(batch[:, :-1]))), rel=1e-5)


def test_adam_beats_the_unigram_and_bigram_baselines_in_the_default_steps():
    """Validation perplexity below exp(H(train unigram) on the validation text), computed here."""
    train, validation = corpus_split()
    counts = np.bincount(train, minlength=len(ALPHABET)).astype(np.float64)
    unigram = -np.mean(np.log(counts[validation] / counts.sum()))  # cross-entropy, nats
    pairs = np.ones((len(ALPHABET), len(ALPHABET)))  # add-one bigram
    np.add.at(pairs, (train[:-1], train[1:]), 1.0)
    bigram = -np.mean(np.log((pairs / pairs.sum(axis=1, keepdims=True))[validation[:-1], validation[1:]]))
    assert math.exp(unigram) == pytest.approx(21.14, abs=0.01) and math.exp(bigram) == pytest.approx(11.66, abs=0.01)
    steps = DEFAULT_STEPS["char_lm"]
    result = nos.evaluate("adam", task="char_lm", learning_rates=[0.01, 0.03], steps=steps).results[0]
    assert result.status == "ok"
    perplexity = result.metric_at_best("perplexity")
    assert perplexity == pytest.approx(math.exp(result.score), rel=1e-5)
    assert perplexity < math.exp(bigram) < math.exp(unigram), (perplexity, math.exp(bigram), math.exp(unigram))


def test_it_is_in_the_all_suite():
    assert "char_lm" in SUITES["all"] and DEFAULT_STEPS["char_lm"] == 300


@pytest.mark.parametrize("config, piece", [
    ({"seq_len": 0}, "char_lm: seq_len must be a positive int, got 0"),
    ({"seq_len": 257}, "char_lm: seq_len = 257 is above the limit of 256"),
    ({"hidden_size": 0}, "char_lm: hidden_size must be a positive int, got 0"),
    ({"hidden_size": 2.5}, "char_lm: hidden_size must be a positive int, got 2.5"),
    ({"embedding_dim": True}, "char_lm: embedding_dim must be a positive int, got True"),
    ({"batch_size": 0}, "char_lm: batch_size must be a positive int, got 0"),
    ({"hidden_size": 500}, "char_lm: the configuration has 1,053,129 parameters, above the limit of 1,000,000"),
    ({"hidden": 8}, "unknown config key(s) hidden for task 'char_lm'"),
])
def test_bad_configs_are_one_line_errors(config, piece):
    with pytest.raises(ValueError) as info:
        get_task("char_lm", **config)
    assert piece in str(info.value) and "\n" not in str(info.value)


def test_a_search_trains_on_it_and_a_bad_config_stops_it(tmp_path):
    def config(task_config):
        return from_dict({
            "budget": 2, "batch_size": 2, "space": {"units": 1, "operands": ["g", "m", "sign(g)", "sign(m)"]},
            "reward": {"task": "char_lm", "task_config": task_config, "steps": 5, "learning_rates": [0.03],
                       "baseline": "sgd"},
            "controller": {"name": "random"},
        })

    good = config(SMALL)
    _check_task(good)
    assert get_task(good.reward.task, **good.reward.task_config).name == "char_lm_lstm_e4_h6_t5_b3"
    summary = search(good, tmp_path / "run", progress=False, log=lambda *_: None)
    assert (summary.samples, summary.rules_trained, summary.invalid, summary.failed) == (2, 2, 0, 0)
    with pytest.raises(ConfigError, match="seq_len = 300 is above the limit of 256") as info:
        search(config({**SMALL, "seq_len": 300}), tmp_path / "bad", progress=False, log=lambda *_: None)
    assert "\n" not in str(info.value)
