"""The traversal plan that DAG kernels share: a batch packed as ragged arrays, with each graph's
arcs listed in *sorted order*, grouped by source state, sources in topological order.

Kernels work in sorted order so that every pass over the arcs of a state reads contiguous
memory (and vectorises). For a graph whose arcs are already sorted (e.g. a lattice built frame
by frame) the plan reuses its arrays; otherwise the sorted copies of ``src``/``dst`` are cached
on the (immutable) graph, and weights are permuted per call by ``to_sorted``.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from ..graph import Graph, GraphError
from .batch import _cat, offsets
from .jit import PARALLEL_MIN_ARCS, batch_kernel, kernel_helper
from .threads import sync_threads
from .topo import topological_orders


class Plan(NamedTuple):
    """B graphs ready for a `prange` over the batch. Ids are local to each graph.

    Graph b owns nodes node_off[b]:node_off[b+1], arcs arc_off[b]:arc_off[b+1], and the N_b + 1
    entries out_ptr[node_off[b] + b : node_off[b+1] + b + 1]. Its sorted arcs
    out_ptr[i]:out_ptr[i+1] (positions k, local) leave state node_order[i], the i-th state in
    topological order; sorted arc k is the graph's arc arc_order[k], from src[k] to dst[k].
    sorted[b] says arc_order is the identity for graph b; all_sorted that it is for all.
    one_dst[node_off[b] + i] says graph b's i-th state (in topological order) has arcs, all
    into one state: kernels then treat them as one contiguous slice of weights.
    """

    node_off: np.ndarray  # int64 [B+1]
    arc_off: np.ndarray  # int64 [B+1]
    node_order: np.ndarray  # int64 [sum N]
    out_ptr: np.ndarray  # int64 [sum N + B]
    arc_order: np.ndarray  # int64 [sum A]
    src: np.ndarray  # int32 [sum A], sorted order
    dst: np.ndarray  # int32 [sum A], sorted order
    sorted: np.ndarray  # bool [B]
    all_sorted: bool
    one_dst: np.ndarray  # bool [sum N]: the i-th state's arcs all go to one state (a lattice frame)

    @property
    def num_graphs(self) -> int:
        return self.node_off.shape[0] - 1


class Weights(NamedTuple):
    """A plan's energies as the kernels read them: float64, arcs in sorted order."""

    arc: np.ndarray  # float64 [sum A], sorted order
    start: np.ndarray  # float64 [sum N]
    final: np.ndarray  # float64 [sum N]


class Part(NamedTuple):
    """Graph b of a plan with its energies (see :func:`part`); ids local to the graph."""

    node_order: np.ndarray  # int64 [N]: states in topological order
    out_ptr: np.ndarray  # int64 [N+1]: sorted arcs out_ptr[i]:out_ptr[i+1] leave node_order[i]
    arc_order: np.ndarray  # int64 [A]: the graph's own id of each sorted arc
    is_sorted: bool  # arc_order is the identity
    src: np.ndarray  # int32 [A], sorted order
    dst: np.ndarray  # int32 [A], sorted order
    one_dst: np.ndarray  # bool [N]: see Plan
    w: np.ndarray  # float64 [A], sorted order
    sw: np.ndarray  # float64 [N]
    fw: np.ndarray  # float64 [N]


@kernel_helper
def part(plan, weights, b):
    """Graph b of ``plan`` with its slice of ``weights``: the one place where the batch kernels
    cut a packed batch into graphs."""
    n0, n1, a0, a1 = plan.node_off[b], plan.node_off[b + 1], plan.arc_off[b], plan.arc_off[b + 1]
    return Part(
        plan.node_order[n0:n1],
        plan.out_ptr[n0 + b : n1 + b + 1],
        plan.arc_order[a0:a1],
        plan.sorted[b],
        plan.src[a0:a1],
        plan.dst[a0:a1],
        plan.one_dst[n0:n1],
        weights.arc[a0:a1],
        weights.start[n0:n1],
        weights.final[n0:n1],
    )


def _id_ordered(g: Graph) -> bool:
    """Arcs grouped by source id and every arc going to a higher id: then the ids themselves
    are a topological order and the arcs are already sorted (lattices, most built graphs)."""
    return bool(np.all(g.src < g.dst) and np.all(g.src[1:] >= g.src[:-1]))


