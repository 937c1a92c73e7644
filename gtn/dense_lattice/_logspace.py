"""Exact energy-space kernels (numba): tropical (min, +) and log (log-sum-exp with beta).

The log-space forward/backward is the reference path: used when the scaled kernels flag an
utterance (underflow, no path) or a graph with an energy range too wide for exp(). The tropical
forward plus `backtrack` give the minimum energy and the best alignment. Alpha is stored after
the epsilon closure: alpha [B, T+1, Nmax] energies, +inf = unreachable.
"""

import numba as nb
import numpy as np

from .._exp import fast_exp
from ..semiring import splus

INF = np.inf


@nb.njit(cache=True)
def _closure(a, e0, e1, eps_src, eps_dst, ew, code, beta):
    for i in range(e0, e1):
        a[eps_dst[i]] = splus(code, beta, a[eps_dst[i]], a[eps_src[i]] + ew[i])


@nb.njit(cache=True, parallel=True)
def forward(
    code,
    beta,
    em,
    lengths,
    gidx,
    active,
    node_off,
    run_ptr,
    run_src0,
    run_pos0,
    run_len,
    run_ulab,
    eps_off,
    eps_src,
    eps_dst,
    lab_off,
    labs,
    w,
    ew,
    sw,
    fw,
    alpha,
    energy,
):
    """code 0: minimum energy, 1: free energy at ``beta``; for utterances with active[b].
    Each state's log-sum-exp is shifted by its own minimum, so nothing under- or overflows
    whatever the energies' range: one exp per arc and one log per state."""
    for b in nb.prange(em.shape[0]):
        if not active[b]:
            continue
        g = gidx[b]
        T = lengths[b]
        n0 = node_off[g]
        N = node_off[g + 1] - n0
        u0 = lab_off[g]
        e0, e1 = eps_off[g], eps_off[g + 1]
        for s in range(N):
            alpha[b, 0, s] = sw[n0 + s]
        _closure(alpha[b, 0], e0, e1, eps_src, eps_dst, ew, code, beta)
        for t in range(T):
            a = alpha[b, t]
            for d in range(N):
                m = INF
                r0, r1 = run_ptr[n0 + d], run_ptr[n0 + d + 1]
                for r in range(r0, r1):
                    e = em[b, t, labs[u0 + run_ulab[r]]]
                    m = min(m, _min_plus(a, run_src0[r], w, run_pos0[r], run_len[r]) + e)
                if code == 1 and m < INF:
                    acc = 0.0
                    for r in range(r0, r1):
                        s0, p0 = run_src0[r], run_pos0[r]
                        x = em[b, t, labs[u0 + run_ulab[r]]] - m
                        for k in range(run_len[r]):
                            acc += fast_exp(-beta * (a[s0 + k] + w[p0 + k] + x))
                    m -= np.log(acc) / beta
                alpha[b, t + 1, d] = m
            _closure(alpha[b, t + 1], e0, e1, eps_src, eps_dst, ew, code, beta)
        acc = INF
        for s in range(N):
            acc = splus(code, beta, acc, alpha[b, T, s] + fw[n0 + s])
        energy[b] = acc


@nb.njit(cache=True, parallel=True)
def backward(
    beta,
    gout,
    em,
    lengths,
    gidx,
    active,
    rows,
    node_off,
    run_ptr,
    run_src0,
    run_pos0,
    run_len,
    run_ulab,
    eps_off,
    eps_src,
    eps_dst,
    lab_off,
    labs,
    w,
    ew,
    sw,
    fw,
    alpha,
    energy,
    g_em,
    g_w,
    g_ew,
    g_sw,
    g_fw,
):
    """Free-energy posteriors times gout[b], exact in log space (see _scaled.backward).

    Per frame, the backward energy of each source state is a log-sum-exp over its outgoing
    arcs shifted by their minimum (a first pass), and each arc's posterior is its term of
    that sum times a per-state factor: one exp per arc, one exp and one log per state."""
    nmax = alpha.shape[2]
    for b in nb.prange(em.shape[0]):
        if not active[b]:
            continue
        go = gout[b]
        g = gidx[b]
        row = rows[b]
        T = lengths[b]
        F = energy[b]
        n0 = node_off[g]
        N = node_off[g + 1] - n0
        u0 = lab_off[g]
        e0, e1 = eps_off[g], eps_off[g + 1]
        bnext = np.empty(nmax)
        bmin = np.empty(nmax)
        bsum = np.empty(nmax)
        fac = np.empty(nmax)
        for s in range(N):
            bnext[s] = fw[n0 + s]
            g_fw[row, n0 + s] += go * _post(beta, alpha[b, T, s] + fw[n0 + s] - F)
        _closure_back(bnext, e0, e1, eps_src, eps_dst, ew, beta)
        _eps_grads(go, beta, F, alpha[b, T], bnext, e0, e1, eps_src, eps_dst, ew, g_ew[row])
        for t in range(T - 1, -1, -1):
            a = alpha[b, t]
            for s in range(N):
                bmin[s] = INF
            for d in range(N):
                bd = bnext[d]
                if bd == INF:
                    continue
                for r in range(run_ptr[n0 + d], run_ptr[n0 + d + 1]):
                    s0, p0 = run_src0[r], run_pos0[r]
                    v0 = em[b, t, labs[u0 + run_ulab[r]]] + bd
                    for k in range(run_len[r]):
                        bmin[s0 + k] = min(bmin[s0 + k], w[p0 + k] + v0)
            for s in range(N):
                bsum[s] = 0.0
                # posterior of an arc = its term exp(-beta (v - bmin)) times this factor
                fac[s] = go * _post(beta, a[s] + bmin[s] - F) if a[s] < INF else 0.0
            for d in range(N):
                bd = bnext[d]
                if bd == INF:
                    continue
                for r in range(run_ptr[n0 + d], run_ptr[n0 + d + 1]):
                    s0, p0 = run_src0[r], run_pos0[r]
                    lab = labs[u0 + run_ulab[r]]
                    v0 = em[b, t, lab] + bd
                    tot = 0.0
                    for k in range(run_len[r]):
                        s = s0 + k
                        x = fast_exp(-beta * (w[p0 + k] + v0 - bmin[s]))
                        bsum[s] += x
                        xi = x * fac[s]
                        g_w[row, p0 + k] += xi
                        tot += xi
                    g_em[b, t, lab] += tot
            for s in range(N):
                m = bmin[s]
                bnext[s] = m - np.log(bsum[s]) / beta if m < INF else INF
            _closure_back(bnext, e0, e1, eps_src, eps_dst, ew, beta)
            _eps_grads(go, beta, F, a, bnext, e0, e1, eps_src, eps_dst, ew, g_ew[row])
        for s in range(N):
            g_sw[row, n0 + s] += go * _post(beta, sw[n0 + s] + bnext[s] - F)


