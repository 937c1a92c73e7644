"""Test-only brute force: every alignment of T frames through a small graph, in plain Python."""

from __future__ import annotations

import math

import numpy as np
import torch
from hypothesis import strategies as st

import gtn

INF = math.inf


def alignments(g: gtn.Graph, em, T: int) -> list[tuple[float, tuple, tuple]]:
    """(energy, label per frame, arcs used) for every complete path consuming T labels."""
    w = g.weight.detach().double().tolist()
    sw = g.start_weight.detach().double().tolist()
    fw = g.final_weight.detach().double().tolist()
    em = em.detach().double().tolist()
    out_arcs: dict[int, list[int]] = {}
    for i in range(g.num_arcs):
        out_arcs.setdefault(int(g.src[i]), []).append(i)
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


@st.composite
def dense_graphs(
    draw,
    max_nodes: int = 4,
    max_arcs: int = 8,
    num_labels: int = 3,
    epsilon: bool = True,
    dtype=torch.float64,
):
    """Random acceptors: emitting arcs anywhere (cycles allowed), epsilon arcs only from lower
    to higher node ids so that they are acyclic."""
    n = draw(st.integers(1, max_nodes))
    src, dst, lab = [], [], []
    for _ in range(draw(st.integers(0, max_arcs))):
        s, d = draw(st.integers(0, n - 1)), draw(st.integers(0, n - 1))
        label = draw(st.integers(-1 if epsilon and s < d else 0, num_labels - 1))
        src.append(s)
        dst.append(d)
        lab.append(label)
    w = [draw(st.integers(-8, 8)) / 4 for _ in src]
    sw = np.full(n, INF)
    fw = np.full(n, INF)
    for s in draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2, unique=True)):
        sw[s] = draw(st.sampled_from([0.0, 0.5, -0.25]))
    for f in draw(st.lists(st.integers(0, n - 1), min_size=0, max_size=3, unique=True)):
        fw[f] = draw(st.sampled_from([0.0, 0.75, -0.5]))
    return gtn.Graph(
        n,
        src,
        dst,
        lab,
        lab,
        torch.tensor(w, dtype=dtype),
        torch.tensor(sw, dtype=dtype),
        torch.tensor(fw, dtype=dtype),
    )
