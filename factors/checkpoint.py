"""Checkpoint files that are safe to open: no code runs, no size is trusted, no bit goes unchecked.

A checkpoint is a ``torch.save`` zip archive holding one dictionary::

    {"format": tag, "version": VERSION, "payload": ..., "digest": sha256 hex}

``payload`` is plain data only (dicts, lists, tuples, str, int, float, bool, None and dense CPU
tensors, each owning its storage), and ``digest`` covers the tag, the version and every byte of
the payload, so corruption or editing is detected before anything is built from the file.

Reading a file (:func:`read_checkpoint`) never unpickles arbitrary objects
(``torch.load(weights_only=True)``) and never lets the file choose how much memory is used:
the archive must hold stored (uncompressed) members only, so its tensors cannot be larger than
the file, tensors may not share or overrun storage, and the walk over the payload is bounded by
the file's size (a pickle can reference one object many times). Every failure is one
:class:`CheckpointError` naming the file and the problem. The trainer and every app use this.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import re
import struct
import zipfile
from pathlib import Path
from typing import Any

import torch

from gtn.utils import atomic_write, remove_stale_temporaries

VERSION = 2  # version 1: the apps' earlier files, which carried no digest
MAX_DEPTH = 64  # nesting of the payload; ours is at most 6 deep


class CheckpointError(ValueError):
    """A checkpoint file that is missing, unreadable, corrupt, foreign or invalid."""


# ---------------------------------------------------------------------------------- writing
def write_checkpoint(path: str | os.PathLike, fmt: str, payload: Any) -> Path:
    """Write ``payload`` atomically with its format tag and content digest; returns the path.

    Temporary files that killed writers of ``path`` left behind are removed first
    (:func:`ensure_writable`). Tensors are saved as contiguous CPU copies; a type other than
    plain data or a tensor is a TypeError naming its place in the payload.
    """
    path = Path(path)
    payload = _plain_copy(payload, "payload")
    state = {"format": fmt, "version": VERSION, "payload": payload}
    state["digest"] = _digest(fmt, VERSION, payload, where=str(path), budget=math.inf)[0]
    ensure_writable(path)
    with atomic_write(path, "wb") as f:
        torch.save(state, f)
    return path


def ensure_writable(path: str | os.PathLike) -> Path:
    """Create ``path``'s directory and check that a file can be written there, so that a bad
    checkpoint path is reported before any work is done (CheckpointError otherwise); then
    remove the temporary files that killed writers of ``path`` left behind."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"checkpoint {path} is a directory, not a file")
    for parent in path.absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise CheckpointError(
                    f"checkpoint {path}: {parent} is a file, so no directory can be made there"
                )
            break
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        probe = path.parent / f".{path.name}.{os.getpid()}-probe"
        os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666))
        os.unlink(probe)
    except OSError as err:
        raise CheckpointError(
            f"checkpoint {path} cannot be written ({err.strerror or err})"
        ) from None
    remove_stale_temporaries(path)
    return path


def _plain_copy(obj: Any, where: str) -> Any:
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu").contiguous().clone()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            if not isinstance(k, (str, int)):
                raise TypeError(f"{where}: key {k!r} is a {type(k).__name__}, not str or int")
            out[k] = _plain_copy(v, f"{where}[{k!r}]")
        return out
    if isinstance(obj, (list, tuple)):
        items = [_plain_copy(v, f"{where}[{i}]") for i, v in enumerate(obj)]
        return items if isinstance(obj, list) else tuple(items)
    raise TypeError(
        f"{where} is a {type(obj).__name__}; checkpoints hold only tensors and plain data "
        "(dict, list, tuple, str, int, float, bool, None)"
    )


