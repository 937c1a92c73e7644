"""A lossless binary file for one graph: an ``.npz`` archive of its arrays, weights (in float64,
cast back to the saved dtype on load) and symbol tables. Public as ``gtn.io.save`` / ``load``.

Loading trusts nothing the file says about sizes: before any array is inflated, every member's
``.npy`` header (dtype, shape) must agree with its kind and with the bytes the member holds,
and the sizes the zip directory declares must be in proportion to the file (``save`` stores
members uncompressed), so a small file cannot ask for gigabytes. Nothing is unpickled."""

from __future__ import annotations

import lzma
import os
import zipfile
import zlib

import numpy as np
import torch

from ..graph import Graph, GraphError
from ..symbols import SymbolTable
from .atomic import atomic_write
from .format_error import FormatError

PathLike = str | os.PathLike

_MAGIC = "ebgtn-graph"
_VERSION = 1
_ARRAYS = ("num_nodes", "src", "dst", "ilabel", "olabel", "weight", "start_weight", "final_weight")
_INT32_MAX = 2**31 - 1

# What each member may be: (dtype kinds, number of dimensions). "U" is a str array.
_MEMBERS = {
    "magic": ("U", 0),
    "version": ("iu", 0),
    "dtype": ("U", 0),
    "num_nodes": ("iu", 0),
    **{name: ("iu", 1) for name in ("src", "dst", "ilabel", "olabel")},
    **{name: ("f", 1) for name in ("weight", "start_weight", "final_weight")},
    "osymbols_is_isymbols": ("b", 0),
    **{f"{side}_names": ("U", 1) for side in ("isymbols", "osymbols")},
    **{f"{side}_labels": ("iu", 1) for side in ("isymbols", "osymbols")},
    **{f"{side}_epsilon": ("U", 0) for side in ("isymbols", "osymbols")},
}
_KIND_NAMES = {"U": "str", "iu": "integers", "f": "floats", "b": "bool"}
# The energies' dtypes a file may name: those numpy holds, which every operation reads (torch's
# bfloat16 and float8 types would load into graphs that no kernel accepts).
_DTYPES = {"float16": torch.float16, "float32": torch.float32, "float64": torch.float64}
# Inflated members may total at most this many times the file's size, plus the slack: ``save``
# stores them uncompressed (ratio ~1); a zip bomb's ratio is in the hundreds.
_MAX_INFLATION = 32
_SLACK_BYTES = 1 << 20


def _table_arrays(prefix: str, table: SymbolTable) -> dict[str, np.ndarray]:
    items = table.items()
    return {
        f"{prefix}_names": np.array([name for name, _ in items], dtype=str),
        f"{prefix}_labels": np.array([label for _, label in items], dtype=np.int64),
        f"{prefix}_epsilon": np.array(table.epsilon),
    }


def save(g: Graph, path: PathLike) -> None:
    """Save ``g`` losslessly (structure, weights in their dtype, symbol tables) to ``path``, an
    ``.npz`` archive written atomically. Gradients are not saved. Read it back with
    :func:`load`. Energies are float16, float32 or float64 (GraphError for another dtype)."""
    if str(g.dtype).removeprefix("torch.") not in _DTYPES:
        raise GraphError(
            f"save: energies of dtype {g.dtype} cannot be saved (float16, float32 or float64); "
            "convert them with g.to(torch.float32)"
        )
    arrays = {
        "magic": np.array(_MAGIC),
        "version": np.array(_VERSION),
        "dtype": np.array(str(g.dtype).removeprefix("torch.")),
        "num_nodes": np.array(g.num_nodes, dtype=np.int64),
        "src": g.src,
        "dst": g.dst,
        "ilabel": g.ilabel,
        "olabel": g.olabel,
        # float64 holds every narrower float exactly; load casts back to `dtype`.
        "weight": g.weight.detach().cpu().double().numpy(),
        "start_weight": g.start_weight.detach().cpu().double().numpy(),
        "final_weight": g.final_weight.detach().cpu().double().numpy(),
    }
    if g.isymbols is not None:
        arrays.update(_table_arrays("isymbols", g.isymbols))
    if g.osymbols is not None and g.osymbols is not g.isymbols:
        arrays.update(_table_arrays("osymbols", g.osymbols))
    arrays["osymbols_is_isymbols"] = np.array(g.osymbols is not None and g.osymbols is g.isymbols)
    with atomic_write(path, "wb") as f:
        np.savez(f, **arrays)


def _load_table(data, prefix: str) -> SymbolTable | None:
    if f"{prefix}_names" not in data:
        return None
    table = SymbolTable(epsilon=str(data[f"{prefix}_epsilon"]))
    labels = data[f"{prefix}_labels"]
    if labels.size and int(labels.max()) > _INT32_MAX:
        raise ValueError(f"{prefix} label {int(labels.max())} is out of range for 32-bit ids")
    for name, label in zip(data[f"{prefix}_names"].tolist(), labels.tolist(), strict=True):
        table.add(name, label)
    return table


