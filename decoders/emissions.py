"""Emission files for decoding from scripts: per-frame label energies [T, V] by utterance id.

- ``.npz``: one array per utterance, keyed by utterance id (``np.savez(path, utt1=..., ...)``).
- ``.npy``: one [T, V] array (its id is the file's stem) or a [B, T, V] stack (ids
  ``stem-0`` ... ``stem-(B-1)``).

Shapes are read from the array headers without loading the data, so a whole file can be checked
before decoding starts; arrays are loaded one utterance at a time. Nothing a header says is
trusted: the dtype must be a real number type, an utterance must have at least one label per
frame (a stack, at least one frame), and the shape must fit in the bytes the file holds.
"""

from __future__ import annotations

import math
import os
import zipfile
from pathlib import Path

import numpy as np

import gtn
from gtn.utils import ARCHIVE_ERRORS


class EmissionsFile:
    """Lazy access to an emissions file.

    Attributes:
        path: the file.
        shapes: {utterance id: array shape}, in file order.
    """

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._stack: np.ndarray | None = None
        self._npz = None
        if self.path.suffix not in (".npz", ".npy"):
            problem = "emissions must be a .npz (one array per utterance) or .npy"
            raise gtn.FormatError(str(self.path), None, problem)
        try:
            if self.path.suffix == ".npz":
                self.shapes = _npz_shapes(self.path)
            else:
                self.shapes = _npy_shapes(self.path)
                self._stack = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except gtn.FormatError:
            raise
        except ARCHIVE_ERRORS as err:
            raise gtn.FormatError(
                str(self.path), None, f"not a readable numpy file ({err})"
            ) from None

    @property
    def ids(self) -> list[str]:
        return list(self.shapes)

    def load(self, uid: str) -> np.ndarray:
        """The [T, V] energies of utterance ``uid``."""
        if self._stack is not None:
            if self._stack.ndim == 2:
                return np.asarray(self._stack)
            return np.asarray(self._stack[int(uid.rsplit("-", 1)[1])])
        if self._npz is None:
            self._npz = np.load(self.path, allow_pickle=False)
        try:
            return self._npz[uid]
        except ARCHIVE_ERRORS as err:
            raise gtn.FormatError(str(self.path), None, f"utterance {uid}: {err}") from None

    def close(self) -> None:
        if self._npz is not None:
            self._npz.close()
            self._npz = None


# Deflate cannot expand data by more than about 1032:1; a member claiming more is lying.
MAX_DEFLATE_RATIO = 1100


def _npz_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Each member's shape, read from its header; every size the archive declares is checked
    against the bytes it holds, so loading a member never allocates more than ~1000x the file.
    """
    shapes = {}
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            name = info.filename
            if not name.endswith(".npy"):
                continue
            uid = name[: -len(".npy")]
            with archive.open(info) as f:
                shape, dtype, header = _read_header(f)
            _check_array(path, f"utterance {uid}: ", shape, dtype)
            declared = math.prod(shape) * dtype.itemsize
            _check_member(path, uid, info, header + declared, shape)
            shapes[uid] = tuple(shape)
    return shapes


def _read_header(f) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, offset of the data) of the .npy whose header starts at ``f``'s position."""
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(f)
    else:
        shape, _, dtype = np.lib.format.read_array_header_2_0(f)
    return shape, dtype, f.tell()


def _check_array(path: Path, where: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Refuse energies that are not real numbers (complex, bool, dates, strings, records) and
    utterances with no labels per frame (the last dimension)."""
    if dtype.kind not in "fiu":
        raise gtn.FormatError(
            str(path), None, f"{where}dtype {dtype} is not a number type (floats or integers)"
        )
    if shape and shape[-1] == 0:
        raise gtn.FormatError(str(path), None, f"{where}shape {list(shape)}: no labels per frame")


def _check_member(path: Path, uid: str, info: zipfile.ZipInfo, needed: int, shape) -> None:
    def fail(problem: str):
        raise gtn.FormatError(str(path), None, f"utterance {uid}: {problem}")

    size, packed = info.file_size, info.compress_size
    if needed > size:
        fail(f"shape {list(shape)} needs {needed} bytes, but the archive member holds {size}")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        fail(f"compression method {info.compress_type} (numpy writes stored or deflated members)")
    stored = info.compress_type == zipfile.ZIP_STORED
    if (stored and size != packed) or size > MAX_DEFLATE_RATIO * max(packed, 1):
        claim = f"the archive member claims {size} bytes from {packed} compressed bytes"
        fail(f"{claim}; the archive is corrupt")


def _npy_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The utterances of a .npy, from its header: [T, V] is one, [B, T, V] a stack of B. The
    data must fit in the file (as a memory map needs), and a stack's utterances must have
    frames, so the number of utterances is bounded by the file's size."""
    with open(path, "rb") as f:
        shape, dtype, header = _read_header(f)
        size = os.fstat(f.fileno()).st_size

    def fail(problem: str):
        raise gtn.FormatError(str(path), None, problem)

    if len(shape) not in (2, 3):
        fail(f"a .npy of emissions must be [T, V] or [B, T, V], got {list(shape)}")
    _check_array(path, "", shape, dtype)
    if len(shape) == 3 and shape[1] == 0:
        fail(f"a stack of {shape[0]} utterances of shape {list(shape[1:])} has no frames")
    declared = math.prod(shape) * dtype.itemsize
    if header + declared > size:
        fail(
            f"shape {list(shape)} of {dtype} needs {declared} bytes of data, but the file holds "
            f"{max(size - header, 0)} after its header (truncated or not a .npy file)"
        )
    if len(shape) == 2:
        return {path.stem: tuple(shape)}
    return {f"{path.stem}-{b}": tuple(shape[1:]) for b in range(shape[0])}


def not_energies(emissions: np.ndarray, tolerance: float = 1e-2) -> str | None:
    """What [T, V] emissions look like when they are probably not energies (-log p), or None.

    Two common mistakes: log-probabilities (the wrong sign: every value <= 0 and each frame's
    log-sum-exp ~ 0) and probabilities (every value in [0, 1] and each frame summing to ~ 1).
    Normalised energies match neither for V >= 2 (energies in [0, 1] give probabilities of at
    least 1/e each), so a match is a mistake, not a coincidence.

    >>> p = np.array([[0.9, 0.1], [0.2, 0.8]])
    >>> not_energies(-np.log(p)) is None, not_energies(np.log(p)), not_energies(p)
    (True, 'log-probabilities (every value <= 0, each frame log-sum-exps to 0)', \
'probabilities (every value in [0, 1], each frame sums to 1)')
    """
    e = np.asarray(emissions, dtype=np.float64)
    if e.ndim != 2 or e.shape[0] == 0 or e.shape[1] < 2 or not np.isfinite(e).all():
        return None
    if e.max() <= 0.0:
        top = e.max(axis=1, keepdims=True)
        lse = top[:, 0] + np.log(np.exp(e - top).sum(axis=1))
        if np.abs(lse).max() <= tolerance:
            return "log-probabilities (every value <= 0, each frame log-sum-exps to 0)"
    if e.min() >= 0.0 and e.max() <= 1.0 and np.abs(e.sum(axis=1) - 1.0).max() <= tolerance:
        return "probabilities (every value in [0, 1], each frame sums to 1)"
    return None
