"""A decoding graph laid out for token passing: arcs in CSR form by source state, split into
emitting arcs (an input label, consuming one frame) and input-epsilon arcs (consuming none).

Weights are energies. Arcs of energy +inf are absent and dropped. The
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

# Row names of DecodingGraph's int64 blocks.
EMIT, EPS = 0, 1  # ptr
DST, ARC, LABEL = 0, 1, 2  # emit (all three), eps (DST and ARC)
RANK, STATE = 0, 1  # rank


class DecodingGraph(NamedTuple):
    """The arrays the beam search reads, in CSR form by source state (N states), as a few 2-D
    blocks (each array a numba kernel holds costs compilation time).

    Attributes:
        ptr: int64 [2, N+1]: state s's emitting arcs are columns ptr[EMIT, s]:ptr[EMIT, s+1]
            of ``emit``, its input-epsilon arcs ptr[EPS, s]:ptr[EPS, s+1] of ``eps``.
        emit: int64 [3, E], the emitting arcs' destination state, arc id in the source graph
            and input label (rows DST, ARC, LABEL).
        emit_weight: float64 [E] their energies.
        eps: int64 [2, E'], rows DST, ARC of the input-epsilon arcs.
        eps_weight: float64 [E'] their energies.
        rank: int64 [2, N]: each state's position in a topological order of the epsilon arcs
            (row RANK), and the state at each position (row STATE).
        start_weight, final_weight: float64 [N] (+inf: not a start / final state).
    """

    ptr: np.ndarray
    emit: np.ndarray
    emit_weight: np.ndarray
    eps: np.ndarray
    eps_weight: np.ndarray
    rank: np.ndarray
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
    return g.cached("decoders.search_graph", lambda: _build(g))


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
    rank = np.empty((2, n), np.int64)
    rank[STATE] = rank_state
    rank[RANK, rank_state] = np.arange(n)
    labels = g.ilabel[emit_arc]
    arrays = DecodingGraph(
        ptr=np.stack([emit_ptr, eps_ptr]).astype(np.int64),
        emit=np.stack([g.dst[emit_arc], emit_arc, labels]).astype(np.int64),
        emit_weight=np.ascontiguousarray(weight[emit_arc]),
        eps=np.stack([eps_dst, eps_arc]).astype(np.int64),
        eps_weight=np.ascontiguousarray(weight[eps_arc]),
        rank=rank,
        start_weight=g.start_weight.detach().double().numpy().copy(),
        final_weight=g.final_weight.detach().double().numpy().copy(),
    )
    return SearchGraph(g, int(labels.max()) + 1 if labels.size else 0, arrays)
