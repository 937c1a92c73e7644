"""Test-only brute force: every alignment of T frames through a small graph, in plain Python."""

from __future__ import annotations

import functools
import math

import numpy as np

import gtn
from tests.gtn.reference import plain
from tests.gtn.strategies import graphs, stress_graphs

INF = math.inf


def alignments(g: gtn.Graph, em, T: int) -> list[tuple[float, tuple, tuple]]:
    """(energy, label per frame, arcs used) for every complete path consuming T labels."""
    w, sw, fw, out_arcs = plain(g)
    em = em.detach().double().tolist()
    found = []

    def walk(node, t, energy, labels, arcs):
        if t == T and fw[node] != INF:
            found.append((energy + fw[node], tuple(labels), tuple(arcs)))
        for a in out_arcs.get(node, []):
            lab = int(g.ilabel[a])
            if lab == gtn.EPSILON:
                walk(int(g.dst[a]), t, energy + w[a], labels, arcs + [a])
            elif t < T:
                walk(int(g.dst[a]), t + 1, energy + w[a] + em[t][lab], labels + [lab], arcs + [a])

    for s in range(g.num_nodes):
        if sw[s] != INF:
            walk(s, 0, sw[s], [], [])
    return [p for p in found if p[0] < INF]


def free_energy(paths, beta: float = 1.0) -> float:
    if not paths:
        return INF
    m = min(p[0] for p in paths)
    return m - math.log(sum(math.exp(-beta * (p[0] - m)) for p in paths)) / beta


def label_posteriors(paths, T: int, V: int, beta: float = 1.0) -> np.ndarray:
    out = np.zeros((T, V))
    if not paths:
        return out
    F = free_energy(paths, beta)
    for e, labels, _ in paths:
        p = math.exp(-beta * (e - F))
        for t, lab in enumerate(labels):
            out[t, lab] += p
    return out


def arc_counts(paths, num_arcs: int, beta: float = 1.0) -> np.ndarray:
    out = np.zeros(num_arcs)
    if not paths:
        return out
    F = free_energy(paths, beta)
    for e, _, arcs in paths:
        for a in arcs:
            out[a] += math.exp(-beta * (e - F))
    return out


dense_graphs = functools.partial(
    graphs, max_nodes=4, max_arcs=8, acceptor=True, acyclic=False, epsilon_cycles=False
)
"""Random acceptors: emitting arcs anywhere (cycles allowed), epsilon arcs only from lower to
higher node ids (before the ids are shuffled) so that they are acyclic."""

stress_dense_graphs = functools.partial(
    stress_graphs, max_nodes=4, max_arcs=8, acceptor=True, acyclic=False, epsilon_cycles=False
)
"""dense_graphs with arc energies up to +-1e30 (see ``stress_graphs``)."""


def log_path_count(g: gtn.Graph, T: int) -> float:
    """log of the number of paths consuming T labels (any labels: an upper bound on the
    alignments of any emissions), counted exactly with integers."""
    w, sw, fw, out_arcs = plain(g)
    # count[v]: paths from a start state to v after t frames
    count = [1 if x != INF else 0 for x in sw]
    count = _eps_paths(g, count, out_arcs, w)
    for _ in range(T):
        nxt = [0] * g.num_nodes
        for s, arcs in out_arcs.items():
            for a in arcs:
                if int(g.ilabel[a]) != gtn.EPSILON and w[a] != INF:
                    nxt[int(g.dst[a])] += count[s]
        count = _eps_paths(g, nxt, out_arcs, w)
    total = sum(c for c, f in zip(count, fw, strict=True) if f != INF)
    return math.log(total) if total else -INF


def _eps_paths(g, count, out_arcs, w):
    """Paths ending at each state after any number of (acyclic) epsilon arcs."""
    total = list(count)
    frontier = list(count)
    for _ in range(g.num_nodes):
        nxt = [0] * g.num_nodes
        for s, arcs in out_arcs.items():
            for a in arcs:
                if int(g.ilabel[a]) == gtn.EPSILON and w[a] != INF:
                    nxt[int(g.dst[a])] += frontier[s]
        if not any(nxt):
            break
        total = [x + y for x, y in zip(total, nxt, strict=True)]
        frontier = nxt
    return total
