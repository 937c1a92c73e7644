"""Exact energy-space kernels (numba): tropical (min, +) and log (log-sum-exp with beta).

The log-space forward/backward is the reference path: used when the scaled kernels flag an
utterance (underflow, no path) or a graph with an energy range too wide for exp(). The tropical
forward plus `backtrack` give the minimum energy and the best alignment. Alpha is stored after
the epsilon closure: alpha [B, T+1, Nmax] energies, +inf = unreachable.
"""

from typing import NamedTuple

import numba as nb
import numpy as np

from .._internal.exp import fast_exp, fast_log
from .._internal.jit import batch_kernel
from ..semiring import splus
from ._prep import FAST, utterance

INF = np.inf


@nb.njit(cache=True)
def _closure(a, e0, e1, eps, ew, code, beta):
    """a = its epsilon closure in semiring ``code`` (0 tropical, 1 log), topological order."""
    for i in range(e0, e1):
        a[eps.dst[i]] = splus(code, beta, a[eps.dst[i]], a[eps.src[i]] + ew[i])


class ArcList(NamedTuple):
    """Emitting arcs in CSR order (by destination) for the log-space kernels, which work on
    whole frames of arcs so that their exps vectorise: arcs into global state v are
    ptr[v]:ptr[v+1]; src and dst are local states, ulab the label's index in its graph's set."""

    node_off: np.ndarray  # int64 [G+1]
    ptr: np.ndarray  # int64 [N+1]
    src: np.ndarray  # int64 [E]
    dst: np.ndarray  # int64 [E]
    ulab: np.ndarray  # int64 [E]


def arc_list(st) -> ArcList:
    """The :class:`ArcList` of a ``Structure`` (its runs spelled out arc by arc)."""
    n_total = st.node_off.shape[0] and int(st.node_off[-1])
    runs_of = np.diff(st.run_ptr)
    node = np.repeat(np.arange(n_total), runs_of)  # global destination of each run
    per_node = np.bincount(node, weights=st.run_len, minlength=n_total).astype(np.int64)
    ptr = np.zeros(n_total + 1, np.int64)
    np.cumsum(per_node, out=ptr[1:])
    E = int(ptr[-1])
    run = np.repeat(np.arange(st.run_len.shape[0]), st.run_len)
    k = np.arange(E) - np.repeat(st.run_pos0, st.run_len)
    graph = np.searchsorted(st.node_off, node, side="right") - 1
    dst = (node - st.node_off[graph])[run]
    return ArcList(
        st.node_off, ptr, st.run_src0[run] + k, dst.astype(np.int64), st.run_ulab[run].copy()
    )


@batch_kernel
def tropical(utt, runs, eps, lab, W, alpha, energy):
    """Minimum energies (Viterbi forward): alpha [B, T+1, Nmax] after each epsilon closure.
    Arguments: ``_prep``'s Utterances (all computed), Runs, Epsilons, LabelSets, Weights."""
    ptr, src0, pos0, length, ulab = runs.ptr, runs.src0, runs.pos0, runs.length, runs.ulab
    w, ew = W.w, W.ew
    for b in nb.prange(utt.em.shape[0]):
        g, T, n0, N, glabs = utterance(utt, runs.node_off, lab, b)
        e0, e1 = eps.off[g], eps.off[g + 1]
        alpha[b, 0, :N] = W.sw[n0 : n0 + N]
        _closure(alpha[b, 0], e0, e1, eps, ew, 0, 1.0)
        for t in range(T):
            a = alpha[b, t]
            for d in range(N):
                m = INF
                for r in range(ptr[n0 + d], ptr[n0 + d + 1]):
                    e = utt.em[b, t, glabs[ulab[r]]]
                    m = min(m, _min_plus(a, src0[r], w, pos0[r], length[r]) + e)
                alpha[b, t + 1, d] = m
            _closure(alpha[b, t + 1], e0, e1, eps, ew, 0, 1.0)
        acc = INF
        for s in range(N):
            acc = min(acc, alpha[b, T, s] + W.fw[n0 + s])
        energy[b] = acc


