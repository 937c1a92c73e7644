"""Compressed sparse rows of arcs (numba): the adjacency structure every kernel walks."""

import numba as nb
import numpy as np


@nb.njit(cache=True)
def csr(n, keys, mask):
    """Arcs with mask set, grouped by keys[arc] in 0..n-1 (e.g. src for out-arcs, dst for
    in-arcs), keeping arc order within a group. Returns (ptr [n+1], arcs): the arcs of group v
    are arcs[ptr[v]:ptr[v+1]]."""
    ptr = np.empty(n + 1, np.int64)  # np.empty and loops only: see pair_table.new_table
    for v in range(n + 1):
        ptr[v] = 0
    for i in range(keys.shape[0]):
        if mask[i]:
            ptr[keys[i] + 1] += 1
    for v in range(n):
        ptr[v + 1] += ptr[v]
    fill = ptr[:n].copy()
    arcs = np.empty(ptr[n], np.int64)
    for i in range(keys.shape[0]):
        if mask[i]:
            arcs[fill[keys[i]]] = i
            fill[keys[i]] += 1
    return ptr, arcs
