"""Topological order of states and the matching arc order (numba), cached per graph."""

from __future__ import annotations

import numba as nb
import numpy as np

from ..graph import Graph, GraphError
from .batch import as_batch, pack, unbatch
from .csr import csr
from .jit import batch_kernel


@nb.njit(cache=True)
def _topo_one(n, src, dst, node_order, arc_order):
    """Kahn's algorithm. Fills node_order (states in topological order) and arc_order (arcs
    grouped by source state in that order). Returns -1 if acyclic, else a state on a cycle."""
    a = src.shape[0]
    indeg = np.empty(n, np.int64)  # np.empty and loops only: see pair_table.new_table
    every = np.empty(a, np.bool_)
    for v in range(n):
        indeg[v] = 0
    for i in range(a):
        every[i] = True
        indeg[dst[i]] += 1
    outptr, by_src = csr(n, src, every)
    head = 0
    tail = 0
    for v in range(n):
        if indeg[v] == 0:
            node_order[tail] = v
            tail += 1
    k = 0
    while head < tail:
        v = node_order[head]
        head += 1
        for j in range(outptr[v], outptr[v + 1]):
            i = by_src[j]
            arc_order[k] = i
            k += 1
            d = dst[i]
            indeg[d] -= 1
            if indeg[d] == 0:
                node_order[tail] = d
                tail += 1
    if tail == n:
        return -1
    # Every unsorted state keeps an unsorted predecessor; walking back n steps lands on a cycle.
    inptr, by_dst = csr(n, dst, every)
    v = 0
    while indeg[v] == 0:
        v += 1
    for _ in range(n):
        for j in range(inptr[v], inptr[v + 1]):
            u = src[by_dst[j]]
            if indeg[u] > 0:
                v = u
                break
    return v


@batch_kernel
def _topo_batch(node_off, arc_off, src, dst, node_order, arc_order, cyclic):
    for b in nb.prange(node_off.shape[0] - 1):
        n0, n1 = node_off[b], node_off[b + 1]
        a0, a1 = arc_off[b], arc_off[b + 1]
        cyclic[b] = _topo_one(n1 - n0, src[a0:a1], dst[a0:a1], node_order[n0:n1], arc_order[a0:a1])


def topological_orders(
    graphs: list[Graph], what: str = "operation"
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(node_order, arc_order) per graph, int64, local ids. Raises GraphError on a cycle."""
    _sort(graphs)
    out = []
    for i, g in enumerate(graphs):
        orders, cyc = g._cache["topo"]
        if orders is None:
            where = f"graph {i} " if len(graphs) > 1 else ""
            raise GraphError(
                f"{what} needs an acyclic graph, but {where}has a cycle through node {cyc}"
            )
        out.append(orders)
    return out


def _sort(graphs: list[Graph]) -> None:
    """Cache each graph's topological orders, or the node of a cycle (one kernel for all)."""
    todo = [i for i, g in enumerate(graphs) if "topo" not in g._cache]
    if todo:
        sub = [graphs[i] for i in todo]
        p = pack(sub)
        node_order = np.empty(p.node_offsets[-1], np.int64)
        arc_order = np.empty(p.arc_offsets[-1], np.int64)
        cyclic = np.empty(len(sub), np.int64)
        kernel = _topo_batch.pick(len(sub), p.arc_offsets[-1])
        kernel(p.node_offsets, p.arc_offsets, p.src, p.dst, node_order, arc_order, cyclic)
        for j, i in enumerate(todo):
            n0, n1 = p.node_offsets[j], p.node_offsets[j + 1]
            a0, a1 = p.arc_offsets[j], p.arc_offsets[j + 1]
            graphs[i]._cache["topo"] = (
                None if cyclic[j] >= 0 else (node_order[n0:n1], arc_order[a0:a1]),
                int(cyclic[j]),
            )


def is_acyclic(g: Graph | list[Graph]) -> bool | list[bool]:
    """Whether a graph has no cycle of arcs (whatever their labels and energies: an epsilon
    self-loop is a cycle). ``g`` is a graph or a list of them (one numba kernel over the
    batch); the answer is a bool, or a list of them. The orders found are cached on each graph
    for the operations that need them."""
    gs, single = as_batch(g, "is_acyclic")
    _sort(gs)
    return unbatch([x._cache["topo"][0] is not None for x in gs], single)
