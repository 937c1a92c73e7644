"""Scaled forward-backward for one shared, dense, state-labelled graph (the CRF chain): the
``_statewise`` recursion with the arc weights as a padded matrix instead of runs.

    alpha[t+1, j] ∝ pe[t, label j] * sum_i alpha[t, i] * wd[i, j]

is computed source-outer, destination-inner (``raw += alpha[i] * wd[i]``), and the backward
propagates beta with the transposed matrix the same way: axpys over rows padded to a multiple
of 4 doubles, so there are no horizontal sums or scalar remainders (with K = 10 labels the
per-destination dot products of ``_statewise`` spent most of their time in those).

Same inputs, outputs and conventions as ``_statewise.forward/backward`` (energies, lower is
better; probabilities relative to the shifts in ``Weights``) for graph 0, given as a
:class:`Matrix`. alpha [B, T+1, >=N], pe [B, T, U] (U labels: read flat).
"""

from typing import NamedTuple

import numba as nb
import numpy as np

from .._internal.exp import fast_exp
from .._internal.jit import batch_kernel
from . import _scaled
from ._scaled import EXACT, FAST, FLUSHED, LOG, LOW, SUBNORMAL


class Matrix(NamedTuple):
    """The graph as the matrix kernels read it: wd, wdt [N, P] (P >= N, zero-padded) hold wexp
    as wd[i, j] = wdt[j, i] for the arc i -> j; dpos [E] maps each CSR position to its index
    i * P + j in wd."""

    ulab: np.ndarray  # int64 [N] each state's label index
    labs: np.ndarray  # int64 [U] the graph's labels
    wd: np.ndarray
    wdt: np.ndarray
    dpos: np.ndarray


@batch_kernel(fastmath=FAST)
def forward(utt, M, W, beta, pe, alpha, scale, energy, status):
    """Free energy per utterance into ``energy`` and its status (see ``_scaled``). Arguments
    as ``_scaled.forward``'s, with the graph as a :class:`Matrix`."""
    ulab, labs, wd, wdt = M.ulab, M.labs, M.wd, M.wdt
    N, P = wd.shape
    for b in nb.prange(utt.em.shape[0]):
        if not utt.active[b]:
            continue
        T = utt.lengths[b]
        raw, a = np.empty(P), np.empty(N)
        c = _scaled.start(W.swexp, a)
        if not c > 0.0:
            continue
        for j in range(N):  # not a slice copy: that compiles numba's shape-error message
            alpha[b, 0, j] = a[j]
        eshift = _factors(utt.em[b], labs, T, beta, pe[b])
        total, code = np.log(c), EXACT
        for t in range(T):
            p = pe[b, t]
            _matvec(raw, wd, a, N, P)
            c = 0.0
            for j in range(N):
                raw[j] *= p[ulab[j]]
                raw[j] = raw[j] if raw[j] >= SUBNORMAL else 0.0
                c += raw[j]
            if not c >= LOW:
                code = LOG
                break
            inv = 1.0 / c
            for j in range(N):
                v = raw[j] * inv
                if v < LOW and utt.em[b, t, labs[ulab[j]]] < np.inf:
                    for i in range(N):
                        if alpha[b, t, i] > 0.0 and wdt[j, i] > 0.0:
                            v = LOW  # see _scaled.normalise: flushed, never absent
                            code = FLUSHED
                a[j] = alpha[b, t + 1, j] = v
            scale[b, t + 1] = c
            total += np.log(c)
        z = _scaled.final(alpha[b, T, :N], W.fwexp)
        status[b], energy[b] = _scaled.free_energy(code, z, total, eshift, W.shift[0], T, beta)


