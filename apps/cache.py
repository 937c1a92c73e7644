"""Where the applications cache what they generate (rendered fields, audio, images), and how:
one compressed ``.npz`` per set, named by a key of every setting that shaped it, so the same
settings always find the same file and a changed setting never reuses a stale one."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from gtn.utils import atomic_write

T = TypeVar("T")


def cache_dir(app: str) -> Path:
    """``$EBGTN_CACHE/<app>``, or ``~/.cache/ebgtn/<app>`` when EBGTN_CACHE is unset."""
    root = os.environ.get("EBGTN_CACHE") or Path.home() / ".cache" / "ebgtn"
    return Path(root) / app


def settings_key(settings: dict) -> str:
    """16 hex digits of the SHA-256 of ``settings`` (JSON-able) as sorted JSON."""
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def cached(
    app: str,
    folder: str | os.PathLike | None,
    name: str,
    read: Callable[[Path], T],
    make: Callable[[], T],
    arrays: Callable[[T], dict[str, np.ndarray]],
) -> T:
    """``read(path)`` of the file ``name`` in ``folder`` (None: :func:`cache_dir` of ``app``)
    when it exists and reads; otherwise ``make()``, whose ``arrays`` are written there
    (``np.savez_compressed``) atomically, and returned."""
    path = (Path(folder) if folder is not None else cache_dir(app)) / name
    if path.exists():
        try:
            return read(path)
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is regenerated and replaced atomically
    made = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as f:
        np.savez_compressed(f, **arrays(made))
    return made
