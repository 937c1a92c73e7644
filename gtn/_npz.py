"""A lossless binary file for one graph: an ``.npz`` archive of its arrays, weights (in float64,
cast back to the saved dtype on load) and symbol tables. Public as ``gtn.io.save`` / ``load``."""

from __future__ import annotations

import os
import zipfile

import numpy as np
import torch

from ._atomic import atomic_write
from ._format_error import FormatError
from .graph import Graph, GraphError
from .symbols import SymbolTable

PathLike = str | os.PathLike

_MAGIC = "ebgtn-graph"
_VERSION = 1
_ARRAYS = ("num_nodes", "src", "dst", "ilabel", "olabel", "weight", "start_weight", "final_weight")


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
    :func:`load`."""
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
    for name, label in zip(
        data[f"{prefix}_names"].tolist(), data[f"{prefix}_labels"].tolist(), strict=True
    ):
        table.add(name, label)
    return table


def load(path: PathLike) -> Graph:
    """Load a graph written by :func:`save`.

    Raises:
        FormatError: the file is not a graph saved by ``save``, or is corrupt (names the file
            and the problem).
    """
    source = os.fspath(path)
    try:
        data = np.load(source, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise FormatError(source, None, "not a gtn graph file (a .npy array, not an archive)")
        with data:
            if "magic" not in data or str(data["magic"]) != _MAGIC:
                raise FormatError(source, None, "not a gtn graph file (no 'ebgtn-graph' marker)")
            if int(data["version"]) > _VERSION:
                raise FormatError(
                    source, None, f"format version {int(data['version'])} is newer than this gtn"
                )
            missing = [name for name in _ARRAYS if name not in data]
            if missing:
                raise FormatError(source, None, f"corrupt graph file: missing {', '.join(missing)}")
            dtype = getattr(torch, str(data["dtype"]), None)
            if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
                raise FormatError(
                    source, None, f"corrupt graph file: bad dtype {str(data['dtype'])!r}"
                )
            isymbols = _load_table(data, "isymbols")
            shared = "osymbols_is_isymbols" in data and bool(data["osymbols_is_isymbols"])
            osymbols = isymbols if shared else _load_table(data, "osymbols")
            fields = {name: data[name] for name in _ARRAYS}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        if isinstance(e, (FormatError, FileNotFoundError)):
            raise
        raise FormatError(source, None, f"not a readable gtn graph file ({e})") from e
    olabel = fields["olabel"]
    try:
        return Graph(
            int(fields["num_nodes"]),
            fields["src"],
            fields["dst"],
            fields["ilabel"],
            None if np.array_equal(olabel, fields["ilabel"]) else olabel,
            torch.from_numpy(fields["weight"]).to(dtype),
            torch.from_numpy(fields["start_weight"]).to(dtype),
            torch.from_numpy(fields["final_weight"]).to(dtype),
            isymbols,
            osymbols,
        )
    except GraphError as e:
        raise FormatError(source, None, f"corrupt graph file: {e}") from e