# ---------------------------------------------------------------------------------- reading
def read_checkpoint(
    path: str | os.PathLike,
    fmt: str,
    *,
    what: str | None = None,
    legacy: tuple[str, ...] = (),
    retrain: str = "",
) -> Any:
    """The verified payload of a checkpoint written by :func:`write_checkpoint` with tag ``fmt``.

    Args:
        what: words for the expected kind of file in messages (default: ``fmt``).
        legacy: format tags of older files of this kind, which carried no digest; they are
            refused with a message saying so and ``retrain`` (how to make a new one).

    Raises:
        CheckpointError: naming ``path``: missing, not a torch zip archive, compressed or
            oversized members, code or foreign objects in the pickle, another kind of file, a
            digest that does not match, non-finite or malformed tensors.
    """
    path = Path(path)
    what = what or fmt
    state, size = _load(path)
    if not isinstance(state, dict) or not isinstance(state.get("format"), str):
        raise CheckpointError(f"{path} is not a {what} checkpoint (no format tag)")
    if state["format"] in legacy or (state["format"] == fmt and "digest" not in state):
        raise CheckpointError(
            f"{path} is a {what} checkpoint from an older ebgtn, written without a content "
            f"digest, so it cannot be verified; {retrain or 'retrain the model'}"
        )
    if state["format"] != fmt:
        raise CheckpointError(
            f"{path} is not a {what} checkpoint (format {state['format'][:60]!r}, expected {fmt!r})"
        )
    if set(state) != {"format", "version", "payload", "digest"}:
        raise CheckpointError(f"{path}: checkpoint keys {sorted(map(str, state))} are not ours")
    if type(state["version"]) is not int or state["version"] != VERSION:
        raise CheckpointError(f"{path}: checkpoint version {state['version']!r}, not {VERSION}")
    digest, problem = _digest(fmt, VERSION, state["payload"], where=str(path), budget=size)
    if not (isinstance(state["digest"], str) and hmac.compare_digest(digest, state["digest"])):
        raise CheckpointError(
            f"{path}: content digest does not match: the file is corrupt or was edited"
        )
    if problem:
        raise CheckpointError(f"{path}: {problem}")
    return state["payload"]


def read_format(path: str | os.PathLike) -> str | None:
    """The format tag of a checkpoint file (None if it has none), read as safely as
    :func:`read_checkpoint` reads it but not verified: for choosing which loader to call."""
    state, _ = _load(Path(path))
    tag = state.get("format") if isinstance(state, dict) else None
    return tag if isinstance(tag, str) else None


def _load(path: Path) -> tuple[Any, int]:
    """(unpickled plain data, file size) of a torch zip archive, or CheckpointError."""
    if not path.exists():
        raise CheckpointError(f"{path}: no such checkpoint file")
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file")
    size = path.stat().st_size
    _check_archive(path, size)
    try:
        return torch.load(path, map_location="cpu", weights_only=True), size
    except MemoryError:
        raise
    except Exception as err:  # torch raises many types for a file that is not its own
        raise CheckpointError(f"{path} is not a readable checkpoint ({_reason(err)})") from None


