"""Posterior kernel (numba): the free energy of the paths of an acyclic graph whose output is
one given sequence, without building the composition with that sequence's linear acceptor.

The dynamic program runs over (graph state, position in the output) pairs, but only over the
pairs some path reaches, and optionally drops pairs whose every completion lies far above a
given energy (see :func:`restricted_free_energy`), so memory follows the lattice and the few
positions each of its states can be at, not states x output length. Energies are float64,
lower is better; free energies are -(1/beta) log sum exp(-beta E).
"""

from __future__ import annotations

import numba as nb
import numpy as np

INF = np.inf


@nb.njit(cache=True, inline="always")
def _log_add(a, b, beta):
    """-(1/beta) log(exp(-beta a) + exp(-beta b)) (energies; +inf is "no path")."""
    if a == INF:
        return b
    if b == INF:
        return a
    lo = min(a, b)
    return lo - np.log1p(np.exp(-beta * abs(a - b))) / beta


@nb.njit(cache=True)
def _csr(n, key, m):
    """(ptr int64 [n+1], arcs int64 [m]) grouping arc ids by ``key`` (src or dst)."""
    ptr = np.zeros(n + 1, np.int64)
    for a in range(m):
        ptr[key[a] + 1] += 1
    for v in range(n):
        ptr[v + 1] += ptr[v]
    fill = ptr[:n].copy()
    arcs = np.empty(m, np.int64)
    for a in range(m):
        arcs[fill[key[a]]] = a
        fill[key[a]] += 1
    return ptr, arcs


@nb.njit(cache=True)
def restricted_free_energy(n, src, dst, olabel, w, start_w, final_w, output, beta, limit):
    """Free energy of the paths whose output labels (epsilons, label < 0, removed) equal
    ``output``.

    Args:
        n: states; src, dst, olabel: int64 [M]; w: float64 [M] arc energies.
        start_w, final_w: float64 [n] (+inf: not a start / final state).
        output: int64 [L]; beta: inverse temperature > 0.
        limit: drop a pair (state v, position j) when its forward free energy plus the
            unrestricted backward free energy of v exceeds ``limit``; the mass of all its
            completions is then below exp(-beta limit) (+inf: keep every pair, exact).

    Returns:
        (free energy, +inf if no such path; pairs kept; first state on a cycle or -1).
    """
    m = src.shape[0]
    big_l = output.shape[0]
    out_ptr, out_arcs = _csr(n, src, m)
    in_ptr, in_arcs = _csr(n, dst, m)
    # A topological order (Kahn's algorithm on the out-arcs).
    indeg = np.zeros(n, np.int64)
    for a in range(m):
        indeg[dst[a]] += 1
    order = np.empty(n, np.int64)
    tail = 0
    for v in range(n):
        if indeg[v] == 0:
            order[tail] = v
            tail += 1
    head = 0
    while head < tail:
        v = order[head]
        head += 1
        for j in range(out_ptr[v], out_ptr[v + 1]):
            d = dst[out_arcs[j]]
            indeg[d] -= 1
            if indeg[d] == 0:
                order[tail] = d
                tail += 1
    if tail < n:
        for v in range(n):
            if indeg[v] > 0:
                return INF, 0, v
    # Unrestricted backward free energies: an upper bound on any restricted completion's mass.
    back = np.full(n, INF)
    if limit < INF:
        for r in range(n - 1, -1, -1):
            v = order[r]
            b = final_w[v]
            for j in range(out_ptr[v], out_ptr[v + 1]):
                a = out_arcs[j]
                b = _log_add(b, w[a] + back[dst[a]], beta)
            back[v] = b
    # Forward over pairs: state v's kept pairs are pos[first[v]:first[v]+count[v]] with
    # energies val[...]; a dense scratch row over positions gathers v's incoming mass.
    first = np.zeros(n, np.int64)
    count = np.zeros(n, np.int64)
    pos = np.empty(1024, np.int64)
    val = np.empty(1024)
    kept = 0
    row = np.full(big_l + 1, INF)
    touched = np.empty(big_l + 1, np.int64)
    for r in range(n):
        v = order[r]
        nt = 0
        if start_w[v] < INF:
            row[0] = start_w[v]
            touched[0] = 0
            nt = 1
        for k in range(in_ptr[v], in_ptr[v + 1]):
            a = in_arcs[k]
            u = src[a]
            lab = olabel[a]
            for q in range(first[u], first[u] + count[u]):
                j = pos[q]
                if lab >= 0:
                    if j == big_l or output[j] != lab:
                        continue
                    j += 1
                e = val[q] + w[a]
                if row[j] == INF:
                    if e == INF:
                        continue
                    touched[nt] = j
                    nt += 1
                    row[j] = e
                else:
                    row[j] = _log_add(row[j], e, beta)
        first[v] = kept
        for t in range(nt):
            j = touched[t]
            e = row[j]
            row[j] = INF
            if limit < INF and e + back[v] > limit:
                continue
            if kept == pos.shape[0]:
                grown_pos = np.empty(2 * kept, np.int64)
                grown_val = np.empty(2 * kept)
                for i in range(kept):  # a loop: slice assignment compiles numba's error text
                    grown_pos[i] = pos[i]
                    grown_val[i] = val[i]
                pos, val = grown_pos, grown_val
            pos[kept] = j
            val[kept] = e
            kept += 1
        count[v] = kept - first[v]
    total = INF
    for v in range(n):
        if final_w[v] == INF:
            continue
        for q in range(first[v], first[v] + count[v]):
            if pos[q] == big_l:
                total = _log_add(total, val[q] + final_w[v], beta)
    return total, kept, -1
