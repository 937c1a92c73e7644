"""Lattice x output-automaton kernels (numba): the free energy of the paths whose output is one
given sequence, and the best path whose output is none of a set of sequences, without building
the composition with the automaton, a :class:`Trie` (:func:`trie`).

One dynamic program (:func:`pair_pass`) runs over the (lattice state, trie node) pairs some
path reaches, optionally dropping pairs whose every completion lies far above a given energy
(see :func:`restricted_free_energy`), so memory follows the lattice and the few trie nodes each
of its states can be at, not states x output length. Energies are float64; free energies are
-(1/beta) log sum exp(-beta E), minimum energies their beta -> inf limit.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from gtn.utils import csr, kernel_helper, topological_order

from ._beam_kernels import _ZERO, INF, _grow, _traceback


class LatticeArrays(NamedTuple):
    """An acyclic graph's arrays as the kernels read them."""

    num_nodes: int
    src: np.ndarray  # int [M]
    dst: np.ndarray  # int [M]
    olabel: np.ndarray  # int [M]; < 0: epsilon
    w: np.ndarray  # float64 [M] arc energies
    start_w: np.ndarray  # float64 [N] (+inf: not a start state)
    final_w: np.ndarray  # float64 [N] (+inf: not a final state)


class Trie(NamedTuple):
    """A deterministic automaton over output labels, rooted at node 0: node q reads label
    label[e] to node child[e] for e in ptr[q]:ptr[q+1], and any other label to escape[q]
    (-1: no such path). accept[q]: a sequence may end at q."""

    ptr: np.ndarray  # int64 [Q+1]
    label: np.ndarray  # int64 [E]
    child: np.ndarray  # int64 [E]
    escape: np.ndarray  # int64 [Q]
    accept: np.ndarray  # bool [Q]


@nb.njit(cache=True, inline="always")
def _log_add(a, b, beta):
    """-(1/beta) log(exp(-beta a) + exp(-beta b)) (energies; +inf is "no path")."""
    if a == INF:
        return b
    if b == INF:
        return a
    lo = min(a, b)
    return lo - np.log1p(np.exp(-beta * abs(a - b))) / beta


@nb.njit(cache=True, inline="always")
def _next(trie, q, lab):
    """The trie node after reading output label ``lab`` (< 0: epsilon, no move) at node q."""
    if lab < 0:
        return q
    for e in range(trie.ptr[q], trie.ptr[q + 1]):
        if trie.label[e] == lab:
            return trie.child[e]
    return trie.escape[q]


@kernel_helper
def _backward(lat, order, out_ptr, out_arcs, beta):
    """Unrestricted backward free energies: an upper bound on any restricted completion's
    mass."""
    back = np.empty(lat.num_nodes)
    for r in range(lat.num_nodes - 1, -1, -1):
        v = order[r]
        b = lat.final_w[v]
        for j in range(out_ptr[v], out_ptr[v + 1]):
            a = out_arcs[j]
            b = _log_add(b, lat.w[a] + back[lat.dst[a]], beta)
        back[v] = b
    return back