def _check_archive(source: str) -> None:
    """Refuse an archive whose declared sizes are out of proportion to the file, or whose
    ``.npy`` headers disagree with the members' kinds or sizes; reads only headers.

    Raises:
        FormatError: naming the file and the member.
    """
    file_size = os.path.getsize(source)
    with zipfile.ZipFile(source) as archive:
        infos = archive.infolist()
        declared = sum(info.file_size for info in infos)
        budget = _SLACK_BYTES + _MAX_INFLATION * file_size
        if declared > budget:
            raise FormatError(
                source,
                None,
                f"the archive declares {declared:,} bytes uncompressed, more than a "
                f"{file_size:,}-byte graph file can hold (at most {budget:,})",
            )
        for info in infos:
            name = info.filename.removesuffix(".npy")
            if name in _MEMBERS:
                with archive.open(info) as member:
                    _check_member(source, name, member, info.file_size)


def _check_member(source: str, name: str, member, size: int) -> None:
    kinds, ndim = _MEMBERS[name]
    version = np.lib.format.read_magic(member)
    if version == (1, 0):
        shape, _, dtype = np.lib.format.read_array_header_1_0(member)
    elif version == (2, 0):
        shape, _, dtype = np.lib.format.read_array_header_2_0(member)
    else:
        raise FormatError(source, None, f"member {name!r}: unsupported .npy version {version}")
    if dtype.hasobject or dtype.kind not in kinds or len(shape) != ndim:
        raise FormatError(
            source,
            None,
            f"member {name!r} has dtype {dtype} and shape {shape}; expected "
            f"{'a scalar' if ndim == 0 else 'a vector'} of {_KIND_NAMES[kinds]}",
        )
    needed = int(np.prod(shape, dtype=object)) * dtype.itemsize
    held = size - member.tell()
    if needed != held:
        raise FormatError(
            source,
            None,
            f"member {name!r} declares shape {shape} of {dtype} ({needed:,} bytes) but holds "
            f"{held:,} bytes",
        )


# What reading a damaged archive raises (a bad CRC, an unsupported or encrypted member, corrupt
# compressed data, a truncated header, a bad value).
ARCHIVE_ERRORS = (
    zipfile.BadZipFile,
    ValueError,
    OSError,
    EOFError,
    KeyError,
    NotImplementedError,
    RuntimeError,
    zlib.error,
    lzma.LZMAError,
)


def load(path: PathLike) -> Graph:
    """Load a graph written by :func:`save`.

    Raises:
        FormatError: the file is not a graph saved by ``save``, or is corrupt (names the file
            and the problem).
    """
    source = os.fsdecode(os.fspath(path))
    try:
        with open(source, "rb") as f:
            if not zipfile.is_zipfile(f):
                raise FormatError(
                    source, None, "not a readable gtn graph file (not an .npz archive)"
                )
        _check_archive(source)
        with np.load(source, allow_pickle=False) as data:
            if "magic" not in data or str(data["magic"]) != _MAGIC:
                raise FormatError(source, None, "not a gtn graph file (no 'ebgtn-graph' marker)")
            if int(data["version"]) > _VERSION:
                raise FormatError(
                    source, None, f"format version {int(data['version'])} is newer than this gtn"
                )
            missing = [name for name in _ARRAYS if name not in data]
            if missing:
                raise FormatError(source, None, f"corrupt graph file: missing {', '.join(missing)}")
            dtype = _DTYPES.get(str(data["dtype"]))
            if dtype is None:
                raise FormatError(
                    source,
                    None,
                    f"member 'dtype' is {str(data['dtype'])!r}; a graph file's energies are "
                    "float16, float32 or float64",
                )
            isymbols = _load_table(data, "isymbols")
            shared = "osymbols_is_isymbols" in data and bool(data["osymbols_is_isymbols"])
            osymbols = isymbols if shared else _load_table(data, "osymbols")
            fields = {name: data[name] for name in _ARRAYS}
    except ARCHIVE_ERRORS as e:
        if isinstance(e, (FormatError, FileNotFoundError)):
            raise
        raise FormatError(source, None, f"not a readable gtn graph file ({e})") from e
    olabel = fields["olabel"]
    weights = [_energies(source, name, fields[name], dtype) for name in _ARRAYS[-3:]]
    try:
        return Graph(
            int(fields["num_nodes"]),
            fields["src"],
            fields["dst"],
            fields["ilabel"],
            None if np.array_equal(olabel, fields["ilabel"]) else olabel,
            *weights,
            isymbols,
            osymbols,
        )
    except GraphError as e:
        raise FormatError(source, None, f"corrupt graph file: {e}") from e


def _energies(source: str, name: str, values: np.ndarray, dtype: torch.dtype) -> torch.Tensor:
    """A member's energies in ``dtype``; a finite value that overflows it (1e300 in float32) is
    a FormatError naming the member, not a silent +inf (as ``read_att``'s)."""
    with np.errstate(over="ignore"):  # a longdouble past float64 is caught below
        out = torch.from_numpy(values.astype(np.float64)).to(dtype)
    bad = np.flatnonzero(np.isinf(out.numpy()) & np.isfinite(values))
    if bad.size:
        i = int(bad[0])
        kind = str(dtype).removeprefix("torch.")
        raise FormatError(
            source,
            None,
            f"member {name!r}: {float(values[i])} at index {i} is out of range for {kind}",
        )
    return out