def _check_archive(path: Path, size: int) -> None:
    """torch writes zip archives of stored members; refuse anything else before torch reads
    it (a deflated member lets a small file inflate to gigabytes)."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (not a torch zip archive: {_reason(err)})"
        ) from None
    declared = 0
    for m in members:
        if m.compress_type != zipfile.ZIP_STORED:
            raise CheckpointError(
                f"{path}: archive member {m.filename[:80]!r} is compressed; torch checkpoints "
                "store their members uncompressed"
            )
        declared += m.file_size
    if declared > size:
        raise CheckpointError(
            f"{path}: archive members declare {declared} bytes in a {size}-byte file"
        )


def _reason(err: BaseException) -> str:
    text = str(err)
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", text)
    if found or type(err).__name__ == "UnpicklingError":
        name = found.group(1) if found else "an object that is not plain data"
        return f"it asks to build {name}; refused, nothing from the file was run"
    line = text.strip().splitlines()[0] if text.strip() else type(err).__name__
    return line[:160]


# ---------------------------------------------------------------------------------- digest
def _digest(fmt: str, version: int, payload: Any, *, where: str, budget: float):
    """(sha256 hex over tag, version and payload, first problem found or None).

    One walk hashes a type-tagged, length-prefixed encoding (so different payloads cannot
    encode alike) and checks that tensors are dense, own their storage and are finite.
    ``budget`` bounds the number of nodes visited (the file's size: each node costs at least
    one byte of pickle unless it is a repeated reference, which the bound stops)."""
    walk = _Walk(where, budget)
    walk.visit(fmt, "format")
    walk.visit(version, "version")
    walk.visit(payload, "payload")
    return walk.hash.hexdigest(), walk.problem


class _Walk:
    def __init__(self, where: str, budget: float):
        self.hash, self.where, self.budget = hashlib.sha256(), where, budget
        self.nodes, self.problem = 0, None
        self.storages: set[int] = set()

    def put(self, tag: bytes, data: bytes = b"") -> None:
        self.hash.update(tag + struct.pack("<Q", len(data)) + data)

    def visit(self, obj: Any, place: str, depth: int = 0) -> None:
        self.nodes += 1
        if self.nodes > self.budget:
            raise CheckpointError(
                f"{self.where}: the payload has more parts than a file of its size can hold "
                "(repeated references)"
            )
        if depth > MAX_DEPTH:
            raise CheckpointError(f"{self.where}: the payload is nested deeper than {MAX_DEPTH}")
        if obj is None:
            self.put(b"N")
        elif isinstance(obj, bool):
            self.put(b"B", b"1" if obj else b"0")
        elif isinstance(obj, int):
            self.put(b"I", str(obj).encode())
        elif isinstance(obj, float):
            self.put(b"F", obj.hex().encode())
        elif isinstance(obj, str):
            self.put(b"S", obj.encode("utf-8", "surrogatepass"))
        elif isinstance(obj, torch.Tensor):
            self.tensor(obj, place)
        elif isinstance(obj, dict):
            self.put(b"D", str(len(obj)).encode())
            for k, v in obj.items():
                self.visit(k, place, depth + 1)
                self.visit(v, f"{place}[{k!r}]", depth + 1)
        elif isinstance(obj, (list, tuple)):
            self.put(b"L" if isinstance(obj, list) else b"T", str(len(obj)).encode())
            for i, v in enumerate(obj):
                self.visit(v, f"{place}[{i}]", depth + 1)
        else:
            raise CheckpointError(f"{self.where}: {place} is a {type(obj).__name__}")

    def tensor(self, t: torch.Tensor, place: str) -> None:
        if t.layout != torch.strided or t.device.type != "cpu" or t.requires_grad:
            raise CheckpointError(f"{self.where}: {place} is not a dense CPU tensor")
        nbytes = t.numel() * t.element_size()
        storage = t.untyped_storage()
        if not t.is_contiguous() or t.storage_offset() != 0 or storage.nbytes() != nbytes:
            raise CheckpointError(
                f"{self.where}: {place} is a view into a storage of {storage.nbytes()} bytes, "
                f"not a tensor of its own ({list(t.shape)})"
            )
        if nbytes:
            if storage.data_ptr() in self.storages:
                raise CheckpointError(f"{self.where}: {place} shares its storage")
            self.storages.add(storage.data_ptr())
        header = f"{t.dtype}|{','.join(map(str, t.shape))}".encode()
        self.put(b"X", header)
        self.hash.update(t.reshape(-1).view(torch.uint8).numpy().data)
        if self.problem is None and (t.is_floating_point() or t.is_complex()):
            bad = ~torch.isfinite(t)
            if bool(bad.any()):
                first = int(bad.reshape(-1).nonzero()[0])
                self.problem = (
                    f"{place} holds non-finite values ({int(bad.sum())} of {t.numel()}, "
                    f"first at flat index {first}: {t.reshape(-1)[first].item()})"
                )
