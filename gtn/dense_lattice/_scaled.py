"""Forward-backward in scaled probability space (numba), the fast path for free energies.

Values are exp(-beta * energy) relative to per-graph weight shifts and per-frame emission
shifts, and each frame's forward vector is renormalised to sum 1 (its log scale is kept), so
only multiply-adds remain in the inner loops. Alpha is stored *before* the epsilon closure so the
backward pass can normalise every posterior locally (each path crosses each frame once).
Utterances whose scales underflow, or that end with no mass, are flagged for the exact
log-space kernels (``_logspace``), which also tell "no path" from underflow.

Shapes: em [B, T, V]; pe [B, T, Umax] (the emission factors of each graph's labels, filled by
the forward pass and reused by the backward);
alpha [B, T+1, Nmax]; scale [B, T+1]. alpha and pe are stored in the emissions' dtype (halves
memory for float32); all sums accumulate in float64.
"""

import numba as nb
import numpy as np

from ._emission import frame_factors

# reassoc lets LLVM vectorise the dot products; no 'nnan'/'ninf': +inf energies are meaningful.
FAST = {"reassoc", "contract", "nsz", "arcp"}
TINY = 1e-280  # a frame scale below this loses float64 precision: fall back to log space


@nb.njit(cache=True, fastmath=FAST)
def _closure(a, out, e0, e1, eps_src, eps_dst, ewexp):
    """out = epsilon closure of a (forward direction, topological order)."""
    out[:] = a
    for i in range(e0, e1):
        out[eps_dst[i]] += out[eps_src[i]] * ewexp[i]


@nb.njit(cache=True, fastmath=FAST)
def _closure_back(bv, e0, e1, eps_src, eps_dst, ewexp):
    for i in range(e1 - 1, e0 - 1, -1):
        bv[eps_src[i]] += ewexp[i] * bv[eps_dst[i]]


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
    run_ulab,
    eps_off,
    eps_src,
    eps_dst,
    lab_off,
    labs,
    wexp,
    ewexp,
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
    """Free energy per utterance into ``energy``; status[b] = 1 asks for the log-space path.
    Fills pe[b, t, u] = exp(-beta (em[b, t, label u] - m[b, t])) (see ``_emission``)."""
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
        e0, e1 = eps_off[g], eps_off[g + 1]
        glabs = labs[lab_off[g] : lab_off[g + 1]]
        ebuf = np.empty(glabs.shape[0])
        tmp = np.empty(nmax, alpha.dtype)
        raw = np.empty(nmax)  # a frame before normalisation, in float64
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
            if e1 > e0:
                _closure(alpha[b, t, :N], tmp[:N], e0, e1, eps_src, eps_dst, ewexp)
                a = tmp
            c = 0.0
            for d in range(N):
                acc = 0.0
                for r in range(run_ptr[n0 + d], run_ptr[n0 + d + 1]):
                    s0, p0 = run_src0[r], run_pos0[r]
                    dot = 0.0
                    for k in range(run_len[r]):
                        dot += a[s0 + k] * wexp[p0 + k]
                    acc += dot * pe[b, t, run_ulab[r]]
                raw[d] = acc
                c += acc
            if not c > TINY:
                break
            inv = 1.0 / c
            for d in range(N):
                alpha[b, t + 1, d] = raw[d] * inv
            scale[b, t + 1] = c
            total += np.log(c)
        if not c > TINY:
            continue
        a = alpha[b, T]
        if e1 > e0:
            _closure(alpha[b, T, :N], tmp[:N], e0, e1, eps_src, eps_dst, ewexp)
            a = tmp
        z = 0.0
        for s in range(N):
            z += a[s] * fwexp[n0 + s]
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
    wexp,
    ewexp,
    swexp,
    fwexp,
    alpha,
    pe,
    scale,
    active,
    rows,
    arc_grads,
    g_em,
    g_w,
    g_ew,
    g_sw,
    g_fw,
):
    """Posteriors times gout[b]: into g_em [B, T, V] and the arc (only if ``arc_grads``),
    epsilon, start and final buffers (row rows[b]: b when the graph is shared by the batch,
    else 0 with disjoint slices)."""
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
        u0 = lab_off[g]
        e0, e1 = eps_off[g], eps_off[g + 1]
        has_eps = e1 > e0
        bnext = np.empty(nmax)
        bcur = np.empty(nmax)
        tmp = np.empty(nmax, alpha.dtype)
        a = alpha[b, T]
        if has_eps:
            _closure(alpha[b, T, :N], tmp[:N], e0, e1, eps_src, eps_dst, ewexp)
            a = tmp
        z = 0.0
        for s in range(N):
            bnext[s] = fwexp[n0 + s]
            z += a[s] * fwexp[n0 + s]
        for s in range(N):
            g_fw[row, n0 + s] += go * a[s] * fwexp[n0 + s] / z
        if has_eps:
            _closure_back(bnext, e0, e1, eps_src, eps_dst, ewexp)
            _eps_grads(go, alpha[b, T], a, bnext, N, e0, e1, eps_src, eps_dst, ewexp, g_ew[row])
        _normalise_max(bnext, N)
        for t in range(T - 1, -1, -1):
            a = alpha[b, t]
            if has_eps:
                _closure(alpha[b, t, :N], tmp[:N], e0, e1, eps_src, eps_dst, ewexp)
                a = tmp
            norm = 0.0
            for d in range(N):
                norm += alpha[b, t + 1, d] * bnext[d]
            coef = go / (norm * scale[b, t + 1])
            for s in range(N):
                bcur[s] = 0.0
            for d in range(N):
                bd = bnext[d] * coef
                if bd == 0.0:
                    continue
                for r in range(run_ptr[n0 + d], run_ptr[n0 + d + 1]):
                    s0, p0 = run_src0[r], run_pos0[r]
                    f = pe[b, t, run_ulab[r]] * bd
                    tot = 0.0
                    for k in range(run_len[r]):
                        x = wexp[p0 + k] * f
                        xi = a[s0 + k] * x
                        if arc_grads:
                            g_w[row, p0 + k] += xi
                        tot += xi
                        bcur[s0 + k] += x
                    g_em[b, t, labs[u0 + run_ulab[r]]] += tot
            if has_eps:
                _closure_back(bcur, e0, e1, eps_src, eps_dst, ewexp)
                _eps_grads(go, alpha[b, t], a, bcur, N, e0, e1, eps_src, eps_dst, ewexp, g_ew[row])
            _normalise_max(bcur, N)
            bnext, bcur = bcur, bnext
        z = 0.0
        for s in range(N):
            z += alpha[b, 0, s] * bnext[s]
        for s in range(N):
            g_sw[row, n0 + s] += go * alpha[b, 0, s] * bnext[s] / z


@nb.njit(cache=True, fastmath=FAST)
def _normalise_max(v, n):
    m = 0.0
    for i in range(n):
        m = max(m, v[i])
    if m > 0.0:
        inv = 1.0 / m
        for i in range(n):
            v[i] *= inv


@nb.njit(cache=True, fastmath=FAST)
def _eps_grads(go, apre, a, bv, n, e0, e1, eps_src, eps_dst, ewexp, g_ew):
    """Epsilon-arc posteriors at one time step; every path crosses the pre-closure point once,
    so sum_s apre[s] bv[s] is the normaliser."""
    z = 0.0
    for s in range(n):
        z += apre[s] * bv[s]
    for i in range(e0, e1):
        g_ew[i] += go * a[eps_src[i]] * ewexp[i] * bv[eps_dst[i]] / z
