"""Conversion to and from networkx, for graph algorithms and tools that networkx already has.

A graph becomes a ``networkx.MultiDiGraph`` (parallel arcs are kept, keyed by arc index):

- nodes ``0..N-1`` with attributes ``start_weight`` and ``final_weight`` (energies; +inf means
  "not a start / final state");
- one edge per arc with attributes ``ilabel``, ``olabel`` (``gtn.EPSILON == -1`` for epsilon),
  ``weight`` (energy) and ``index`` (the arc's index in the graph);
- graph attributes ``dtype`` (e.g. ``"float64"``), ``isymbols`` and ``osymbols``.

Weights are detached floats: networkx holds no autograd history.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from .graph import INF, Graph, GraphError

if TYPE_CHECKING:  # imported where used: `import gtn` need not pay for networkx
    import networkx


def to_networkx(g: Graph) -> networkx.MultiDiGraph:
    """``g`` as a ``networkx.MultiDiGraph`` (see the module docstring for the attributes).

    >>> G = to_networkx(Graph.from_arrays(2, [0], [1], [3], weight=[0.5]))
    >>> list(G.edges(keys=True, data=True))
    [(0, 1, 0, {'ilabel': 3, 'olabel': 3, 'weight': 0.5, 'index': 0})]
    """
    import networkx

    G = networkx.MultiDiGraph(
        dtype=str(g.dtype).removeprefix("torch."), isymbols=g.isymbols, osymbols=g.osymbols
    )
    start = g.start_weight.detach().cpu().double().tolist()
    final = g.final_weight.detach().cpu().double().tolist()
    G.add_nodes_from(
        (n, {"start_weight": start[n], "final_weight": final[n]}) for n in range(g.num_nodes)
    )
    G.add_edges_from(
        (
            a.src,
            a.dst,
            a.index,
            {"ilabel": a.ilabel, "olabel": a.olabel, "weight": a.weight, "index": a.index},
        )
        for a in g.arcs()
    )
    return G


def _node_ids(G: networkx.MultiDiGraph) -> dict:
    """Nodes 0..N-1 keep their ids; any other node set is numbered in iteration order."""
    nodes = list(G.nodes)
    if set(nodes) == set(range(len(nodes))):
        return {n: n for n in nodes}
    return {n: i for i, n in enumerate(nodes)}


def _arc_order(edges: list) -> list:
    """Edges sorted by their ``index`` attribute when every edge has a distinct one."""
    indices = [data.get("index") for *_, data in edges]
    if all(isinstance(i, int | np.integer) for i in indices) and len(set(indices)) == len(indices):
        return [e for _, e in sorted(zip(indices, edges, strict=True), key=lambda p: p[0])]
    return edges


def from_networkx(
    G: networkx.MultiDiGraph | networkx.DiGraph, dtype: torch.dtype | None = None
) -> Graph:
    """The inverse of :func:`to_networkx`.

    Every edge needs an ``ilabel``; ``olabel`` defaults to ``ilabel`` (an acceptor arc) and
    ``weight`` to 0. Nodes without ``start_weight`` / ``final_weight`` are not start / final.
    Arcs are ordered by their ``index`` attribute when all edges have distinct ones. Nodes
    ``0..N-1`` keep their ids; other node sets are numbered in ``G.nodes`` order.

    Args:
        dtype: weight dtype (default: ``G.graph["dtype"]``, else ``torch.get_default_dtype()``).

    Raises:
        GraphError: naming the edge ``(u, v, key)`` or node with a missing or bad attribute.
    """
    if dtype is None:
        named = getattr(torch, str(G.graph.get("dtype", "")), None)
        floating = isinstance(named, torch.dtype) and named.is_floating_point
        dtype = named if floating else torch.get_default_dtype()
    ids = _node_ids(G)
    edges = (
        list(G.edges(keys=True, data=True))
        if G.is_multigraph()
        else [(u, v, None, data) for u, v, data in G.edges(data=True)]
    )
    edges = _arc_order(edges)
    n_arcs = len(edges)
    src, dst = np.empty(n_arcs, np.int32), np.empty(n_arcs, np.int32)
    ilabel, olabel = np.empty(n_arcs, np.int32), np.empty(n_arcs, np.int32)
    weight = np.empty(n_arcs, np.float64)
    for a, (u, v, key, data) in enumerate(edges):
        edge = (u, v) if key is None else (u, v, key)
        if "ilabel" not in data:
            raise GraphError(
                f"edge {edge}: missing attribute 'ilabel' (attributes: {sorted(data)})"
            )
        src[a], dst[a] = ids[u], ids[v]
        ilabel[a] = _integer(data["ilabel"], "ilabel", edge)
        olabel[a] = _integer(data.get("olabel", data["ilabel"]), "olabel", edge)
        weight[a] = _number(data.get("weight", 0.0), "weight", f"edge {edge}")
    start = np.full(len(ids), INF)
    final = np.full(len(ids), INF)
    for node, data in G.nodes(data=True):
        start[ids[node]] = _number(data.get("start_weight", INF), "start_weight", f"node {node!r}")
        final[ids[node]] = _number(data.get("final_weight", INF), "final_weight", f"node {node!r}")
    try:
        return Graph(
            len(ids),
            src,
            dst,
            ilabel,
            None if np.array_equal(ilabel, olabel) else olabel,
            torch.from_numpy(weight).to(dtype),
            torch.from_numpy(start).to(dtype),
            torch.from_numpy(final).to(dtype),
            G.graph.get("isymbols"),
            G.graph.get("osymbols"),
        )
    except GraphError as e:
        hint = (
            " (no node has a finite 'start_weight' attribute)" if "no start state" in str(e) else ""
        )
        raise GraphError(f"from_networkx: {e}{hint}") from e


def _integer(value, name: str, edge) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise GraphError(f"edge {edge}: attribute {name!r} must be an integer label, got {value!r}")
    return int(value)


def _number(value, name: str, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise GraphError(f"{where}: attribute {name!r} must be a number, got {value!r}") from None


__all__ = ["from_networkx", "to_networkx"]
