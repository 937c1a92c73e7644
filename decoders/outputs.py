"""The n lowest-energy distinct output sequences of a lattice.

A lattice holds many paths per output sequence (one per alignment), so the n best paths are
usually n alignments of one answer. Instead, the k-th best distinct output is the best path of
the lattice composed with an acceptor of every sequence except the k-1 already found (a trie of
them whose missing branches escape to an accepting sink): exact, n compositions, and no
enumeration of alignments. Energies are lower-is-better; an output's energy is the lowest
energy of a path that produces it.
"""

from __future__ import annotations

import numpy as np

import gtn

Output = tuple[int, ...]


def output_labels(graph: gtn.Graph, arcs: np.ndarray) -> Output:
    labels = graph.olabel[arcs]
    return tuple(int(x) for x in labels[labels != gtn.EPSILON])


def distinct_outputs(
    graph: gtn.Graph, n: int, first: tuple[Output, float] | None = None
) -> list[tuple[Output, float]]:
    """The ``n`` lowest-energy distinct output sequences of an acyclic graph, best first, as
    (output labels, energy); fewer when the graph has fewer. Ties are broken by gtn's
    deterministic best path.

    Args:
        graph: a lattice (acyclic transducer); outputs are its output labels, epsilons removed.
        first: the best (output, energy) if already known.
    """
    graph = graph.detach()
    if n <= 0 or graph.num_nodes == 0:
        return []
    found: list[tuple[Output, float]] = []
    if first is None:
        energy = float(gtn.min_energy(graph))
        if energy == float("inf"):
            return []
        first = (output_labels(graph, gtn.best_path_arcs(graph)), energy)
    found.append(first)
    alphabet = np.unique(graph.olabel[graph.olabel != gtn.EPSILON]).astype(np.int64)
    while len(found) < n:
        rest = gtn.compose(graph, gtn.complement_set([out for out, _ in found], alphabet))
        if rest.num_nodes == 0:
            break
        energy = float(gtn.min_energy(rest))
        if energy == float("inf"):
            break
        found.append((output_labels(rest, gtn.best_path_arcs(rest)), energy))
    return found