@batch_kernel(fastmath=FAST)
def backward(gout, utt, M, W, fwd, arc_grads, dev, g_em, g_w, g_sw, g_fw):
    """Posteriors times gout[b] into g_em [B, T, V], start and final buffers (row rows[b], as
    in ``_statewise.backward``); dev[b] as in ``_scaled.backward``. With ``arc_grads``, the
    arc posteriors into g_w [rows, E] (CSR order): the arc i -> j's is wd[i, j] times the sum
    over frames of alpha[t, i] f[t, j], with f each frame's beta factors (times gout[b]),
    summed as one rank-4 update per 4 frames (N four-row axpys: no BLAS call, whose worker
    threads would spin after a product as large as K = 50's)."""
    ulab, labs, wd, wdt = M.ulab, M.labs, M.wd, M.wdt
    pe, alpha, scale = fwd.pe, fwd.alpha, fwd.scale
    N, P = wdt.shape
    for b in nb.prange(gout.shape[0]):
        if not utt.active[b]:
            continue
        go, row, T = gout[b], utt.rows[b], utt.lengths[b]
        bnext, bcur, f4, a = np.zeros(P), np.zeros(P), np.zeros((4, P)), np.zeros((4, N))
        G = np.zeros((N if arc_grads else 0, P))
        _scaled.final_betas(alpha[b, T, :N], W.fwexp, go, bnext, g_fw[row])
        worst = 0.0
        for t in range(T - 1, -1, -1):
            an, p, ge, f = alpha[b, t + 1], pe[b, t], g_em[b, t], f4[t % 4]
            inv = 1.0 / scale[b, t + 1]
            total = 0.0  # the state posteriors of frame t sum to 1
            for j in range(N):
                u = ulab[j]
                post, f[j] = _scaled.state_posterior(an[j], bnext[j], p[u], inv, go, ge, labs[u])
                total += post
            worst = max(worst, _scaled.deviation(total))
            _matvec(bcur, wdt, f, N, P)
            for i in range(N if arc_grads else 0):  # G += rank-4 updates, every 4th frame
                a[t % 4, i] = alpha[b, t, i] * go  # (slots of a first, partial block stay 0)
                if t % 4 == 0:
                    _axpy4(G[i], f4[0], f4[1], f4[2], f4[3], a[0, i], a[1, i], a[2, i], a[3, i], P)
            _scaled.prune(bcur, alpha[b, t], N)
            bnext, bcur = bcur, bnext
        for e in range(M.dpos.shape[0] if arc_grads else 0):
            i, j = divmod(M.dpos[e], P)
            g_w[row, e] += wd[i, j] * G[i, j]
        dev[b] = max(worst, _scaled.start_posteriors(alpha[b, 0, :N], bnext, go, g_sw[row]))


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _factors(em, labs, T, beta, pe):
    """``_scaled.frame_factors`` of frames t < T in pe [>= T, U]: shifted energies, then one exp
    loop over all of them (no scalar remainder per frame); returns the sum of the shifts."""
    n, eshift = labs.shape[0], 0.0
    for t in range(T):
        m = np.inf
        for u in range(n):
            x = np.float64(em[t, labs[u]])
            pe[t, u], m = x, min(m, x)
        m = m if m < np.inf else 0.0
        eshift += m
        for u in range(n):
            pe[t, u] -= m
    p, c = pe.reshape(-1), -beta
    for k in range(np.uint64(T * n)):
        x = fast_exp(max(c * p[k], -700.0))  # 0 below anyway: no slow subnormal arithmetic
        p[k] = x if x >= SUBNORMAL else 0.0
    return eshift


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


def matrix(flat: np.ndarray, st, N: int, wexp: np.ndarray) -> Matrix:
    """The :class:`Matrix` of graph 0 from wexp in CSR order; flat[a] = src * N + dst of arc
    a (see ``_viterbi.layout``), ``st`` its ``_prep.Structure``."""
    P = -(-N // 4) * 4
    src, dst = np.divmod(flat[st.csr_arc], N)
    dpos = src * P + dst
    wd, wdt = np.zeros((2, N, P))
    wd.reshape(-1)[dpos] = wexp
    wdt.reshape(-1)[dst * P + src] = wexp
    return Matrix(st.state_ulab[:N], st.labs, wd, wdt, dpos)
