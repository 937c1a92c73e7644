"""The n lowest-energy distinct output sequences of a lattice.

A lattice holds many paths per output sequence (one per alignment), so the n best paths are
usually n alignments of one answer. Instead, the k-th best distinct output is the best path of
the lattice whose output is none of the k-1 already found: a search over (lattice state, node
of a trie of those outputs) pairs whose missing branches escape to an accepting sink
(:mod:`decoders._posterior_kernels`), the composition with ``gtn.complement_set`` without
building it. Exact, n searches, and no enumeration of alignments. An output's energy is the
lowest energy of a path that produces it.
"""

from __future__ import annotations

import numpy as np

import gtn

from ._posterior_kernels import pair_pass, trie
from .posteriors import check_acyclic, lattice_arrays

Output = tuple[int, ...]


def output_labels(graph: gtn.Graph, arcs: np.ndarray) -> Output:
    labels = graph.olabel[arcs]
    return tuple(int(x) for x in labels[labels != gtn.EPSILON])


def distinct_outputs(
    graph: gtn.Graph, n: int, first: tuple[Output, float] | None = None
) -> list[tuple[Output, float]]:
    """The ``n`` lowest-energy distinct output sequences of an acyclic graph, best first, as
    (output labels, energy); fewer when the graph has fewer. Ties between paths of equal
    energy are broken deterministically (starting at a state before arriving by an arc, then
    the lower arc id).

    Args:
        graph: a lattice (acyclic transducer); outputs are its output labels, epsilons removed.
        first: the best (output, energy) if already known.

    Raises:
        GraphError: the graph is cyclic.
    """
    if n <= 0 or graph.num_nodes == 0:
        return []
    lat = lattice_arrays(graph)
    found: list[tuple[Output, float]] = [] if first is None else [first]
    while len(found) < n:
        outside = trie([o for o, _ in found], complement=True)
        energy, _, cycle, arcs = pair_pass(lat, outside, np.inf, np.inf)
        check_acyclic("n-best outputs", cycle)
        if energy == np.inf:
            break
        found.append((output_labels(graph, arcs), float(energy)))
    return found
