"""scikit-learn's bundled 8x8 digits (no download) with a fixed stratified split."""

import functools

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from nos.engine.tasks.supervised import Dataset

NUM_VALIDATION = 360


@functools.lru_cache(maxsize=None)
def digits(split_seed: int = 0) -> Dataset:
    """The 1797 digits as float32 features in [0, 1] (pixel / 16) and int32 labels 0..9.

    Split 1437 train / 360 validation, stratified by label, with
    ``train_test_split(random_state=split_seed)``. Features are [N, 64] in the
    row-major pixel order of ``load_digits``; reshape to [N, 8, 8, 1] for images.
    The arrays are read-only and cached per split seed.
    """
    bunch = load_digits()
    x = (bunch.data / 16.0).astype(np.float32)
    y = bunch.target.astype(np.int32)
    x_train, x_val, y_train, y_val = train_test_split(
        x, y, test_size=NUM_VALIDATION, stratify=y, random_state=split_seed)
    for array in (x_train, y_train, x_val, y_val):
        array.setflags(write=False)
    return Dataset(x_train, y_train, x_val, y_val)