def _sorted_structure(g: Graph, what: str) -> tuple:
    """(node_order, arc_order, out_ptr, is_sorted, src and dst in sorted order) of one graph."""
    n = g.num_nodes
    if _id_ordered(g):
        node_order, arc_order = np.arange(n, dtype=np.int64), np.arange(g.num_arcs, dtype=np.int64)
    else:
        node_order, arc_order = topological_orders([g], what=what)[0]
    ptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(g.src, minlength=n)[node_order], out=ptr[1:])
    if np.array_equal(arc_order, np.arange(arc_order.shape[0])):
        return node_order, arc_order, ptr, True, g.src, g.dst, _one_dst(ptr, g.dst)
    dst = g.dst[arc_order]
    return node_order, arc_order, ptr, False, g.src[arc_order], dst, _one_dst(ptr, dst)


def _one_dst(out_ptr: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Per state (topological position): it has arcs, and all go to the same state. (numpy,
    not a kernel: a few passes over the arcs, and one compilation less on a first call.)"""
    has_arcs = out_ptr[1:] > out_ptr[:-1]
    if dst.shape[0] == 0:
        return has_arcs
    # changes[k]: how many times dst changes between sorted arcs 0 and k
    changes = np.zeros(dst.shape[0], np.int64)
    np.cumsum(dst[1:] != dst[:-1], out=changes[1:])
    last = np.minimum(out_ptr[1:] - 1, dst.shape[0] - 1)
    first = np.minimum(out_ptr[:-1], dst.shape[0] - 1)
    return has_arcs & (changes[last] == changes[first])


def make_plan(graphs: list[Graph], what: str) -> Plan:
    """Plan for a non-empty list of graphs. Raises GraphError (naming ``what`` and a state on
    the cycle) if a graph is cyclic. Topological orders come from ``gtn._internal.topo`` unless a
    graph's ids already are one (see ``_id_ordered``); either way they are cached."""
    if len(graphs) > 1:  # sort the uncached graphs in one parallel call
        todo = [g for g in graphs if "sorted_arcs" not in g._cache and not _id_ordered(g)]
        try:
            topological_orders(todo, what=what)
        except GraphError:
            pass  # cached; raised below with the graph's index in the batch
    parts = []
    for i, g in enumerate(graphs):
        try:
            parts.append(g.cached("sorted_arcs", lambda g=g: _sorted_structure(g, what)))
        except GraphError as e:
            raise GraphError(f"{e} (graph {i} of the batch)") if len(graphs) > 1 else e from None
    flags = np.asarray([p[3] for p in parts], dtype=np.bool_)
    return Plan(
        offsets([g.num_nodes for g in graphs]),
        offsets([g.num_arcs for g in graphs]),
        _cat([p[0] for p in parts]),
        _cat([p[2] for p in parts]),
        _cat([p[1] for p in parts]),
        _cat([p[4] for p in parts]),
        _cat([p[5] for p in parts]),
        flags,
        bool(flags.all()),
        _cat([p[6] for p in parts]),
    )


def use_threads(plan: Plan) -> None:
    """Follow torch's thread count (see ``threads``), but use no more threads than there
    are graphs, and one for small work (see ``jit``): waking an idle worker costs
    milliseconds when the cores are busy."""
    sync_threads()
    if plan.arc_off[-1] < PARALLEL_MIN_ARCS:
        nb.set_num_threads(1)
    elif 0 < plan.num_graphs < nb.get_num_threads():
        nb.set_num_threads(plan.num_graphs)


@batch_kernel
def _permute(plan, values, out, to_sorted):
    arc_off, arc_order = plan.arc_off, plan.arc_order
    for b in nb.prange(arc_off.shape[0] - 1):
        a0, a1 = arc_off[b], arc_off[b + 1]
        if plan.sorted[b]:
            for k in range(a0, a1):  # a loop: slice assignment compiles numba's error text
                out[k] = values[k]
        elif to_sorted:
            for k in range(a1 - a0):
                out[a0 + k] = values[a0 + arc_order[a0 + k]]
        else:
            for k in range(a1 - a0):
                out[a0 + arc_order[a0 + k]] = values[a0 + k]


def to_sorted(plan: Plan, values: np.ndarray) -> np.ndarray:
    """Per-arc values in sorted order (no copy when every graph is already sorted)."""
    if plan.all_sorted:
        return values
    out = np.empty_like(values)
    use_threads(plan)
    _permute(plan, values, out, True)
    return out


def from_sorted(plan: Plan, values: np.ndarray, out: np.ndarray) -> None:
    """Write per-arc values given in sorted order into ``out`` in the graphs' own arc order."""
    if plan.all_sorted:
        if out is not values:
            out[:] = values
        return
    use_threads(plan)
    _permute(plan, values, out, False)
