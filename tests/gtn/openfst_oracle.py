"""Test-only bridge to OpenFst (kaldifst), the differential oracle.

OpenFst reserves label 0 for epsilon: our label k becomes k + 1 and EPSILON becomes 0."""

from __future__ import annotations

import kaldifst
import torch

import gtn

INF = float("inf")


def to_openfst(g: gtn.Graph) -> kaldifst.StdVectorFst:
    """OpenFst reserves label 0 for epsilon: our label k becomes k + 1, EPSILON becomes 0.
    Several or weighted start states go through a new start state with epsilon arcs."""
    f = kaldifst.StdVectorFst()
    for _ in range(g.num_nodes):
        f.add_state()
    starts = g.start_nodes.tolist()
    sw = g.start_weight.tolist()
    if len(starts) == 1 and sw[starts[0]] == 0:
        f.start = starts[0]
    elif starts:
        f.start = f.add_state()
        for s in starts:
            f.add_arc(f.start, kaldifst.StdArc(0, 0, sw[s], s))
    fw = g.final_weight.tolist()
    for s in g.final_nodes.tolist():
        f.set_final(s, fw[s])
    for arc in g.arcs():
        f.add_arc(arc.src, kaldifst.StdArc(arc.ilabel + 1, arc.olabel + 1, arc.weight, arc.dst))
    return f


def from_openfst(f) -> gtn.Graph:
    n = f.num_states
    src, dst, il, ol, w = [], [], [], [], []
    final = [INF] * n
    for s in range(n):
        final[s] = float(f.final(s).value)
        it = kaldifst.ArcIterator(f, s)
        while not it.done:
            arc = it.value
            src.append(s), dst.append(arc.nextstate), w.append(float(arc.weight.value))
            il.append(arc.ilabel - 1), ol.append(arc.olabel - 1)
            it.next()
    start = [INF] * n
    if n:
        start[f.start] = 0.0
    return gtn.Graph(
        n,
        src,
        dst,
        il,
        ol,
        torch.tensor(w, dtype=torch.float64),
        torch.tensor(start, dtype=torch.float64),
        torch.tensor(final, dtype=torch.float64),
    )
