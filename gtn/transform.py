"""Label and state-order transforms: project, invert, arc_sort, top_sort, connect.

Each accepts a Graph or a list of graphs and returns the same shape. Weights are carried through
arc maps (index tensors), so the outputs stay differentiable with respect to the inputs."""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from ._internal.batch import as_batch, pack, unbatch
from ._internal.connect_kernels import useful_states
from ._internal.threads import sync_threads
from ._internal.topo import topological_orders
from .graph import Graph


def project(g, side: Literal["input", "output"] = "input"):
    """The acceptor of the input (or output) labels: copies one label side onto the other."""
    if side not in ("input", "output"):
        raise ValueError(f"side must be 'input' or 'output', got {side!r}")
    gs, single = as_batch(g, "project")
    out = []
    for x in gs:
        if side == "input":
            out.append(x._derive(ilabel=x.ilabel, osymbols=x.isymbols))
        else:
            out.append(x._derive(ilabel=x.olabel, isymbols=x.osymbols))
    return unbatch(out, single)


def invert(g):
    """Swap input and output labels (and symbol tables)."""
    gs, single = as_batch(g, "invert")
    out = [
        x._derive(ilabel=x.olabel, olabel=x.ilabel, isymbols=x.osymbols, osymbols=x.isymbols)
        for x in gs
    ]
    return unbatch(out, single)


def _permute_arcs(
    g: Graph, order: np.ndarray, node_map: np.ndarray | None = None, n: int | None = None
) -> Graph:
    """Keep arcs ``order`` (in that order); renumber states by ``node_map``
    (old -> new, -1 drops)."""
    order = np.asarray(order, np.int64)
    if node_map is None:
        return g._derive(arc_map=order)
    old = np.flatnonzero(node_map >= 0)
    inv = np.empty(n, np.int64)
    inv[node_map[old]] = old
    idx = torch.from_numpy(inv)
    return g._derive(
        arc_map=order,
        num_nodes=n,
        src=node_map[g.src[order]].astype(np.int32),
        dst=node_map[g.dst[order]].astype(np.int32),
        start_weight=g.start_weight[idx],
        final_weight=g.final_weight[idx],
    )


def arc_sort(g, by: Literal["ilabel", "olabel"] = "ilabel"):
    """Sort arcs by (source state, label, other label, destination), stably.

    OpenFst's ArcSort sorts each state's arcs; here arcs are one array, so sorting by source
    first gives the same per-state order."""
    if by not in ("ilabel", "olabel"):
        raise ValueError(f"by must be 'ilabel' or 'olabel', got {by!r}")
    gs, single = as_batch(g, "arc_sort")
    out = []
    for x in gs:
        first, second = (x.ilabel, x.olabel) if by == "ilabel" else (x.olabel, x.ilabel)
        order = np.lexsort((x.dst, second, first, x.src))
        out.append(_permute_arcs(x, order))
    return unbatch(out, single)


def top_sort(g):
    """Renumber states in topological order (every arc goes from a lower to a higher id) and
    order arcs by source state. Raises GraphError if the graph has a cycle."""
    gs, single = as_batch(g, "top_sort")
    orders = topological_orders(gs, what="top_sort")
    out = []
    for x, (node_order, arc_order) in zip(gs, orders, strict=True):
        node_map = np.empty(x.num_nodes, np.int64)
        node_map[node_order] = np.arange(x.num_nodes)
        out.append(_permute_arcs(x, arc_order, node_map, x.num_nodes))
    return unbatch(out, single)


def connect(g):
    """Remove states that are not on some start -> final path, and arcs touching them.

    Arcs with +inf energy are treated as absent (no finite-energy path uses them) and are
    removed. Surviving states keep their relative order. A graph with no complete path becomes
    the empty graph (0 states). One numba kernel runs over the whole batch."""
    gs, single = as_batch(g, "connect")
    p = pack(gs)
    usable = (
        np.concatenate([np.isfinite(x.weight.detach().numpy()) for x in gs])
        if p.src.size
        else np.zeros(0, np.bool_)
    )
    is_start = (
        np.concatenate([np.isfinite(x.start_weight.detach().numpy()) for x in gs])
        if gs
        else np.zeros(0, bool)
    )
    is_final = (
        np.concatenate([np.isfinite(x.final_weight.detach().numpy()) for x in gs])
        if gs
        else np.zeros(0, bool)
    )
    keep = np.zeros(int(p.node_offsets[-1]), np.bool_)
    sync_threads()
    kernel = useful_states.pick(len(gs), p.arc_offsets[-1])
    kernel(p.node_offsets, p.arc_offsets, p.src, p.dst, usable, is_start, is_final, keep)
    out = []
    for b, x in enumerate(gs):
        k = keep[p.node_offsets[b] : p.node_offsets[b + 1]]
        u = usable[p.arc_offsets[b] : p.arc_offsets[b + 1]]
        node_map = np.full(x.num_nodes, -1, np.int64)
        n = int(k.sum())
        node_map[k] = np.arange(n)
        arcs = np.flatnonzero(u & k[x.src] & k[x.dst]) if x.num_arcs else np.zeros(0, np.int64)
        out.append(_permute_arcs(x, arcs, node_map, n))
    return unbatch(out, single)
