"""Epsilon removal: an equivalent graph without epsilon arcs, differentiable in every energy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._internal import weight_tape as tape_ops
from ._internal.arc_map import gather
from ._internal.batch import as_batch, unbatch
from ._internal.epsilon_kernels import remove_epsilon_one
from .graph import EPSILON, INF, Graph, GraphError
from .semiring import TROPICAL, Semiring, as_semiring
from .utils import topological_order


def epsilon_arcs(g: Graph) -> np.ndarray:
    """bool [A]: arcs whose input and output labels are both ``EPSILON``."""
    return (g.ilabel == EPSILON) & (g.olabel == EPSILON)


def remove_epsilon(
    graphs: Graph | Sequence[Graph], semiring: Semiring | str = TROPICAL
) -> Graph | list[Graph]:
    """Remove epsilon arcs, keeping the weighted language (OpenFst's RmEpsilon).

    An epsilon arc has ``EPSILON`` as both input and output label; arcs with one epsilon side
    of a transducer are ordinary arcs and stay. Every node p keeps its id and start energy; for
    each node q in p's epsilon closure, with closure distance d(p, q) = (+) over epsilon paths
    p -> q of their energies, each non-epsilon arc q -> r of energy w gives an arc p -> r of
    energy d(p, q) + w, and p's final energy becomes (+)_q d(p, q) + final(q). So each
    (input, output) string keeps its energy in ``semiring``: the minimum path energy under
    ``TROPICAL``, the free energy -(1/beta) log sum exp(-beta E) under ``log_semiring(beta)``.
    Energies are lower-is-better throughout. Nodes that only epsilon arcs reached may become
    unreachable; they are kept (trim them with ``connect``).

    Cyclic graphs are supported as long as the epsilon arcs alone form no cycle; an epsilon
    cycle raises :class:`GraphError` naming a node on it. A graph without epsilon arcs is
    returned unchanged. The output has one arc per (node, closure member, non-epsilon arc of
    the member), so a long epsilon chain makes it quadratic in size; parallel arcs are kept.

    Gradients: output energies are exact functions of the input arc, start and final energies.
    Under ``TROPICAL`` each closure distance is one argmin epsilon path (first minimum in
    epsilon-topological order on ties), so gradients are path indicators; under the log
    semiring they are the softmin (posterior) weights of the epsilon paths. The numba kernel
    records how each distance was formed and a custom autograd function replays it in float64
    (first derivatives only).

    Args:
        graphs: a graph or a list of graphs (processed one kernel call per graph, then one
            batched weight evaluation: this is not a training hot path).
        semiring: ``gtn.TROPICAL`` (default) or a log semiring.

    Returns:
        The epsilon-free graph(s), with the input's symbol tables.

    >>> import gtn
    >>> g = gtn.Graph.from_arrays(3, [0, 1], [1, 2], [gtn.EPSILON, 0], weight=[1.0, 2.0])
    >>> [(a.src, a.dst, a.ilabel, a.weight) for a in remove_epsilon(g).arcs()]
    [(0, 2, 0, 3.0), (1, 2, 0, 2.0)]
    """
    gs, single = as_batch(graphs, "remove_epsilon")
    sr = as_semiring(semiring)
    out = list(gs)
    todo = [b for b, g in enumerate(gs) if epsilon_arcs(g).any()]

    def record(k: int, g: Graph, x: np.ndarray) -> tuple:
        return _closure(g, x, todo[k], len(gs), sr)

    values, built = tape_ops.record_and_replay([gs[b] for b in todo], record, sr)
    for b, ((src, dst, il, ol, wa, wb, final), at) in zip(todo, built, strict=True):
        g = gs[b]
        il = il.astype(np.int32)
        out[b] = g._derive(
            src=src.astype(np.int32),
            dst=dst.astype(np.int32),
            ilabel=il,
            olabel=il if g.is_acceptor() else ol.astype(np.int32),
            weight=gather(values, at(wa), INF) + gather(values, at(wb)),
            start_weight=gather(values, at(np.arange(g.num_arcs, g.num_arcs + g.num_nodes))),
            final_weight=gather(values, at(final), INF),
        )
    return unbatch(out, single)


def _closure(g: Graph, x: np.ndarray, b: int, batch_size: int, sr: Semiring) -> tuple:
    """Run the kernel on one graph: ((src, dst, ilabel, olabel, weight_a, weight_b, final),
    tape builder)."""
    eps = epsilon_arcs(g)
    order = np.empty(g.num_nodes, np.int64)
    cycle_node = topological_order(
        g.num_nodes, g.src[eps], g.dst[eps], order, np.empty(int(eps.sum()), np.int64)
    )
    if cycle_node >= 0:
        where = f"graph {b} " if batch_size > 1 else ""
        raise GraphError(
            f"remove_epsilon: {where}has an epsilon cycle through node {cycle_node}; "
            "epsilon arcs must form no cycle"
        )
    rank = np.empty(g.num_nodes, np.int64)
    rank[order] = np.arange(g.num_nodes)  # position in a topological order of the epsilon arcs
    res = remove_epsilon_one(
        g.num_nodes, g.src, g.dst, g.ilabel, g.olabel, x, rank, sr.code, sr.beta
    )
    return res[:7], res[7]
