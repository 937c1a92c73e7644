"""Lattice kernels (numba): prune token lattices by energy, and find the frame of every state
of a lattice-like graph. Energies are float64."""

from __future__ import annotations

import numba as nb
import numpy as np

from gtn.utils import csr, topological_order

INF = np.inf


@nb.njit(cache=True)
def prune(order, start_w, final_w, src, dst, w, lattice_beam):
    """Keep the tokens and arcs on some complete path within ``lattice_beam`` of the best.

    Args:
        order: int64 [K] tokens in a topological order (every arc goes forward in it).
        start_w, final_w: float64 [K] start / final energy of each token (+inf: none).
        src, dst: int64 [M] arc endpoints (token ids); w: float64 [M] arc energies.

    Returns:
        new_id int64 [K] (the kept tokens numbered in topological order, -1 for dropped ones),
        kept arcs int64 [M'] (ids into src/dst/w, grouped by source in that order), and the
        best complete path energy (inf if there is none).
    """
    k = order.shape[0]
    m = src.shape[0]
    pos = np.empty(k, np.int32)  # int32 as graphs' src: one compilation of csr for both
    new_id = np.empty(k, np.int64)  # np.empty and loops only (fewer compilations)
    for r in range(k):
        pos[order[r]] = r
        new_id[r] = -1
    every = np.empty(m, np.bool_)
    for a in range(m):
        every[a] = True
    ptr, by_src = csr(k, pos[src], every)  # arcs by their source's position
    alpha = np.empty(k)
    for r in range(k):
        alpha[r] = start_w[order[r]]
    for r in range(k):
        if alpha[r] == INF:
            continue
        for j in range(ptr[r], ptr[r + 1]):
            a = by_src[j]
            q = pos[dst[a]]
            alpha[q] = min(alpha[q], alpha[r] + w[a])
    beta = np.empty(k)
    for r in range(k - 1, -1, -1):
        b = final_w[order[r]]
        for j in range(ptr[r], ptr[r + 1]):
            a = by_src[j]
            b = min(b, w[a] + beta[pos[dst[a]]])
        beta[r] = b
    best = INF
    for r in range(k):
        best = min(best, alpha[r] + beta[r])
    kept = np.empty(m, np.int64)
    if best == INF:
        return new_id, kept[:0], best
    # A little slack so that rounding never drops the best path itself.
    limit = best + lattice_beam + 1e-9 * max(1.0, abs(best))
    count = 0
    for r in range(k):
        if alpha[r] + beta[r] <= limit:
            new_id[order[r]] = count
            count += 1
    nkept = 0
    for r in range(k):
        if alpha[r] == INF:
            continue
        for j in range(ptr[r], ptr[r + 1]):
            a = by_src[j]
            if alpha[r] + w[a] + beta[pos[dst[a]]] <= limit:
                kept[nkept] = a
                nkept += 1
    return new_id, kept[:nkept], best


@nb.njit(cache=True)
def state_times(n, src, dst, ilabel, is_start):
    """Frames consumed before each state (non-epsilon input labels on any path from a start).

    Returns (times int64 [n], -1 where unreachable; first inconsistent state or -1; a state on
    a cycle or -1). Arcs are visited grouped by source state in a topological order."""
    times = np.full(n, -1, np.int64)
    node_order = np.empty(n, np.int64)
    arc_order = np.empty(src.shape[0], np.int64)
    cycle = topological_order(n, src, dst, node_order, arc_order)
    if cycle >= 0:
        return times, -1, cycle
    for v in range(n):
        if is_start[v]:
            times[v] = 0
    bad = -1
    for a in arc_order:
        v, d = src[a], dst[a]
        if times[v] >= 0:
            t = times[v] + (1 if ilabel[a] >= 0 else 0)
            if times[d] < 0:
                times[d] = t
            elif times[d] != t and bad < 0:
                bad = d
    return times, bad, -1
