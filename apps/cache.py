"""Where the applications cache what they generate (rendered fields, audio, images), and how:
one compressed ``.npz`` per set, named by a key of every setting that shaped it, so the same
settings always find the same file and a changed setting never reuses a stale one.

A damaged file (truncated, overwritten, a member missing or of the wrong rank, dtype or length)
is regenerated and replaced: each reader checks the members it relies on with :func:`member`
and their agreement (lengths, totals) before using them, raising ValueError."""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np

from gtn.utils import atomic_write

T = TypeVar("T")

# What reading a damaged cache file raises: the archive's errors (truncated or overwritten:
# BadZipFile, EOFError, zlib.error, OSError), a missing member (KeyError), and the ValueError
# of numpy's member headers and of the readers' own checks.
DAMAGED = (OSError, EOFError, KeyError, ValueError, zipfile.BadZipFile, zlib.error)


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
        except DAMAGED:
            pass  # a damaged cache file is regenerated and replaced atomically
    made = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as f:
        np.savez_compressed(f, **arrays(made))
    return made


def member(archive, name: str, kinds: str, shape: tuple[int | None, ...]) -> np.ndarray:
    """``archive[name]`` (an open ``.npz``) after checking what a reader relies on: a dtype kind
    in ``kinds`` (numpy's codes: "i" signed, "u" unsigned integer, "f" float, "U" text; an
    empty member may have any) and ``shape`` (None: any length on that axis). ValueError naming
    the member otherwise, so that :func:`cached` regenerates the file."""
    values = archive[name]
    fits = values.ndim == len(shape) and all(
        want is None or have == want for have, want in zip(values.shape, shape, strict=False)
    )
    if not fits or (values.size and values.dtype.kind not in kinds):
        wanted = "[" + ", ".join("*" if n is None else str(n) for n in shape) + "]"
        have = f"{values.dtype} {list(values.shape)}"
        raise ValueError(f"cache member {name} is {have}, not {kinds} {wanted}")
    return values
