"""Viterbi with back-pointers for one shared, dense, state-labelled graph (the CRF chain).

The general tropical kernel (``_logspace``) reduces over each state's incoming runs and then
re-scans them to backtrack. For a dense graph it is faster to keep the energy matrix
M [N, N] (M[i, j] = energy of the arc i -> j, +inf if absent) and loop over the sources i
outside and the destination j inside, four sources per pass:

    new[j] = min(new[j], alpha[i] + M[i, j]),  bp[j] = i where that improved

which vectorises over contiguous j (min and select, in the emissions' dtype; four sources per
load and store of new[j]), then add each state's emission once per frame. Back-pointers
bp [B, T, Nq] (int32) make the backtrack O(T).

em [B, T, V]; M [Nq, Nq] and sw [Nq] padded with +inf states (Nq: N rounded up to 8: no
scalar remainder in the loops over destinations), fw [N], in em's dtype; state_lab [N] (label
of the arcs into each state, any label for those without: their column of M is +inf); ties go
to the lowest source state.
"""

import numba as nb
import numpy as np

from .._internal.jit import batch_kernel
from ._prep import FAST

INF = np.inf


@batch_kernel(fastmath=FAST)
def decode(em, lengths, M, sw, fw, state_lab, arc_idx, bp, labels, arcs, energy):
    """Fill labels, arcs [B, T] (left at -1 past lengths[b] or without a path), energy [B]."""
    N, Nq = state_lab.shape[0], M.shape[1]
    for b in nb.prange(em.shape[0]):
        T = lengths[b]
        cur, new = sw.copy(), sw.copy()  # an unreachable source's +inf improves on nothing
        for t in range(T):
            ptr = bp[b, t]  # a view: copying a buffer in compiles numba's shape-error text
            new[:], ptr[:] = INF, 0
            for i in range(0, N, 4):
                _relax4(new, ptr, cur, M, np.int32(i), Nq)
            for j in range(N):
                cur[j] = new[j] + em[b, t, state_lab[j]]
        best, d = INF, 0
        for s in range(N):
            v = cur[s] + fw[s]
            best, d = (v, s) if v < best else (best, d)
        energy[b] = best
        if best == INF:
            continue
        for t in range(T - 1, -1, -1):
            i = bp[b, t, d]
            labels[b, t] = state_lab[d]
            arcs[b, t] = arc_idx[i, d]
            d = i


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _relax4(new, ptr, cur, M, i, n):
    """Relax new, ptr [n] from sources i .. i+3 in order (ties keep the lowest). Unsigned
    loop index and selects instead of branches, so that LLVM vectorises."""
    a0, a1, a2, a3 = cur[i], cur[i + 1], cur[i + 2], cur[i + 3]
    r0, r1, r2, r3 = M[i], M[i + 1], M[i + 2], M[i + 3]
    for j in range(np.uint64(n)):
        best, arg = new[j], ptr[j]
        v = a0 + r0[j]
        best, arg = (v, i) if v < best else (best, arg)
        v = a1 + r1[j]
        best, arg = (v, i + 1) if v < best else (best, arg)
        v = a2 + r2[j]
        best, arg = (v, i + 2) if v < best else (best, arg)
        v = a3 + r3[j]
        best, arg = (v, i + 3) if v < best else (best, arg)
        new[j], ptr[j] = best, arg


# Above this many states, or below this arc density, the general sparse kernel is better.
MAX_STATES = 1024
MIN_DENSITY = 0.25


def layout(batch, st):
    """(flat [A] index src*N + dst of each arc, state_lab [N], arc_idx [N, N] int64 with -1
    where there is no arc), or None when the fast path does not apply: several graphs, not
    state-labelled, sparse, too large, or parallel arcs (M would need their minimum)."""
    if not st.state_labelled:  # checked each time: tests reroute a lattice to other kernels
        return None
    return batch._cached("viterbi", lambda: _layout(batch, st))


def _layout(batch, st):
    if st.num_graphs != 1 or not st.state_labelled:
        return None
    N, A = int(st.node_off[1]), int(st.arc_off[1])
    if not 0 < N <= MAX_STATES or A < MIN_DENSITY * N * N:
        return None
    flat = batch.src.astype(np.int64) * N + batch.dst
    if np.unique(flat).shape[0] != A:
        return None
    arc_idx = np.full(N * N, -1, np.int64)
    arc_idx[flat] = np.arange(A)
    return flat, st.labs[st.state_ulab[:N]].copy(), arc_idx.reshape(N, N)


def best_path(lay, batch, em: np.ndarray, lengths: np.ndarray):
    """(labels, arcs [B, T] int64, energy [B] float64) by :func:`decode`, given the graph's
    :func:`layout`."""
    flat, state_lab, arc_idx = lay
    N = state_lab.shape[0]
    dt = np.result_type(em.dtype, _np(batch.weight).dtype)
    Nq = -(-N // 8) * 8
    M = np.full((Nq, Nq), INF, dt)
    M[flat // N, flat % N] = _np(batch.weight)
    sw = np.full(Nq, INF, dt)
    sw[:N] = _np(batch.start_weight)
    B, T, _ = em.shape
    labels, arcs = np.full((2, B, T), -1, np.int64)
    energy = np.empty(B, dt)
    decode(
        em, lengths, M, sw,
        _np(batch.final_weight).astype(dt), state_lab, arc_idx,
        np.empty((B, T, Nq), np.int32), labels, arcs, energy,
    )  # fmt: skip
    return labels, arcs, energy.astype(np.float64)


def _np(t) -> np.ndarray:
    return t.detach().numpy()