@nb.njit(cache=True, inline="always")
def _post(beta, excess):
    """exp(-beta * excess) for an energy excess over the free energy (>= 0 up to rounding);
    0 for +inf (an absent path)."""
    return fast_exp(-beta * excess)


@nb.njit(cache=True, inline="always")
def _min_plus(a, s0, w, p0, n):
    """min_k a[s0 + k] + w[p0 + k]; unsigned indices so that it vectorises (see _statewise)."""
    s, p = np.uint64(s0), np.uint64(p0)
    best = INF
    for k in range(np.uint64(n)):
        best = min(best, a[s + k] + w[p + k])
    return best


@nb.njit(cache=True)
def _closure_back(bv, e0, e1, eps_src, eps_dst, ew, beta):
    for i in range(e1 - 1, e0 - 1, -1):
        bv[eps_src[i]] = splus(1, beta, bv[eps_src[i]], ew[i] + bv[eps_dst[i]])


@nb.njit(cache=True)
def _eps_grads(go, beta, F, a, bv, e0, e1, eps_src, eps_dst, ew, g_ew):
    for i in range(e0, e1):
        g_ew[i] += go * _post(beta, a[eps_src[i]] + ew[i] + bv[eps_dst[i]] - F)


@nb.njit(cache=True)  # O(B T in-degree): cheaper serial than a parallel region
def backtrack(
    gout,
    em,
    lengths,
    gidx,
    rows,
    node_off,
    run_ptr,
    run_src0,
    run_pos0,
    run_len,
    run_ulab,
    eps_off,
    eps_src,
    eps_dst,
    lab_off,
    labs,
    csr_arc,
    eps_arc,
    arc_off,
    w,
    ew,
    sw,
    fw,
    alpha,
    energy,
    grads,
    labels_out,
    arcs_out,
    g_em,
    g_w,
    g_ew,
    g_sw,
    g_fw,
):
    """Follow a minimum-energy path back from the best final state (ties: first found).
    Writes the label and arc (local to its graph) per frame, and adds gout[b] to the path's
    emissions, arcs, start and final state: the gradient of the minimum energy."""
    for b in nb.prange(em.shape[0]):
        if energy[b] == INF:
            continue
        go = gout[b]
        g = gidx[b]
        row = rows[b]
        T = lengths[b]
        n0 = node_off[g]
        N = node_off[g + 1] - n0
        u0 = lab_off[g]
        e0, e1 = eps_off[g], eps_off[g + 1]
        d = 0
        best = INF
        for s in range(N):
            v = alpha[b, T, s] + fw[n0 + s]
            if v < best:
                best = v
                d = s
        if grads:
            g_fw[row, n0 + d] += go
        t = T
        rsrc = 0
        rlab = 0
        while True:
            best = sw[n0 + d] if t == 0 else INF
            kind = 0
            arg = -1
            for i in range(e0, e1):
                if eps_dst[i] == d:
                    v = alpha[b, t, eps_src[i]] + ew[i]
                    if v < best:
                        best, kind, arg = v, 1, i
            if t > 0:
                for r in range(run_ptr[n0 + d], run_ptr[n0 + d + 1]):
                    s0, p0 = run_src0[r], run_pos0[r]
                    e = em[b, t - 1, labs[u0 + run_ulab[r]]]
                    for k in range(run_len[r]):
                        v = alpha[b, t - 1, s0 + k] + w[p0 + k] + e
                        if v < best:
                            best, kind, arg = v, 2, p0 + k
                            rsrc = s0 + k
                            rlab = labs[u0 + run_ulab[r]]
            if kind == 0:
                if grads:
                    g_sw[row, n0 + d] += go
                break
            if kind == 1:
                if grads:
                    g_ew[row, arg] += go
                d = eps_src[arg]
                continue
            t -= 1
            if grads:
                g_w[row, arg] += go
                g_em[b, t, rlab] += go
            labels_out[b, t] = rlab
            arcs_out[b, t] = csr_arc[arg] - arc_off[g]
            d = rsrc
