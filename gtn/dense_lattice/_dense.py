"""Scaled forward-backward for one shared, dense, state-labelled graph (the CRF chain): the
``_statewise`` recursion with the arc weights as a padded matrix instead of runs.

    alpha[t+1, j] ∝ pe[t, label j] * sum_i alpha[t, i] * wd[i, j]

is computed source-outer, destination-inner (``raw += alpha[i] * wd[i]``), and the backward
propagates beta with the transposed matrix the same way: axpys over rows padded to a multiple
of 4 doubles, so there are no horizontal sums or scalar remainders (with K = 10 labels the
per-destination dot products of ``_statewise`` spent most of their time in those).

Same inputs, outputs and conventions as ``_statewise.forward/backward`` (energies, lower is
better; probabilities relative to the shifts in ``Weights``) for graph 0: wd, wdt [N, P]
(P >= N, zero-padded) hold wexp as wd[i, j] = wdt[j, i] for the arc i -> j; dpos [E] maps
each CSR position to its index i * P + j in wd. alpha [B, T+1, >=N], pe [B, T, >=U].
"""

import numba as nb
import numpy as np

from ._emission import frame_factors
from ._scaled import FAST, TINY, _normalise_max


@nb.njit(cache=True, parallel=True, fastmath=FAST)
def forward(
    em, lengths, active, ulab, labs, wd, swexp, fwexp, shift, beta, pe, alpha, scale, energy,
    status,
):  # fmt: skip
    """Free energy per utterance into ``energy``; status[b] = 1 asks for the log-space path,
    2 flags a NaN or -inf among the labels ``labs`` of a frame t < lengths[b]."""
    N, P = wd.shape
    for b in nb.prange(em.shape[0]):
        status[b] = 1
        energy[b] = np.inf
        if not active[b]:
            continue
        T = lengths[b]
        raw = np.empty(P)
        a = np.empty(N)
        ebuf = np.empty(labs.shape[0])
        c = 0.0
        for s in range(N):
            c += swexp[s]
        if c == 0.0:
            continue
        for s in range(N):
            a[s] = swexp[s] / c
            alpha[b, 0, s] = a[s]
        scale[b, 0] = c
        total = np.log(c)
        eshift = 0.0
        bad = False
        for t in range(T):
            eshift += frame_factors(em[b, t], labs, beta, ebuf, pe[b, t])
            for u in range(ebuf.shape[0]):
                bad |= not ebuf[u] > -np.inf
            if bad:  # NaN or -inf energy: status 2, the caller names the culprit
                status[b] = 2
                break
            p = pe[b, t]
            _matvec(raw, wd, a, N, P)
            c = 0.0
            for j in range(N):
                raw[j] *= p[ulab[j]]
                c += raw[j]
            if not c > TINY:
                break
            inv = 1.0 / c
            for j in range(N):
                a[j] = raw[j] * inv
                alpha[b, t + 1, j] = a[j]
            scale[b, t + 1] = c
            total += np.log(c)
        if bad or not c > TINY:
            continue
        z = 0.0
        for s in range(N):
            z += alpha[b, T, s] * fwexp[s]
        if not z > TINY:
            continue
        status[b] = 0
        energy[b] = shift[0] * T + shift[1] + shift[2] + eshift - (total + np.log(z)) / beta


@nb.njit(cache=True, parallel=True, fastmath=FAST)
def backward(
    gout, lengths, active, rows, ulab, labs, wd, wdt, fwexp, alpha, pe, scale, arc_grads,
    g_em, g_d, g_sw, g_fw,
):  # fmt: skip
    """Posteriors times gout[b] into g_em [B, T, V], and into the arc (g_d [rows, N, P], laid
    out as wd; only if ``arc_grads``), start and final buffers (row rows[b], as in
    ``_statewise.backward``)."""
    N, P = wd.shape
    for b in nb.prange(gout.shape[0]):
        if not active[b]:
            continue
        go = gout[b]
        row = rows[b]
        T = lengths[b]
        bnext = np.zeros(P)
        bcur = np.zeros(P)
        f = np.zeros(P)
        z = 0.0
        for s in range(N):
            bnext[s] = fwexp[s]
            z += alpha[b, T, s] * fwexp[s]
        for s in range(N):
            g_fw[row, s] += go * alpha[b, T, s] * fwexp[s] / z
        _normalise_max(bnext, N)
        for t in range(T - 1, -1, -1):
            a = alpha[b, t]
            an = alpha[b, t + 1]
            p = pe[b, t]
            ge = g_em[b, t]
            norm = 0.0
            for j in range(N):
                norm += an[j] * bnext[j]
            post = go / norm  # state posterior = alpha[t+1, j] * bnext[j] * post
            coef = post / scale[b, t + 1]
            for j in range(N):
                u = ulab[j]
                ge[labs[u]] += an[j] * bnext[j] * post
                f[j] = p[u] * bnext[j]
            _matvec(bcur, wdt, f, N, P)
            if arc_grads:
                gd = g_d[row]
                for i in range(N):
                    ci = a[i] * coef
                    if ci != 0.0:
                        _axpy_prod(gd[i], wd[i], f, ci, P)
            _normalise_max(bcur, N)
            bnext, bcur = bcur, bnext
        z = 0.0
        for s in range(N):
            z += alpha[b, 0, s] * bnext[s]
        for s in range(N):
            g_sw[row, s] += go * alpha[b, 0, s] * bnext[s] / z


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _matvec(out, m, x, n, P):
    """out[:P] = sum_{i < n} x[i] * m[i, :P], four rows per pass: each pass is a chain of
    dependent loads and stores of ``out``, so fewer passes run much faster."""
    out[:] = 0.0
    i = 0
    while i + 4 <= n:
        _axpy4(out, m[i], m[i + 1], m[i + 2], m[i + 3], x[i], x[i + 1], x[i + 2], x[i + 3], P)
        i += 4
    while i < n:
        _axpy(out, m[i], x[i], P)
        i += 1


# Unsigned loop bounds (see _statewise) so that LLVM vectorises without remainder checks.
@nb.njit(cache=True, fastmath=FAST, inline="always")
def _axpy(out, x, c, n):
    for k in range(np.uint64(n)):
        out[k] += x[k] * c


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _axpy4(out, x0, x1, x2, x3, c0, c1, c2, c3, n):
    for k in range(np.uint64(n)):
        out[k] += (x0[k] * c0 + x1[k] * c1) + (x2[k] * c2 + x3[k] * c3)


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _axpy_prod(out, x, y, c, n):
    for k in range(np.uint64(n)):
        out[k] += x[k] * y[k] * c


def matrices(flat: np.ndarray, csr_arc: np.ndarray, N: int, wexp: np.ndarray) -> tuple:
    """(wd, wdt [N, P], dpos [E]) from wexp in CSR order; flat[a] = src * N + dst of arc a."""
    P = -(-N // 4) * 4
    src, dst = np.divmod(flat[csr_arc], N)
    dpos = src * P + dst
    wd = np.zeros((N, P))
    wd.reshape(-1)[dpos] = wexp
    wdt = np.zeros((N, P))
    wdt.reshape(-1)[dst * P + src] = wexp
    return wd, wdt, dpos
