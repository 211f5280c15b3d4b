"""CIFAR-10 read from its binary version on local disk: never downloaded, never unpickled.

The binary version (``cifar-10-binary.tar.gz``) extracts to a folder ``cifar-10-batches-bin``
holding ``data_batch_1.bin`` … ``data_batch_5.bin`` (10,000 training images each) and
``test_batch.bin`` (10,000 test images). Each file is a sequence of 3073-byte records:

    byte 0          the label, 0..9 (airplane, automobile, bird, cat, deer, dog, frog, horse, ship, truck)
    bytes 1..1024   the red channel of the 32x32 image, row-major
    bytes 1025..2048  green, bytes 2049..3072 blue, the same way

The folder is looked for in, first to last: the ``data_dir`` argument, the environment variable
``NOS_DATA_DIR``, then ``~/.nos/data`` (`DEFAULT_DATA_DIR`); the files are
``<that directory>/cifar-10-batches-bin/*.bin``. The bytes are parsed with numpy only.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

SIDE, CHANNELS, NUM_CLASSES = 32, 3, 10
RECORD_BYTES = 1 + SIDE * SIDE * CHANNELS
FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
RECORDS_PER_FILE = 10_000
ENV_VAR = "NOS_DATA_DIR"
DEFAULT_DATA_DIR = "~/.nos/data"


def data_root(data_dir=None) -> Path:
    """The directory expected to hold ``cifar-10-batches-bin``: ``data_dir``, else $NOS_DATA_DIR, else ~/.nos/data."""
    chosen = data_dir if data_dir is not None else os.environ.get(ENV_VAR) or DEFAULT_DATA_DIR
    return Path(chosen).expanduser()


def batch_path(data_dir, filename: str, *, who: str = "cifar10") -> Path:
    """The path of one batch file; a one-line ValueError saying where it was expected when it is absent."""
    root = data_root(data_dir)
    path = root / FOLDER / filename
    if not path.is_file():
        raise ValueError(
            f"{who}: CIFAR-10 not found: expected {path}; extract the binary version (cifar-10-binary.tar.gz: "
            f"{FOLDER}/data_batch_1..5.bin and test_batch.bin) into {root}, or point the task's data_dir or "
            f"${ENV_VAR} at the directory that holds {FOLDER}")
    return path


def read_batch(path, limit: int | None = None, *, who: str = "cifar10") -> tuple[np.ndarray, np.ndarray]:
    """Labels uint8 [N] and images uint8 [N, 32, 32, 3] (height, width, RGB) of one binary batch file.

    N is the file's record count, or ``limit`` when that is smaller (only those bytes are read).
    A file whose size is not a positive multiple of 3073 bytes, or with a label byte above 9,
    raises a one-line ValueError naming it.
    """
    path = Path(path)
    size = path.stat().st_size
    if size == 0 or size % RECORD_BYTES:
        raise ValueError(f"{who}: {path} is not a CIFAR-10 binary batch: {size:,} bytes is not a positive multiple "
                         f"of {RECORD_BYTES} (1 label byte + 3072 pixel bytes a record); extract it again")
    count = size // RECORD_BYTES if limit is None else min(size // RECORD_BYTES, limit)
    raw = np.fromfile(path, dtype=np.uint8, count=count * RECORD_BYTES).reshape(count, RECORD_BYTES)
    labels = raw[:, 0].copy()
    if count and labels.max() >= NUM_CLASSES:
        bad = int(np.argmax(labels >= NUM_CLASSES))
        raise ValueError(f"{who}: {path} is not a CIFAR-10 binary batch: record {bad} has label {labels[bad]}, "
                         f"not 0..{NUM_CLASSES - 1}")
    images = raw[:, 1:].reshape(count, CHANNELS, SIDE, SIDE).transpose(0, 2, 3, 1)
    return labels, np.ascontiguousarray(images)


def load_cifar10(data_dir, num_train: int, num_val: int, *, who: str = "cifar10"):
    """(x_train, y_train, x_val, y_val): the first ``num_train`` training records and ``num_val`` test records.

    Training records are read from data_batch_1.bin, data_batch_2.bin, … in order, opening only
    the files needed; validation records from test_batch.bin. Images uint8 [N, 32, 32, 3], labels
    uint8 [N]. Missing files and too few records raise one-line ValueErrors.
    """
    labels, images, have = [], [], 0
    for filename in TRAIN_FILES:
        if have == num_train:
            break
        batch_labels, batch_images = read_batch(batch_path(data_dir, filename, who=who), num_train - have, who=who)
        labels.append(batch_labels)
        images.append(batch_images)
        have += len(batch_labels)
    if have < num_train:
        raise ValueError(f"{who}: num_train = {num_train:,} but the {len(TRAIN_FILES)} training files in "
                         f"{data_root(data_dir) / FOLDER} hold only {have:,} records")
    val_labels, val_images = read_batch(batch_path(data_dir, TEST_FILE, who=who), num_val, who=who)
    if len(val_labels) < num_val:
        raise ValueError(f"{who}: num_val = {num_val:,} but {batch_path(data_dir, TEST_FILE, who=who)} "
                         f"holds only {len(val_labels):,} records")
    return np.concatenate(images), np.concatenate(labels), val_images, val_labels
