"""A decoding graph laid out for token passing: arcs in CSR form by source state, split into
emitting arcs (an input label, consuming one frame) and input-epsilon arcs (consuming none).

Weights are energies (lower is better). Arcs of energy +inf are absent and dropped. The
input-epsilon arcs alone must form no cycle: states get a rank in a topological order of that
subgraph, so one pass over a frame's states in rank order completes its epsilon closure (and
the lattice stays acyclic).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

import gtn
from gtn.utils import csr, topological_order

_CACHE_KEY = "decoders.search_graph"


class DecodingGraph(NamedTuple):
    """The arrays the beam search reads, in CSR form by source state (N states).

    Attributes:
        emit_ptr: int64 [N+1]; emitting arcs of state s are ``emit_ptr[s]:emit_ptr[s+1]``.
        emit_dst, emit_label, emit_arc: int64 [E] destination, input label, arc id in ``graph``.
        emit_weight: float64 [E] arc energies.
        eps_ptr, eps_dst, eps_arc, eps_weight: the same for input-epsilon arcs.
        eps_rank: int64 [N], position of each state in a topological order of the epsilon arcs;
            rank_state: int64 [N], its inverse.
        start_weight, final_weight: float64 [N] (+inf: not a start / final state).
    """

    emit_ptr: np.ndarray
    emit_dst: np.ndarray
    emit_label: np.ndarray
    emit_arc: np.ndarray
    emit_weight: np.ndarray
    eps_ptr: np.ndarray
    eps_dst: np.ndarray
    eps_arc: np.ndarray
    eps_weight: np.ndarray
    eps_rank: np.ndarray
    rank_state: np.ndarray
    start_weight: np.ndarray
    final_weight: np.ndarray


@dataclass(frozen=True, eq=False)
class SearchGraph:
    """One ``gtn.Graph`` (a transducer from labels to output symbols) laid out for the search.

    Attributes:
        graph: the source graph (labels, symbol tables and arc ids refer to it).
        num_labels: 1 + the largest input label; emissions need at least this many columns.
        arrays: its :class:`DecodingGraph`.
    """

    graph: gtn.Graph
    num_labels: int
    arrays: DecodingGraph

    @property
    def num_states(self) -> int:
        return int(self.arrays.start_weight.shape[0])


def search_graph(g: gtn.Graph | SearchGraph) -> SearchGraph:
    """The :class:`SearchGraph` of ``g`` (computed once per graph and cached on it).

    Raises:
        GraphError: the input-epsilon arcs form a cycle (names a state on it).
    """
    if isinstance(g, SearchGraph):
        return g
    if not isinstance(g, gtn.Graph):
        raise gtn.GraphError(f"expected a gtn.Graph decoding graph, got {type(g).__name__}")
    return g.cached(_CACHE_KEY, lambda: _build(g))


def _build(g: gtn.Graph) -> SearchGraph:
    n = g.num_nodes
    weight = g.weight.detach().double().numpy()
    usable = np.isfinite(weight)
    is_eps = g.ilabel == gtn.EPSILON
    emit_ptr, emit_arc = csr(n, g.src, usable & ~is_eps)
    eps_ptr, eps_arc = csr(n, g.src, usable & is_eps)
    eps_dst = g.dst[eps_arc].astype(np.int64)
    rank_state = np.empty(n, np.int64)
    on_cycle = topological_order(
        n, g.src[eps_arc], g.dst[eps_arc], rank_state, np.empty(eps_arc.shape[0], np.int64)
    )
    if on_cycle >= 0:
        raise gtn.GraphError(
            f"decoding graph: input-epsilon arcs form a cycle (state {on_cycle} is on it); "
            "the beam search needs them acyclic, as they consume no frame"
        )
    eps_rank = np.empty(n, np.int64)
    eps_rank[rank_state] = np.arange(n)
    labels = g.ilabel[emit_arc]
    arrays = DecodingGraph(
        emit_ptr=emit_ptr,
        emit_dst=g.dst[emit_arc].astype(np.int64),
        emit_label=labels.astype(np.int64),
        emit_arc=emit_arc,
        emit_weight=np.ascontiguousarray(weight[emit_arc]),
        eps_ptr=eps_ptr,
        eps_dst=eps_dst,
        eps_arc=eps_arc,
        eps_weight=np.ascontiguousarray(weight[eps_arc]),
        eps_rank=eps_rank,
        rank_state=rank_state,
        start_weight=g.start_weight.detach().double().numpy().copy(),
        final_weight=g.final_weight.detach().double().numpy().copy(),
    )
    return SearchGraph(g, int(labels.max()) + 1 if labels.size else 0, arrays)