@batch_kernel(fastmath=FAST)
def forward(beta, utt, arcs, eps, lab, W, alpha, energy):
    """Free energies at ``beta`` for the utterances ``active``; alpha [B, T+1, Nmax] after
    each epsilon closure. Per frame: the energy of every arc's path prefix, each state's
    minimum over its incoming arcs, then one exp per arc relative to that minimum (a flat
    loop that vectorises) and one log per state: nothing under- or overflows.
    Arguments as ``tropical``'s, the emitting arcs as an :class:`ArcList`."""
    w, ew = W.w, W.ew
    for b in nb.prange(utt.em.shape[0]):
        if not utt.active[b]:
            continue
        g, T, n0, N, glabs = utterance(utt, arcs.node_off, lab, b)
        p0, p1, src, dst, ulab = _graph_arcs(arcs, n0, N)
        e0, e1 = eps.off[g], eps.off[g + 1]
        wg, ptr = w[p0:p1], arcs.ptr[n0 : n0 + N + 1] - p0
        v, e, m = np.empty(p1 - p0), np.empty(glabs.shape[0]), np.empty(N)
        alpha[b, 0, :N] = W.sw[n0 : n0 + N]
        _closure(alpha[b, 0], e0, e1, eps, ew, 1, beta)
        for t in range(T):
            a = alpha[b, t]
            for u in range(glabs.shape[0]):
                e[u] = utt.em[b, t, glabs[u]]
            for p in range(p1 - p0):
                v[p] = a[src[p]] + wg[p] + e[ulab[p]]
            m[:] = INF  # each state's minimum over its incoming arcs
            for d in range(N):
                for p in range(ptr[d], ptr[d + 1]):
                    m[d] = min(m[d], v[p])
            for p in range(p1 - p0):  # gather and exp in separate loops: both vectorise
                v[p] -= m[dst[p]]
            _exp_scaled(v, p1 - p0, -beta)
            out = alpha[b, t + 1]
            for d in range(N):
                acc = 0.0
                for p in range(ptr[d], ptr[d + 1]):
                    acc += v[p]
                out[d] = acc
            _shift_log(out, m, N, -1.0 / beta)
            _closure(out, e0, e1, eps, ew, 1, beta)
        acc = INF
        for s in range(N):
            acc = splus(1, beta, acc, alpha[b, T, s] + W.fw[n0 + s])
        energy[b] = acc


@batch_kernel(fastmath=FAST)
def backward(beta, gout, utt, arcs, eps, lab, W, alpha, energy, g_em, g_w, g_ew, g_sw, g_fw):
    """Free-energy posteriors times gout[b], exact in log space (see _scaled.backward).

    Per frame, the energy of every arc's path suffix; each source state's minimum over its
    outgoing arcs; one exp per arc relative to it (vectorised) whose sum per source gives the
    source's backward energy and whose product with a per-state factor is the arc's
    posterior: one exp per arc, one exp and one log per state. Gradient buffers as
    ``_scaled.backward``'s.

    Every path takes one emitting arc per frame, starts once and ends once, so the posteriors
    of each of these cuts sum to 1: each is normalised by its own sum, relative to its own
    smallest energy, rather than by exp(-beta F) with the forward's F. The two agree up to
    rounding, but where beta * ulp(F) >= 1 the rounding is the whole of the exponent (rows
    summed to 2, 1e46 or NaN). An epsilon arc's posterior uses the free energy measured on the
    cut of the frame it leads to."""
    w, ew = W.w, W.ew
    for b in nb.prange(gout.shape[0]):
        if not utt.active[b]:
            continue
        g, T, n0, N, glabs = utterance(utt, arcs.node_off, lab, b)
        go, row = gout[b], utt.rows[b]
        p0, p1, src, dst, ulab = _graph_arcs(arcs, n0, N)
        e0, e1 = eps.off[g], eps.off[g + 1]
        wg, gw = w[p0:p1], g_w[row, p0:p1]
        v, e, ge = np.empty(p1 - p0), np.empty(glabs.shape[0]), np.empty(glabs.shape[0])
        bnext, bmin, bsum, fac = np.empty(N), np.empty(N), np.empty(N), np.empty(N)
        for s in range(N):
            bnext[s] = W.fw[n0 + s]
            fac[s] = alpha[b, T, s] + W.fw[n0 + s]
        F = _cut(beta, fac, N, go, g_fw[row, n0 : n0 + N])
        _epsilons_back(go, beta, F, alpha[b, T], bnext, e0, e1, eps, ew, g_ew[row])
        for t in range(T - 1, -1, -1):
            a = alpha[b, t]
            for u in range(glabs.shape[0]):
                e[u] = utt.em[b, t, glabs[u]]
                ge[u] = 0.0
            for p in range(p1 - p0):
                v[p] = wg[p] + e[ulab[p]] + bnext[dst[p]]
            bmin[:] = INF
            bsum[:] = 0.0
            for p in range(p1 - p0):
                bmin[src[p]] = min(bmin[src[p]], v[p])
            low = INF  # the frame's smallest path energy
            for s in range(N):
                fac[s] = a[s] + bmin[s] if a[s] < INF else INF
                low = min(low, fac[s])
            for s in range(N):
                # an arc's posterior = its term exp(-beta (v - bmin)) times this factor, over
                # the frame's sum
                fac[s] = _post(beta, fac[s] - low) if fac[s] < INF else 0.0
            for p in range(p1 - p0):
                v[p] -= bmin[src[p]]
            _exp_scaled(v, p1 - p0, -beta)
            z = 0.0
            for p in range(p1 - p0):
                x = v[p]
                bsum[src[p]] += x
                v[p] = x * fac[src[p]]
                z += v[p]
            c = go / z if z > 0.0 else 0.0
            for p in range(p1 - p0):
                xi = v[p] * c
                gw[p] += xi
                ge[ulab[p]] += xi
            for u in range(glabs.shape[0]):
                g_em[b, t, glabs[u]] += ge[u]
            bnext[:] = bsum
            _shift_log(bnext, bmin, N, -1.0 / beta)
            F = low - np.log(z) / beta if z > 0.0 else INF  # the free energy on this cut
            _epsilons_back(go, beta, F, a, bnext, e0, e1, eps, ew, g_ew[row])
        for s in range(N):
            fac[s] = W.sw[n0 + s] + bnext[s]
        _cut(beta, fac, N, go, g_sw[row, n0 : n0 + N])


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _cut(beta, x, n, go, out):
    """out[:n] += go times the posteriors exp(-beta x) / sum of a cut whose paths have
    energies x[:n] (+inf: none); returns the free energy measured on it (+inf if none)."""
    low = INF
    for s in range(n):
        low = min(low, x[s])
    if low == INF:
        return INF
    z = 0.0
    for s in range(n):
        x[s] = _post(beta, x[s] - low)
        z += x[s]
    c = go / z
    for s in range(n):
        out[s] += x[s] * c
    return low - np.log(z) / beta


