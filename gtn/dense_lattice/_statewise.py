"""Scaled forward-backward for *state-labelled* graphs (numba): no epsilon arcs, and every
emitting arc into state d carries d's label (CTC, HMM, ASG, linear-chain CRF).

Same conventions as ``_scaled`` (probability space relative to per-graph weight shifts and
per-frame emission shifts, each frame renormalised, a flag asks for the log-space path), but
the emission factor is applied once per state per frame:

    alpha[t+1, d] ∝ pe[t, label d] * sum over arcs s->d of alpha[t, s] * wexp[arc]

and the emission gradient is the state posterior alpha[t+1, d] beta[t+1, d] / Z, accumulated
per label, so the backward touches arcs only to propagate beta (and, when the arc energies need
gradients, for their posteriors).

Shapes: em [B, T, V] energies; pe [B, T, Umax] (filled by ``forward``, each graph's labels);
alpha [B, T+1, Nmax]; scale [B, T+1]; alpha and pe in the emissions' dtype, sums in float64.
"""

import numba as nb
import numpy as np

from ._emission import frame_factors
from ._scaled import FAST, TINY, _normalise_max


@nb.njit(cache=True, parallel=True, fastmath=FAST)
def forward(
    em,
    lengths,
    gidx,
    active,
    node_off,
    run_ptr,
    run_src0,
    run_pos0,
    run_len,
    state_ulab,
    lab_off,
    labs,
    wexp,
    swexp,
    fwexp,
    shift,
    beta,
    pe,
    alpha,
    scale,
    energy,
    status,
):
    """Free energy per utterance into ``energy``; status[b] = 1 asks for the log-space path."""
    nmax = alpha.shape[2]
    for b in nb.prange(em.shape[0]):
        status[b] = 1
        energy[b] = np.inf
        if not active[b]:
            continue
        g = gidx[b]
        T = lengths[b]
        n0 = node_off[g]
        N = node_off[g + 1] - n0
        raw = np.empty(nmax)
        glabs = labs[lab_off[g] : lab_off[g + 1]]
        ebuf = np.empty(glabs.shape[0])
        c = 0.0
        for s in range(N):
            c += swexp[n0 + s]
        if c == 0.0:
            continue
        for s in range(N):
            alpha[b, 0, s] = swexp[n0 + s] / c
        scale[b, 0] = c
        total = np.log(c)
        eshift = 0.0
        for t in range(T):
            eshift += frame_factors(em[b, t], glabs, beta, ebuf, pe[b, t])
            a = alpha[b, t]
            p = pe[b, t]
            c = 0.0
            for d in range(N):
                acc = 0.0
                for r in range(run_ptr[n0 + d], run_ptr[n0 + d + 1]):
                    acc += _dot(a, run_src0[r], wexp, run_pos0[r], run_len[r])
                acc *= p[state_ulab[n0 + d]]
                raw[d] = acc
                c += acc
            if not c > TINY:
                break
            inv = 1.0 / c
            out = alpha[b, t + 1]
            for d in range(N):
                out[d] = raw[d] * inv
            scale[b, t + 1] = c
            total += np.log(c)
        if not c > TINY:
            continue
        z = 0.0
        for s in range(N):
            z += alpha[b, T, s] * fwexp[n0 + s]
        if not z > TINY:
            continue
        status[b] = 0
        energy[b] = (
            shift[g, 0] * T + shift[g, 1] + shift[g, 2] + eshift - (total + np.log(z)) / beta
        )


@nb.njit(cache=True, parallel=True, fastmath=FAST)
def backward(
    gout,
    lengths,
    gidx,
    active,
    rows,
    node_off,
    run_ptr,
    run_src0,
    run_pos0,
    run_len,
    state_ulab,
    lab_off,
    labs,
    wexp,
    swexp,
    fwexp,
    alpha,
    pe,
    scale,
    arc_grads,
    g_em,
    g_w,
    g_sw,
    g_fw,
):
    """Posteriors times gout[b] into g_em [B, T, V], and into the arc (only if ``arc_grads``),
    start and final buffers (row rows[b], as in ``_scaled.backward``)."""
    nmax = alpha.shape[2]
    for b in nb.prange(gout.shape[0]):
        if not active[b]:
            continue
        go = gout[b]
        g = gidx[b]
        row = rows[b]
        T = lengths[b]
        n0 = node_off[g]
        N = node_off[g + 1] - n0
        bnext = np.empty(nmax)
        bcur = np.empty(nmax)
        gw = g_w[row]
        z = 0.0
        for s in range(N):
            bnext[s] = fwexp[n0 + s]
            z += alpha[b, T, s] * fwexp[n0 + s]
        for s in range(N):
            g_fw[row, n0 + s] += go * alpha[b, T, s] * fwexp[n0 + s] / z
        _normalise_max(bnext, N)
        ulab = state_ulab[n0 : n0 + N]
        rptr = run_ptr[n0 : n0 + N + 1]
        glabs = labs[lab_off[g] : lab_off[g + 1]]
        for t in range(T - 1, -1, -1):
            a = alpha[b, t]
            an = alpha[b, t + 1]
            p = pe[b, t]
            ge = g_em[b, t]
            norm = 0.0
            for d in range(N):
                norm += an[d] * bnext[d]
            post = go / norm  # state posterior = alpha[t+1, d] * bnext[d] * post
            coef = post / scale[b, t + 1]
            bcur[:N] = 0.0
            for d in range(N):
                bd = bnext[d]
                if bd == 0.0:
                    continue
                u = ulab[d]
                ge[glabs[u]] += an[d] * bd * post
                f = p[u] * bd
                for r in range(rptr[d], rptr[d + 1]):
                    s0, p0, n = run_src0[r], run_pos0[r], run_len[r]
                    _axpy(bcur, s0, wexp, p0, n, f)
                    if arc_grads:
                        _axpy_prod(gw, p0, a, s0, wexp, n, f * coef)
            _normalise_max(bcur, N)
            bnext, bcur = bcur, bnext
        z = 0.0
        for s in range(N):
            z += alpha[b, 0, s] * bnext[s]
        for s in range(N):
            g_sw[row, n0 + s] += go * alpha[b, 0, s] * bnext[s] / z


# Unsigned indices: an index that might be negative makes numba wrap it, which stops LLVM
# from vectorising the loop (about 6x slower for a CRF state's K-arc run); slices would do too,
# but cost more than a CTC state's 2-3 arcs.
@nb.njit(cache=True, fastmath=FAST, inline="always")
def _dot(a, s0, w, p0, n):
    s, p = np.uint64(s0), np.uint64(p0)
    acc = 0.0
    for k in range(np.uint64(n)):
        acc += a[s + k] * w[p + k]
    return acc


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _axpy(out, s0, w, p0, n, f):
    s, p = np.uint64(s0), np.uint64(p0)
    for k in range(np.uint64(n)):
        out[s + k] += w[p + k] * f


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _axpy_prod(out, p0, a, s0, w, n, f):
    """out[p0 + k] += a[s0 + k] * w[p0 + k] * f"""
    s, p = np.uint64(s0), np.uint64(p0)
    for k in range(np.uint64(n)):
        out[p + k] += a[s + k] * w[p + k] * f
