"""cifar10_conv and its loader, on tiny CIFAR-10 files written here in the binary version's format.

Nothing here needs (or looks for) the real data set: every file is generated in tmp_path.
"""

import re
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

import nos
from nos.cli import main
from nos.engine.tasks import cifar10, get_task
from nos.engine.tasks.cifar10_conv import VAL_BLOCK
from nos.search.config import ConfigError, from_dict
from nos.search.loop import search

TINY = {"filters": (4, 8), "batch_size": 8, "num_train": 80, "num_val": 30}
"""A CPU-second configuration: 80 training images from two files of 50, 30 validation images."""


def write_cifar10(root, counts=(50, 50), test_count=40, seed=0, learnable=False) -> dict:
    """Write root/cifar-10-batches-bin/data_batch_1..n.bin and test_batch.bin; return each file's records.

    A record is uint8 [3073]: the label, then 1024 red, 1024 green, 1024 blue bytes, row-major.
    Random labels and pixels; with ``learnable`` every pixel is noise / 16 + 24 * label (at most
    15 + 216), so an image's brightness tells its class.
    """
    generator = np.random.default_rng(seed)
    folder = Path(root) / cifar10.FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"data_batch_{i + 1}.bin" for i in range(len(counts))] + ["test_batch.bin"]
    written = {}
    for name, count in zip(names, [*counts, test_count]):
        labels = generator.integers(0, 10, count, dtype=np.uint8)
        pixels = generator.integers(0, 256, (count, 3072), dtype=np.uint8)
        if learnable:
            pixels = (pixels // 16 + 24 * labels[:, None]).astype(np.uint8)
        records = np.concatenate([labels[:, None], pixels], axis=1)
        records.tofile(folder / name)
        written[name] = records
    return written


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cifar")
    return root, write_cifar10(root, test_count=60)


# --- the loader --------------------------------------------------------------------------------

def test_a_record_is_a_label_then_red_green_blue_planes(tmp_path):
    record = np.zeros(3073, np.uint8)
    record[0] = 7
    rows, cols = np.divmod(np.arange(1024), 32)
    record[1:1025], record[1025:2049], record[2049:] = rows, cols + 100, 255  # R = row, G = 100 + column, B = 255
    path = tmp_path / "one.bin"
    np.concatenate([record, np.full(3073, 3, np.uint8)]).tofile(path)
    labels, images = cifar10.read_batch(path)
    assert labels.tolist() == [7, 3] and images.shape == (2, 32, 32, 3) and images.dtype == np.uint8
    r, c = np.meshgrid(np.arange(32), np.arange(32), indexing="ij")
    np.testing.assert_array_equal(images[0], np.stack([r, c + 100, np.full((32, 32), 255)], axis=-1))
    np.testing.assert_array_equal(images[1], 3)
    labels, images = cifar10.read_batch(path, limit=1)
    assert labels.tolist() == [7] and images.shape == (1, 32, 32, 3)


def test_the_loader_reads_labels_and_pixels_exactly(data):
    root, written = data
    x_train, y_train, x_val, y_val = cifar10.load_cifar10(root, 80, 30)
    train = np.concatenate([written["data_batch_1.bin"], written["data_batch_2.bin"][:30]])
    test = written["test_batch.bin"][:30]
    for images, labels, records in ((x_train, y_train, train), (x_val, y_val, test)):
        np.testing.assert_array_equal(labels, records[:, 0])
        for n, row, col, channel in [(0, 0, 0, 0), (5, 31, 0, 1), (29, 12, 31, 2), (17, 31, 31, 0)]:
            assert images[n, row, col, channel] == records[n, 1 + 1024 * channel + 32 * row + col]
        np.testing.assert_array_equal(images.transpose(0, 3, 1, 2).reshape(len(records), -1), records[:, 1:])


def test_the_task_standardizes_the_pixels_per_channel_with_training_statistics(data):
    root, written = data
    task = get_task("cifar10_conv", data_dir=str(root), **TINY)
    records = np.concatenate([written["data_batch_1.bin"], written["data_batch_2.bin"][:30]])
    raw = records[:, 1:].reshape(80, 3, 32, 32).transpose(0, 2, 3, 1) / 255.0
    raw_val = written["test_batch.bin"][:30, 1:].reshape(30, 3, 32, 32).transpose(0, 2, 3, 1) / 255.0
    mean, std = raw.mean(axis=(0, 1, 2)), raw.std(axis=(0, 1, 2))
    assert task.data.x_train.shape == (80, 32, 32, 3) and task.data.x_train.dtype == np.float32
    np.testing.assert_allclose(task.data.x_train, (raw - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(task.data.x_val, (raw_val - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(task.data.x_train.mean(axis=(0, 1, 2)), 0.0, atol=1e-5)
    np.testing.assert_allclose(task.data.x_train.std(axis=(0, 1, 2)), 1.0, rtol=1e-4)
    np.testing.assert_array_equal(task.data.y_train, records[:, 0])
    assert task.data.y_train.dtype == task.data.y_val.dtype == np.int32


# --- missing and corrupt data: one line naming the path ----------------------------------------

def one_line_error(call) -> str:
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message
    return message


def test_missing_data_names_the_expected_path_from_data_dir_env_or_default(tmp_path, monkeypatch):
    expected = tmp_path / "nowhere" / "cifar-10-batches-bin" / "data_batch_1.bin"
    message = one_line_error(lambda: get_task("cifar10_conv", data_dir=str(tmp_path / "nowhere")))
    assert f"expected {expected};" in message and "cifar10_conv: CIFAR-10 not found" in message
    assert "NOS_DATA_DIR" in message and "test_batch.bin" in message
    monkeypatch.setenv("NOS_DATA_DIR", str(tmp_path / "env"))
    assert f"expected {tmp_path / 'env' / 'cifar-10-batches-bin' / 'data_batch_1.bin'};" in one_line_error(
        lambda: get_task("cifar10_conv"))
    monkeypatch.delenv("NOS_DATA_DIR")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert f"expected {tmp_path / 'home' / '.nos' / 'data' / 'cifar-10-batches-bin' / 'data_batch_1.bin'};" in (
        one_line_error(lambda: get_task("cifar10_conv")))


def test_missing_files_and_too_few_records(tmp_path):
    write_cifar10(tmp_path, counts=(50,), test_count=20)
    folder = tmp_path / "cifar-10-batches-bin"
    assert f"expected {folder / 'data_batch_2.bin'};" in one_line_error(
        lambda: get_task("cifar10_conv", data_dir=str(tmp_path), **TINY))
    assert "num_val = 30 but" in one_line_error(
        lambda: get_task("cifar10_conv", data_dir=str(tmp_path), **{**TINY, "num_train": 50}))
    (folder / "test_batch.bin").unlink()
    assert f"expected {folder / 'test_batch.bin'};" in one_line_error(
        lambda: get_task("cifar10_conv", data_dir=str(tmp_path), **{**TINY, "num_train": 50}))


def test_corrupt_files_are_refused(tmp_path):
    written = write_cifar10(tmp_path, counts=(50, 50))
    path = tmp_path / "cifar-10-batches-bin" / "data_batch_2.bin"
    path.write_bytes(written["data_batch_2.bin"].tobytes()[:-1])
    message = one_line_error(lambda: get_task("cifar10_conv", data_dir=str(tmp_path), **TINY))
    assert str(path) in message and "153,649 bytes is not a positive multiple of 3073" in message
    bad = written["data_batch_2.bin"].copy()
    bad[4, 0] = 10
    bad.tofile(path)
    assert "record 4 has label 10" in one_line_error(lambda: get_task("cifar10_conv", data_dir=str(tmp_path), **TINY))
    path.write_bytes(b"")
    assert "0 bytes is not a positive multiple" in one_line_error(
        lambda: get_task("cifar10_conv", data_dir=str(tmp_path), **TINY))


@pytest.mark.parametrize("config, pieces", [
    ({"filters": (16,)}, ["filters must be two positive ints", "(16,)"]),
    ({"filters": 16}, ["filters must be two positive ints", "got 16"]),
    ({"filters": "16,32"}, ["filters must be two positive ints"]),
    ({"filters": (16, 0)}, ["filters[] must be a positive int, got 0"]),
    ({"num_train": 0}, ["num_train must be a positive int, got 0"]),
    ({"num_train": 50001}, ["num_train = 50001 is above the limit of 50,000"]),
    ({"num_val": 10001}, ["num_val = 10001 is above the limit of 10,000"]),
    ({"num_train": 16000, "num_val": 1000}, ["(num_train + num_val) * 3072 = 52,224,000 values", "50,000,000"]),
    ({"batch_size": 0}, ["batch_size must be a positive int, got 0"]),
    ({"data_dir": 5}, ["data_dir must be a non-empty path, got 5"]),
    ({"data_dir": ""}, ["data_dir must be a non-empty path"]),
    ({"filters": (1000, 1000)}, ["parameters, above the limit of 1,000,000"]),
    ({"data": "x"}, ["unknown config key(s) data", "data_dir"]),
])
def test_bad_configs_are_one_line_errors_before_any_file_is_read(config, pieces, tmp_path):
    message = one_line_error(lambda: get_task("cifar10_conv", **{"data_dir": str(tmp_path / "absent"), **config}))
    for piece in pieces:
        assert piece in message


# --- the task ----------------------------------------------------------------------------------

def test_the_name_encodes_the_configuration(data):
    """(``check_task`` runs on this configuration in tests/test_tasks.py, with the catalog.)"""
    root, _ = data
    task = get_task("cifar10_conv", data_dir=str(root), **TINY)
    assert re.fullmatch(r"cifar10_conv_3x3x4_3x3x8_b8_n80_v30_data[0-9a-f]{8}", task.name)
    assert task.num_params == 3 * 3 * 3 * 4 + 4 + 3 * 3 * 4 * 8 + 8 + 6 * 6 * 8 * 10 + 10
    assert get_task(task.kind, **task.config).name == task.name and task.config["data_dir"] == str(root)
    assert get_task("cifar10_conv", data_dir=str(root), num_train=80, num_val=30).name.startswith(
        "cifar10_conv_3x3x16_3x3x32_b64_n80_v30_data")


def test_validation_and_train_loss_match_the_keras_model(data):
    root, _ = data
    task = get_task("cifar10_conv", data_dir=str(root), **{**TINY, "num_val": VAL_BLOCK + 7})  # a partial block
    params = task.init_params(tf.constant([0, 1]))
    params += 0.05 * tf.sin(tf.reshape(tf.range(2 * task.num_params, dtype=tf.float32), params.shape))
    ours = task.validation(params)
    model = task.keras_model()
    index = task.minibatch_indices(tf.constant(3), tf.constant([1]))[0].numpy()
    for lane in range(2):
        model.set_weights(task.unflatten(params[lane].numpy()))
        logits = model(task.data.x_val)
        loss = float(task.keras_loss()(task.data.y_val, logits))
        assert float(ours["loss"][lane]) == pytest.approx(loss, rel=1e-5)
        assert float(ours["accuracy"][lane]) == pytest.approx(np.mean(logits.numpy().argmax(1) == task.data.y_val))
    expected = float(task.keras_loss()(task.data.y_train[index], model(task.data.x_train[index])))
    assert float(task.train_loss(params[1:], tf.constant(3), tf.constant([1]))[0]) == pytest.approx(expected, rel=1e-5)


def test_evaluate_trains_it(tmp_path):
    write_cifar10(tmp_path, counts=(100,), test_count=50, seed=1, learnable=True)
    config = {"data_dir": str(tmp_path), "filters": (4, 4), "batch_size": 16, "num_train": 100, "num_val": 50}
    evaluation = nos.evaluate("adam", task="cifar10_conv", task_config=config, learning_rates=[0.01], seeds=(0, 1, 2),
                              steps=200)
    result = evaluation.results[0]
    assert result.status == "ok" and not result.diverged.any()
    assert np.isfinite(result.val_loss).all() and np.isfinite(result.curves).all()
    assert (result.curves[0, :, -1] < 0.75 * result.curves[0, :, 0]).all()
    assert (result.val_loss < 0.75 * np.log(10)).all()  # log 10: the loss of a uniform guess
    assert result.val_metrics["accuracy"].mean() > 0.4  # chance: 0.1


# --- entry points: the CLI and a search's reward ------------------------------------------------

def test_nos_evaluate_without_the_data_is_one_line_and_exit_2(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NOS_DATA_DIR", str(tmp_path / "empty"))
    assert main(["evaluate", "adam", "--no-baselines", "--task", "cifar10_conv", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("nos evaluate: error: cifar10_conv: CIFAR-10 not found")
    assert str(tmp_path / "empty" / "cifar-10-batches-bin" / "data_batch_1.bin") in err


def test_a_search_config_names_it_as_its_reward_task(data, tmp_path):
    root, _ = data

    def config(data_dir):
        return from_dict({
            "budget": 2, "batch_size": 2, "space": {"units": 1, "operands": ["g", "sign(g)"]},
            "reward": {"task": "cifar10_conv", "task_config": {**TINY, "filters": [4, 8], "data_dir": str(data_dir)},
                       "steps": 3, "learning_rates": [0.01], "baseline": "sgd"},
            "controller": {"name": "random"},
        })

    reward = config(root).reward  # what the search builds its task from
    assert get_task(reward.task, **reward.task_config).name.startswith("cifar10_conv_3x3x4_3x3x8_b8_n80_v30_data")
    with pytest.raises(ConfigError, match="CIFAR-10 not found: expected") as info:
        search(config(tmp_path / "absent"), tmp_path / "run", progress=False, log=lambda *_: None)
    assert "\n" not in str(info.value) and str(tmp_path / "absent" / "cifar-10-batches-bin") in str(info.value)