@nb.njit(cache=True, inline="always")
def _graph_arcs(arcs, n0, N):
    """The arc range [p0, p1) of the graph whose states are n0 .. n0+N-1, and its arcs'
    (local) sources, destinations and label indices."""
    p0, p1 = arcs.ptr[n0], arcs.ptr[n0 + N]
    return p0, p1, arcs.src[p0:p1], arcs.dst[p0:p1], arcs.ulab[p0:p1]


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _exp_scaled(v, n, c):
    """v[:n] = exp(c * v[:n]) (0 where c * v is -inf or nan)."""
    for p in range(n):
        v[p] = fast_exp(c * v[p])


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _shift_log(acc, m, n, c):
    """acc[:n] = m + c * log(acc[:n]): a log-sum-exp from its minimum term m and its sum of
    exps relative to m (>= 1); +inf where m is (no term)."""
    for i in range(n):
        x = m[i] + c * fast_log(acc[i] if m[i] < INF else 1.0)
        acc[i] = x if m[i] < INF else INF


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
def _epsilons_back(go, beta, F, a, bv, e0, e1, eps, ew, g_ew):
    """Backward energies bv through the epsilon arcs (reverse topological order), then gout
    times the epsilon arcs' posteriors into g_ew (a the forward energies of the frame)."""
    for i in range(e1 - 1, e0 - 1, -1):
        bv[eps.src[i]] = splus(1, beta, bv[eps.src[i]], ew[i] + bv[eps.dst[i]])
    for i in range(e0, e1):
        g_ew[i] += go * _post(beta, a[eps.src[i]] + ew[i] + bv[eps.dst[i]] - F)


@nb.njit(cache=True)  # O(B T in-degree): cheaper serial than a parallel region
def backtrack(gout, utt, runs, eps, lab, arc_ids, W, alpha, energy, grads_wanted, out, grads):
    """Follow a minimum-energy path back from the best final state (ties: first found).
    Writes the label and arc (local to its graph) per frame, and adds gout[b] to the path's
    emissions, arcs, start and final state: the gradient of the minimum energy.
    Arguments as ``tropical``'s; arc_ids = (csr_arc, arc_off) of the Structure;
    out = (labels, arcs) [B, T]; ``grads`` a ``_prep.Grads``, written if ``grads_wanted``."""
    ptr, src0, pos0, length, ulab = runs.ptr, runs.src0, runs.pos0, runs.length, runs.ulab
    w, ew = W.w, W.ew
    labels_out, arcs_out = out
    g_em, g_w, g_ew, g_sw, g_fw = grads
    for b in range(utt.em.shape[0]):
        if energy[b] == INF:
            continue
        g, T, n0, N, glabs = utterance(utt, runs.node_off, lab, b)
        go, row = gout[b], utt.rows[b]
        e0, e1 = eps.off[g], eps.off[g + 1]
        d = np.argmin(alpha[b, T, :N] + W.fw[n0 : n0 + N])  # ties: the first
        if grads_wanted:
            g_fw[row, n0 + d] += go
        t = T
        rsrc = 0
        rlab = 0
        while True:
            best = W.sw[n0 + d] if t == 0 else INF
            kind = 0
            arg = -1
            for i in range(e0, e1):
                if eps.dst[i] == d:
                    v = alpha[b, t, eps.src[i]] + ew[i]
                    if v < best:
                        best, kind, arg = v, 1, i
            if t > 0:
                for r in range(ptr[n0 + d], ptr[n0 + d + 1]):
                    s0, p0 = src0[r], pos0[r]
                    e = utt.em[b, t - 1, glabs[ulab[r]]]
                    for k in range(length[r]):
                        v = alpha[b, t - 1, s0 + k] + w[p0 + k] + e
                        if v < best:
                            best, kind, arg = v, 2, p0 + k
                            rsrc = s0 + k
                            rlab = glabs[ulab[r]]
            if kind == 0:
                if grads_wanted:
                    g_sw[row, n0 + d] += go
                break
            if kind == 1:
                if grads_wanted:
                    g_ew[row, arg] += go
                d = eps.src[arg]
                continue
            t -= 1
            if grads_wanted:
                g_w[row, arg] += go
                g_em[b, t, rlab] += go
            labels_out[b, t] = rlab
            arcs_out[b, t] = arc_ids[0][arg] - arc_ids[1][g]
            d = rsrc
