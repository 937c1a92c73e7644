"""Lattices: the part of emissions x decoding graph that the beam search explored, as a
``gtn.Graph`` with the frame of every state.

A lattice arc is either emitting (input label = the decoding graph's label, energy = graph arc
energy + the frame's emission energy for that label) or input-epsilon (energy = graph arc
energy); output labels are the decoding graph's. A lattice path's energy is therefore exactly the
energy of the same path in ``compose(emission_graph(emissions), graph)``. States are numbered in
topological order. Rescore a lattice by composing it with other graphs (:func:`decoders.rescore`);
:meth:`Lattice.from_graph` recovers the frames of any such graph.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

import gtn

from . import _lattice_kernels as K
from .search_layout import SearchGraph


@dataclass(frozen=True, eq=False)
class Lattice:
    """A lattice graph and its state times.

    Attributes:
        graph: acyclic ``gtn.Graph`` [N states] over the decoding graph's input / output labels
            (with its symbol tables), float64 energies.
        times: int64 [N], frames consumed before each state (0 at the start, T at the end).
    """

    graph: gtn.Graph
    times: np.ndarray

    @property
    def num_frames(self) -> int:
        return int(self.times.max()) if self.times.size else 0

    @classmethod
    def from_graph(cls, graph: gtn.Graph) -> Lattice:
        """Wrap a lattice-like acyclic graph (e.g. a lattice composed with a language model),
        computing each state's time as the number of non-epsilon input labels before it.

        Raises:
            GraphError: the graph is cyclic, or two paths reach a state after different
                numbers of frames.
        """
        return cls(graph, lattice_times(graph))


def lattice_times(graph: gtn.Graph) -> np.ndarray:
    """int64 [N]: frames (non-epsilon input labels) consumed on any path from a start state to
    each state; -1 for states no start reaches. See :meth:`Lattice.from_graph` for errors."""
    is_start = torch.isfinite(graph.start_weight.detach()).numpy()
    times, bad, cycle = K.state_times(
        graph.num_nodes,
        np.ascontiguousarray(graph.src),  # as stored: the same compilation as other kernels'
        np.ascontiguousarray(graph.dst),
        np.ascontiguousarray(graph.ilabel),
        is_start,
    )
    if cycle >= 0:
        raise gtn.GraphError(f"lattice is cyclic (state {cycle} is on a cycle)")
    if bad >= 0:
        raise gtn.GraphError(
            f"lattice state {bad} is reached after different numbers of frames; "
            "it is not a lattice of one utterance"
        )
    return times


def build_lattice(
    sg: SearchGraph,
    tok_state: np.ndarray,
    frame_off: np.ndarray,
    order: np.ndarray,
    arcs: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    lattice_beam: float,
) -> Lattice:
    """The lattice of a beam search, pruned to paths within ``lattice_beam`` of the best.

    Args:
        sg: the decoding graph.
        tok_state: int64 [K] graph state of each token; frame_off: int64 [T+2] token offsets.
        order: int64 [K] the tokens in a topological order of the arcs, frame by frame.
        arcs: (src token, dst token, graph arc) int64 [M] and energy float64 [M].
    """
    src, dst, arc, energy = arcs
    num_frames = frame_off.shape[0] - 2
    counts = np.diff(frame_off)
    tok_frame = np.repeat(np.arange(num_frames + 1, dtype=np.int64), counts)
    start_w = np.where(tok_frame == 0, sg.arrays.start_weight[tok_state], np.inf)
    final_w = np.where(tok_frame == num_frames, sg.arrays.final_weight[tok_state], np.inf)
    new_id, kept, _ = K.prune(order, start_w, final_w, src, dst, energy, float(lattice_beam))
    tokens = order[new_id[order] >= 0]  # the kept tokens by new id (numbered in this order)
    g = sg.graph
    graph_arc = arc[kept]
    lattice = gtn.Graph(
        tokens.shape[0],
        new_id[src[kept]].astype(np.int32),
        new_id[dst[kept]].astype(np.int32),
        g.ilabel[graph_arc],
        g.olabel[graph_arc],
        *(torch.from_numpy(x) for x in (energy[kept], start_w[tokens], final_w[tokens])),
        g.isymbols,
        g.osymbols,
    )
    return Lattice(lattice, tok_frame[tokens])
