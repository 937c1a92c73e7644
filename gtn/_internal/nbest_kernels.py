"""numba kernel for the k lowest-energy paths of DAGs: a sorted list of at most k partial-path
energies per state, filled in topological order (push along the sorted arcs of
:class:`gtn._internal.plan.Plan`), then merged over final states and traced back."""

from __future__ import annotations

import numba as nb
import numpy as np

from .jit import batch_kernel
from .plan import part

INF = np.inf


@nb.njit(cache=True, inline="always")
def _insert(energy, arc, rank, base, count, k, x, a, r):
    """Insert (x, a, r) into the ascending list energy[base : base + count] of capacity k,
    after entries of equal energy (ties keep arrival order); returns the new count."""
    if count == k and x >= energy[base + k - 1]:
        return count
    p = count if count < k else k - 1
    while p > 0 and energy[base + p - 1] > x:
        energy[base + p] = energy[base + p - 1]
        arc[base + p] = arc[base + p - 1]
        rank[base + p] = rank[base + p - 1]
        p -= 1
    energy[base + p] = x
    arc[base + p] = a
    rank[base + p] = r
    return min(count + 1, k)


@nb.njit(cache=True)
def _kbest_one(k, g, paths, length, first, last, path_energy):
    """Write graph part g's k best paths (arc ids in the graph's own order) into paths[p * n:],
    with their length, first and last state and energy; returns how many there are (<= k)."""
    node_order, out_ptr, _, _, src, dst, _, w, sw, fw = g  # see plan.Part
    n = node_order.shape[0]
    energy = np.empty(n * k)
    arc = np.empty(n * k, np.int64)  # sorted arc into the state, -1: the path starts here
    rank = np.empty(n * k, np.int64)  # position of the path's prefix in the source's list
    count = np.zeros(n, np.int64)
    for v in range(n):
        if sw[v] < INF:
            energy[v * k], arc[v * k], rank[v * k] = sw[v], -1, -1
            count[v] = 1
    for i in range(n):
        v = node_order[i]
        for a in range(out_ptr[i], out_ptr[i + 1]):
            if w[a] == INF:
                continue
            d = dst[a]
            for j in range(count[v]):  # the source's list is sorted: stop once nothing fits
                x = energy[v * k + j] + w[a]
                if count[d] == k and x >= energy[d * k + k - 1]:
                    break
                count[d] = _insert(energy, arc, rank, d * k, count[d], k, x, a, j)
    found = 0
    final_node = np.empty(k, np.int64)
    final_rank = np.empty(k, np.int64)
    for v in range(n):
        if fw[v] == INF:
            continue
        for j in range(count[v]):
            x = energy[v * k + j] + fw[v]
            if found == k and x >= path_energy[k - 1]:
                break
            found = _insert(path_energy, final_node, final_rank, 0, found, k, x, v, j)
    for p in range(found):
        v, j, m = final_node[p], final_rank[p], 0
        last[p] = v
        while arc[v * k + j] >= 0:
            a = arc[v * k + j]
            paths[p * n + m] = a if g.is_sorted else g.arc_order[a]
            m += 1
            j = rank[v * k + j]
            v = src[a]
        for j in range(m // 2):  # reverse in place (a slice copy compiles numba's error text)
            paths[p * n + j], paths[p * n + m - 1 - j] = paths[p * n + m - 1 - j], paths[p * n + j]
        length[p] = m
        first[p] = v
    return found


@batch_kernel
def kbest(k, plan, weights, paths, length, first, last, path_energy, found):
    """The k best paths of every graph of ``plan``, laid out as ``paths.PathBuffers``;
    path_energy is [B * k] like length, found[b] the number of paths of graph b."""
    node_off = plan.node_off
    for b in nb.prange(node_off.shape[0] - 1):
        n0, n1, p0, p1 = node_off[b], node_off[b + 1], b * k, b * k + k
        found[b] = _kbest_one(
            k,
            part(plan, weights, b),
            paths[k * n0 : k * n1],
            length[p0:p1],
            first[p0:p1],
            last[p0:p1],
            path_energy[p0:p1],
        )
