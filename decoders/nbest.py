"""The n lowest-energy distinct output sequences of a lattice.

A lattice holds many paths per output sequence (one per alignment), so the n best paths are
usually n alignments of one answer. Instead, the k-th best distinct output is the best path of
the lattice composed with an acceptor of every sequence except the k-1 already found (a trie of
them whose missing branches escape to an accepting sink): exact, n compositions, and no
enumeration of alignments. Energies are lower-is-better; an output's energy is the lowest
energy of a path that produces it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import gtn

Output = tuple[int, ...]


def exclusion_acceptor(excluded: Sequence[Sequence[int]], alphabet: np.ndarray) -> gtn.Graph:
    """A deterministic acceptor, all energies 0, of every sequence over ``alphabet`` except the
    ``excluded`` ones (a set version of ``gtn.complement``).

    Args:
        excluded: label sequences (labels in ``alphabet``).
        alphabet: int [V'] distinct labels >= 0.

    >>> g = exclusion_acceptor([(1,), (1, 2)], np.array([1, 2]))
    >>> g.num_nodes  # root, "1", "1 2" and the sink
    4
    """
    children: list[dict[int, int]] = [{}]
    ends = {0} if any(len(seq) == 0 for seq in excluded) else set()
    for seq in excluded:
        node = 0
        for label in seq:
            nxt = children[node].get(int(label))
            if nxt is None:
                nxt = len(children)
                children[node][int(label)] = nxt
                children.append({})
            node = nxt
        ends.add(node)
    sink = len(children)
    alphabet = np.asarray(alphabet, dtype=np.int64)
    v = alphabet.shape[0]
    src = np.repeat(np.arange(sink + 1, dtype=np.int64), v)
    labels = np.tile(alphabet, sink + 1)
    dst = np.full(src.shape[0], sink, np.int64)
    for node, kids in enumerate(children):
        for label, child in kids.items():
            dst[node * v + int(np.searchsorted(alphabet, label))] = child
    finals = [s for s in range(sink + 1) if s not in ends]
    return gtn.Graph.from_arrays(sink + 1, src, dst, labels, start=[0], final=finals)


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
        rest = gtn.compose(graph, exclusion_acceptor([out for out, _ in found], alphabet))
        if rest.num_nodes == 0:
            break
        energy = float(gtn.min_energy(rest))
        if energy == float("inf"):
            break
        found.append((output_labels(rest, gtn.best_path_arcs(rest)), energy))
    return found
