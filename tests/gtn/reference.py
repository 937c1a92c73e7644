"""Test-only references: brute-force path enumeration over small graphs.

Everything here is deliberately naive (plain Python: float64, or exact fractions and mpmath in
:func:`exact`) so that it shares no code with the kernels it checks."""

from __future__ import annotations

import math
from collections import Counter
from fractions import Fraction
from typing import NamedTuple

import gtn

INF = math.inf


class Plain(NamedTuple):
    """A graph as plain Python (float64 energies), for walking it naively."""

    weight: list[float]
    start: list[float]
    final: list[float]
    out_arcs: dict[int, list[int]]  # node -> its outgoing arcs, in arc order


def plain(g: gtn.Graph) -> Plain:
    """Arc, start and final energies of ``g`` as lists, and each node's outgoing arcs."""
    out_arcs: dict[int, list[int]] = {}
    for i in range(g.num_arcs):
        out_arcs.setdefault(int(g.src[i]), []).append(i)
    return Plain(
        g.weight.detach().double().tolist(),
        g.start_weight.detach().double().tolist(),
        g.final_weight.detach().double().tolist(),
        out_arcs,
    )


class Path(NamedTuple):
    arcs: tuple[int, ...]
    ilabels: tuple[int, ...]  # epsilons removed
    olabels: tuple[int, ...]
    energy: float


def enumerate_paths(g: gtn.Graph, max_arcs: int = 12) -> list[Path]:
    """Every complete start->final path with at most ``max_arcs`` arcs (all paths of a DAG when
    max_arcs >= num_nodes). Paths through +inf weights are left out."""
    w, sw, fw, out_arcs = plain(g)
    paths: list[Path] = []

    def walk(node: int, arcs: list[int], energy: float) -> None:
        if fw[node] != INF:
            il = tuple(int(g.ilabel[a]) for a in arcs if g.ilabel[a] != gtn.EPSILON)
            ol = tuple(int(g.olabel[a]) for a in arcs if g.olabel[a] != gtn.EPSILON)
            paths.append(Path(tuple(arcs), il, ol, energy + fw[node]))
        if len(arcs) >= max_arcs:
            return
        for a in out_arcs.get(node, []):
            if w[a] == INF:
                continue
            arcs.append(a)
            walk(int(g.dst[a]), arcs, energy + w[a])
            arcs.pop()

    for s in range(g.num_nodes):
        if sw[s] != INF:
            walk(s, [], sw[s])
    return paths


def free_energy(paths: list[Path], beta: float = 1.0) -> float:
    if not paths:
        return INF
    m = min(p.energy for p in paths)
    return m - math.log(sum(math.exp(-beta * (p.energy - m)) for p in paths)) / beta


def min_energy(paths: list[Path]) -> float:
    return min((p.energy for p in paths), default=INF)


def string_energies(paths: list[Path], beta: float | None = None) -> dict:
    """Map (ilabels, olabels) -> energy, combining paths with min (beta None) or log-sum-exp."""
    groups: dict = {}
    for p in paths:
        groups.setdefault((p.ilabels, p.olabels), []).append(p)
    if beta is None:
        return {k: min_energy(v) for k, v in groups.items()}
    return {k: free_energy(v, beta) for k, v in groups.items()}


def label_multiset(paths: list[Path], digits: int = 6) -> Counter:
    """Multiset of (ilabels, olabels, rounded energy): equal iff two graphs have the same paths."""
    return Counter((p.ilabels, p.olabels, round(p.energy, digits)) for p in paths)


class Exact(NamedTuple):
    """Free energy and posteriors of a graph's float weights, computed without rounding the
    path energies (fractions) and with 200-digit exps and logs (mpmath): the truth the float64
    kernels approximate, however large the energies or beta."""

    free: float  # +inf without a complete path
    arcs: list[float]  # posterior of each arc
    start: list[float]  # of each start weight
    final: list[float]  # of each final weight


def exact(g: gtn.Graph, beta: float) -> Exact:
    import mpmath

    w, sw, fw, out_arcs = plain(g)
    found: list[tuple[Fraction, tuple[int, ...], int, int]] = []  # energy, arcs, first, last

    def walk(first: int, node: int, arcs: list[int], energy: Fraction) -> None:
        if fw[node] != INF:
            found.append((energy + Fraction(fw[node]), tuple(arcs), first, node))
        for a in out_arcs.get(node, []):
            if w[a] != INF:
                arcs.append(a)
                walk(first, int(g.dst[a]), arcs, energy + Fraction(w[a]))
                arcs.pop()

    for s in range(g.num_nodes):
        if sw[s] != INF:
            walk(s, s, [], Fraction(sw[s]))
    arcs, start, final = [0.0] * g.num_arcs, [0.0] * g.num_nodes, [0.0] * g.num_nodes
    if not found:
        return Exact(INF, arcs, start, final)
    with mpmath.workdps(200):

        def mpf(x: Fraction):
            return mpmath.mpf(x.numerator) / x.denominator

        low = min(e for e, *_ in found)
        b = mpmath.mpf(beta)
        terms = [mpmath.exp(-b * mpf(e - low)) for e, *_ in found]  # exact differences
        z = mpmath.fsum(terms)
        free = mpf(low) - mpmath.log(z) / b
        post_a = [mpmath.mpf(0)] * g.num_arcs
        post_s = [mpmath.mpf(0)] * g.num_nodes
        post_f = [mpmath.mpf(0)] * g.num_nodes
        for term, (_, path, first, last) in zip(terms, found, strict=True):
            p = term / z
            for a in path:
                post_a[a] += p
            post_s[first] += p
            post_f[last] += p
        return Exact(float(free), *([float(x) for x in xs] for xs in (post_a, post_s, post_f)))


def largest_partial_energy(g: gtn.Graph) -> float:
    """The largest |energy| of a path prefix (start weight included) or complete path: what
    the kernels' rounding is relative to."""
    w, sw, fw, out_arcs = plain(g)
    top = 0.0

    def walk(node: int, energy: float) -> None:
        nonlocal top
        top = max(top, abs(energy))
        if fw[node] != INF:
            top = max(top, abs(energy + fw[node]))
        for a in out_arcs.get(node, []):
            if w[a] != INF:
                walk(int(g.dst[a]), energy + w[a])

    for s in range(g.num_nodes):
        if sw[s] != INF:
            walk(s, sw[s])
    return top