@nb.njit(cache=True)
def pair_pass(lat, trie, beta, limit):
    """Forward pass over the reachable (state, trie node) pairs in the log semiring at inverse
    temperature beta, or for beta = +inf its limit, the tropical semiring (min), then the best
    accepted path's traceback. One entry point (and one compilation, beta = inf not being a
    literal bool) for the free energies of :mod:`decoders.posteriors` and the n-best search.

    Returns (energy of the accepted paths, +inf if none; pairs kept; first state on a cycle or
    -1; tropical: the best accepted path's lattice arcs int64 [L] in order, else empty). Ties
    (tropical) go to starting at a state, then to the arc met first."""
    n, src, olabel, w = lat.num_nodes, lat.src, lat.olabel, lat.w
    tropical = beta == INF
    m = src.shape[0]
    order = np.empty(n, np.int64)
    cycle = topological_order(n, src, lat.dst, order, np.empty(m, np.int64))
    pos = np.empty(1024, np.int64)  # trie node of each kept pair
    val = np.empty(1024)  # its forward energy
    prev = np.empty(1024, np.int64)  # tropical: the pair it came from, -1 for a start
    via = np.empty(1024, np.int64)  # tropical: the lattice arc it came by
    if cycle >= 0:
        return INF, _ZERO, cycle, via[:0]
    every = np.empty(m, np.bool_)  # np.empty and loops only (fewer compilations)
    for a in range(m):
        every[a] = True
    in_ptr, in_arcs = csr(n, lat.dst, every)
    # State v's kept pairs are first[v]:first[v]+count[v]; a dense scratch row over trie nodes
    # gathers v's incoming mass.
    back, first, count = np.empty(n), np.empty(n, np.int64), np.empty(n, np.int64)
    for v in range(n):
        back[v], first[v], count[v] = INF, 0, 0
    if limit < INF:
        out_ptr, out_arcs = csr(n, src, every)
        back = _backward(lat, order, out_ptr, out_arcs, beta)
    kept = _ZERO
    q_nodes = trie.escape.shape[0]
    row = np.empty(q_nodes)
    for q in range(q_nodes):
        row[q] = INF
    row_prev = np.empty(q_nodes, np.int64)
    row_via = np.empty(q_nodes, np.int64)
    touched = np.empty(q_nodes, np.int64)
    for r in range(n):
        v = order[r]
        nt = 0
        if lat.start_w[v] < INF:
            row[0] = lat.start_w[v]
            row_prev[0] = row_via[0] = -1
            touched[0] = 0
            nt = 1
        for k in range(in_ptr[v], in_ptr[v + 1]):
            a = in_arcs[k]
            u = src[a]
            for p in range(first[u], first[u] + count[u]):
                q = _next(trie, pos[p], olabel[a])
                if q < 0:
                    continue
                e = val[p] + w[a]
                if row[q] == INF:
                    if e == INF:
                        continue
                    touched[nt] = q
                    nt += 1
                    row[q] = e
                    row_prev[q], row_via[q] = p, a
                elif not tropical:
                    row[q] = _log_add(row[q], e, beta)
                elif e < row[q]:
                    row[q] = e
                    row_prev[q], row_via[q] = p, a
        first[v] = kept
        for t in range(nt):
            q = touched[t]
            e = row[q]
            row[q] = INF
            if limit < INF and e + back[v] > limit:
                continue
            if kept == pos.shape[0]:
                pos, val = _grow(pos, kept + 1), _grow(val, kept + 1)
                prev, via = _grow(prev, kept + 1), _grow(via, kept + 1)
            pos[kept], val[kept], prev[kept], via[kept] = q, e, row_prev[q], row_via[q]
            kept += 1
        count[v] = kept - first[v]
    total = INF
    best = -1
    for v in range(n):
        if lat.final_w[v] == INF:
            continue
        for p in range(first[v], first[v] + count[v]):
            if trie.accept[pos[p]]:
                e = val[p] + lat.final_w[v]
                if not tropical:
                    total = _log_add(total, e, beta)
                elif e < total:
                    total, best = e, p
    return total, kept, -1, _traceback(prev, via, best)[0]


def trie(sequences, complement: bool = False) -> Trie:
    """The :class:`Trie` accepting exactly ``sequences`` (each int [L]), or with ``complement``
    every output sequence but them: each node accepts unless a sequence ends there, and every
    missing branch goes to an accepting sink."""
    children: list[dict[int, int]] = [{}]
    ends = [False]
    for seq in sequences:
        q = 0
        for lab in seq:
            q = children[q].setdefault(int(lab), len(children))
            if q == len(children):
                children.append({})
                ends.append(False)
        ends[q] = True
    nodes = len(children) + complement  # the sink is the last node
    ptr = np.zeros(nodes + 1, np.int64)
    ptr[1 : len(children) + 1] = np.cumsum([len(c) for c in children])
    ptr[len(children) + 1 :] = ptr[len(children)]
    label = np.array([lab for c in children for lab in c], np.int64)
    child = np.array([q for c in children for q in c.values()], np.int64)
    accept = np.array([e != complement for e in ends] + [True] * complement, np.bool_)
    escape = np.full(nodes, nodes - 1 if complement else -1, np.int64)
    return Trie(ptr, label, child, escape, accept)


# The one-node trie that accepts every output.
EVERYTHING = Trie(
    np.zeros(2, np.int64), np.empty(0, np.int64), np.empty(0, np.int64),
    np.zeros(1, np.int64), np.ones(1, np.bool_),
)  # fmt: skip


def restricted_free_energy(lat: LatticeArrays, output, beta: float, limit: float):
    """(free energy of the paths of ``lat`` whose output labels, epsilons removed, equal
    ``output`` (int [L]), +inf if none; pairs kept; first state on a cycle or -1). ``limit``
    as in :func:`decoders.posteriors.restricted_energy` (+inf: keep every pair, exact)."""
    total, kept, cycle, _ = pair_pass(lat, trie([output]), float(beta), float(limit))
    return total, kept, cycle
