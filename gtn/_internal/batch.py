"""Batches of graphs: the one way operations accept "a graph or a list of graphs"
(:func:`as_batch` in, :func:`unbatch` out), and packing a batch into ragged arrays (arcs
concatenated, plus offsets) so that one numba kernel can run `prange` over it. Single graphs
are a batch of one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

import numpy as np
import torch

from ..graph import Graph, GraphError


def as_batch(
    graphs: Graph | Iterable[Graph], op: str = "graphs", name: str | None = None
) -> tuple[list[Graph], bool]:
    """(list of graphs, True if a single graph was given): how every operation normalises its
    graph arguments. Anything else raises GraphError naming the operation ``op``, the argument
    ``name`` (if any) and the index of the offending item."""
    where = f"{op}: {name}" if name else op
    if isinstance(graphs, Graph):
        return [graphs], True
    if isinstance(graphs, (str, bytes)) or not isinstance(graphs, Iterable):
        raise GraphError(f"{where} is a {type(graphs).__name__}, not a gtn.Graph or a list of them")
    out = list(graphs)
    for i, g in enumerate(out):
        if not isinstance(g, Graph):
            raise GraphError(f"{where}[{i}] is a {type(g).__name__}, not a gtn.Graph")
    return out, False


def unbatch(values: list, single: bool):
    """The inverse of :func:`as_batch` for an operation's results: one value for one graph."""
    return values[0] if single else values


class Packed(NamedTuple):
    """B graphs as ragged arrays. Node ids in src/dst stay local to their graph; graph b owns
    nodes node_offsets[b]:node_offsets[b+1] and arcs arc_offsets[b]:arc_offsets[b+1] of the
    concatenated per-node / per-arc arrays."""

    node_offsets: np.ndarray  # int64 [B+1]
    arc_offsets: np.ndarray  # int64 [B+1]
    src: np.ndarray  # int32 [sum A]
    dst: np.ndarray
    ilabel: np.ndarray
    olabel: np.ndarray


def offsets(sizes) -> np.ndarray:
    out = np.zeros(len(sizes) + 1, dtype=np.int64)
    np.cumsum(np.asarray(sizes, dtype=np.int64), out=out[1:])
    return out


def _cat(arrays: list[np.ndarray]) -> np.ndarray:
    return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)


def pack(graphs: list[Graph]) -> Packed:
    """Pack structure (no weights); one-graph batches reuse the graph's arrays without copying."""
    return Packed(
        offsets([g.num_nodes for g in graphs]),
        offsets([g.num_arcs for g in graphs]),
        _cat([g.src for g in graphs]),
        _cat([g.dst for g in graphs]),
        _cat([g.ilabel for g in graphs]),
        _cat([g.olabel for g in graphs]),
    )


def common_dtype(graphs: list[Graph]) -> torch.dtype:
    """The dtype all of a batch's energies promote to."""
    dtype = graphs[0].dtype
    for g in graphs[1:]:
        dtype = torch.promote_types(dtype, g.dtype)
    return dtype


def cat_weights(graphs: list[Graph]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Concatenated (arc, start, final) energies of a batch, in a common dtype; differentiable."""
    dtype = common_dtype(graphs)
    if len(graphs) == 1:
        g = graphs[0]
        return g.weight.to(dtype), g.start_weight.to(dtype), g.final_weight.to(dtype)
    return (
        torch.cat([g.weight.to(dtype) for g in graphs]),
        torch.cat([g.start_weight.to(dtype) for g in graphs]),
        torch.cat([g.final_weight.to(dtype) for g in graphs]),
    )
