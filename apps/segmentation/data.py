"""The two tasks' train / validation / test sets, generated once and cached on disk.

A set is keyed by (task, split, size, seed, generator settings, format version): the same key
always gives the same images, and a changed setting never reuses a stale file. Splits use
distinct fixed seeds (``SPLIT_SEEDS``). Cache files are written atomically under
``$EBGTN_CACHE/segmentation`` (default ``~/.cache/ebgtn/segmentation``).
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..cache import cached, member, settings_key
from . import embryo, horse

VERSION = 1
TASKS = ("embryo", "horse")
SPLITS = ("train", "validation", "test")
SPLIT_SEEDS = {"train": 1001, "validation": 2002, "test": 3003}
_TASK_SEEDS = {"embryo": 0, "horse": 50_000}


@dataclass
class Dataset:
    """``images`` [N, H, W] float32 in [0, 1] and exact ``labels`` [N, H, W] int64."""

    task: str
    split: str
    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    @property
    def classes(self) -> tuple[str, ...]:
        return _generator(self.task).CLASSES

    @property
    def num_labels(self) -> int:
        return len(self.classes)


def _generator(task: str):
    """The module that draws ``task``'s examples (:mod:`.embryo` or :mod:`.horse`)."""
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    return embryo if task == "embryo" else horse


def task_settings(task: str) -> dict:
    """The generator settings of ``task`` (JSON-able)."""
    if _generator(task) is embryo:
        geometry, imaging = embryo.DEFAULT_GEOMETRY, embryo.DEFAULT_IMAGING
        return {"geometry": asdict(geometry), "imaging": asdict(imaging)}
    return asdict(horse.DEFAULT_SETTINGS)


def seed_of(task: str, split: str) -> int:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    return _TASK_SEEDS[task] + SPLIT_SEEDS[split]


def generate(task: str, split: str, n: int) -> Dataset:
    """``n`` examples of ``split``; deterministic in (task, split, n, settings)."""
    images, labels = _generator(task).generate(n, seed_of(task, split))
    return Dataset(task, split, images, labels)


def cache_key(task: str, split: str, n: int) -> str:
    settings = task_settings(task)
    return settings_key({"task": task, "split": split, "n": n, "settings": settings, "v": VERSION})


def load_or_generate(
    task: str, split: str, n: int, cache_dir: str | os.PathLike | None = None
) -> Dataset:
    """:func:`generate` through the on-disk cache (``cache_dir=None``: the default folder)."""

    def read(path: Path) -> Dataset:  # ValueError for a damaged file: it is regenerated
        with np.load(path, allow_pickle=False) as z:
            images = member(z, "images", "f", (n, None, None))
            labels = member(z, "labels", "u", images.shape)
            return Dataset(task, split, images, labels.astype(np.int64))

    return cached(
        "segmentation",
        cache_dir,
        f"{task}-{split}-{n}-{cache_key(task, split, n)}.npz",
        read,
        lambda: generate(task, split, n),
        lambda d: {"images": d.images, "labels": d.labels.astype(np.uint8)},
    )
