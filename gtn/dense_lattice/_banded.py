"""Exact forward-backward for *banded* state-labelled graphs (numba): every arc goes from
state s to s + k, 0 <= k < K (CTC: K = 3, a left-to-right HMM or an ASG transcript: 2).

Probabilities exp(-beta E) are a mantissa in [1, 2) (0: unreached) times 2 to an integer-valued
float64 exponent: nothing over- or underflows, however long or peaked the input (one scale per
frame, ``_scaled``, cannot hold every state then), and a frame needs no exp or log per state: the
arcs into state d are K shifted diagonals, aligned to their largest exponent by powers of two.
The backward carries state posteriors (the emission gradient) back through each arc's share of
its destination's forward value. am, ae [B, T+1, Nmax]: forward mantissas and exponents."""

from typing import NamedTuple

import numba as nb
import numpy as np

from .._internal.exp import _bits_as_float, _float_as_bits, fast_exp
from .._internal.jit import batch_kernel
from ._logspace import FAST, INF
from ._prep import utterance

MAX_WIDTH = 4  # wider bands go to the general log-space kernels
NONE = -(2.0**60)  # the exponent of 0 (an unreached state, an absent arc, an impossible label)
LOG2E, LN2 = 1.4426950408889634, 0.6931471805599453
_MAGIC = 2.0**52 + 1023.0  # 2**52 + e holds the biased exponent e in its low bits


class Band(NamedTuple):
    """The band of a Structure: each emitting arc in CSR order is (node[p] - k[p] -> node[p])
    with global destination node[p]."""

    width: int
    k: np.ndarray  # int64 [E]
    node: np.ndarray  # int64 [E]


def band(st) -> Band | None:
    """The :class:`Band` of a state-labelled Structure, or None when some arc goes back or
    MAX_WIDTH or more states ahead, two arcs join the same pair, or a graph has no labels.
    Read off the runs directly (no per-arc list, no sort): it is built once per graph batch,
    and CTC builds a batch per call."""
    if not st.state_labelled or (st.num_graphs and np.diff(st.lab_off).min() == 0):
        return None
    n_total = int(st.node_off[-1])
    dst = np.repeat(np.arange(n_total), np.diff(st.run_ptr))  # global destination of each run
    local = dst - st.node_off[np.searchsorted(st.node_off, dst, side="right") - 1]
    # a run's arcs take consecutive CSR positions from run_pos0 and sources from run_src0
    k = np.repeat(local - st.run_src0 + st.run_pos0, st.run_len) - np.arange(st.run_len.sum())
    if k.size and not (k.min() >= 0 and k.max() < MAX_WIDTH):
        return None
    node = np.repeat(dst, st.run_len)
    if k.size and np.bincount(node * MAX_WIDTH + k).max() > 1:
        return None
    return Band(int(k.max()) + 1 if k.size else 1, k, node)


def band_weights(bd: Band, W, n_total: int, beta: float) -> tuple:
    """(wm, we) [K, N] for the arc d - k -> d, then the start's and the final's (m, e) [N]:
    exp(-beta energy) as mantissa and exponent."""
    wb = np.full((bd.width, n_total), INF)
    wb[bd.k, bd.node] = W.w
    out = []
    for z in (-beta * LOG2E * x for x in (wb, W.sw, W.fw)):
        e = np.floor(np.where(np.isfinite(z), z, 0.0))
        out += [np.where(np.isfinite(z), np.exp2(z - e), 0.0), np.where(np.isfinite(z), e, NONE)]
    return tuple(out)


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _pow2(e):
    """2**e for an integer-valued e <= 1023, 0 below -1022: a term that small is negligible next
    to the one of mantissa >= 1 it is added to (and subnormals are slow). No float -> int
    conversion: AVX2 has none, and the loops would not vectorise."""
    return _bits_as_float(_float_as_bits(min(max(e, -1023.0), 1023.0) + _MAGIC) << 52)


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _label_factors(em_row, labs, beta, pm, pe):
    """exp(-beta em_row[labs[u]]) as mantissa pm[u] and exponent pe[u]."""
    for u in range(labs.shape[0]):
        z = -beta * LOG2E * np.float64(em_row[labs[u]])
        pe[u] = np.floor(z) if z > -INF else NONE
        pm[u] = fast_exp((z - pe[u]) * LN2) if z > -INF else 0.0


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _normalise(x, e, m_out, e_out, n):
    """m_out, e_out = x * 2**e with the mantissa in [1, 2) (x >= 1 or 0)."""
    for i in range(n):
        bits = _float_as_bits(x[i])
        m_out[i] = _bits_as_float((bits & 0xFFFFFFFFFFFFF) | (1023 << 52)) if x[i] > 0 else 0.0
        ex = _bits_as_float((bits >> 52) | 0x4330000000000000) - _MAGIC  # unbiased
        e_out[i] = e[i] + ex if x[i] > 0 else NONE


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _final(m, e, fm, fe, out):
    """out = each state's share of the total into the final states; returns -beta F (or -inf)."""
    top = np.max(e + fe[: e.shape[0]])
    z = 0.0
    for s in range(m.shape[0]):
        out[s] = m[s] * fm[s] * _pow2(e[s] + fe[s] - top)
        z += out[s]
    out[: m.shape[0]] *= 1.0 / z if z > 0.0 else 0.0
    return top * LN2 + np.log(z) if z > 0.0 else -INF


@batch_kernel(fastmath=FAST)
def forward(beta, utt, node_off, sulab, lab, bw, K, am, ae, energy):
    """Free energies at ``beta`` of the utterances ``active`` into energy, and the forward
    values into am, ae. utt: ``_prep.Utterances``; sulab [N] each state's label index; lab:
    ``_prep.LabelSets``; bw from band_weights."""
    wm, we, sm, se, fm, fe = bw
    for b in nb.prange(utt.em.shape[0]):
        if not utt.active[b]:
            continue
        _, T, n0, N, glabs = utterance(utt, node_off, lab, b)
        sl = sulab[n0 : n0 + N]
        U = glabs.shape[0]
        pm, pe, acc, top = np.empty(U), np.empty(U), np.empty(N), np.empty(N)
        am[b, 0, :N], ae[b, 0, :N] = sm[n0 : n0 + N], se[n0 : n0 + N]
        for t in range(T):
            _label_factors(utt.em[b, t], glabs, beta, pm, pe)
            x, xe = am[b, t], ae[b, t]
            top[:] = NONE
            for k in range(min(K, N)):
                _max_into(top[k:], xe, we[k, n0 + k :], N - k)
            acc[:] = 0.0
            for k in range(min(K, N)):
                _align_into(acc[k:], x, xe, wm[k, n0 + k :], we[k, n0 + k :], top[k:], N - k)
            for d in range(N):
                acc[d] *= pm[sl[d]]
                top[d] += pe[sl[d]]
            _normalise(acc, top, am[b, t + 1], ae[b, t + 1], N)
        energy[b] = -_final(am[b, T, :N], ae[b, T, :N], fm[n0:], fe[n0:], acc) / beta


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _max_into(top, xe, we, n):
    for i in range(np.uint64(n)):
        top[i] = max(top[i], xe[i] + we[i])


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _align_into(acc, x, xe, w, we, top, n):
    for i in range(np.uint64(n)):
        acc[i] += x[i] * w[i] * _pow2(xe[i] + we[i] - top[i])


@batch_kernel(fastmath=FAST)
def backward(beta, gout, utt, node_off, sulab, lab, bw, K, am, ae, g_em, g_sw, g_fw):
    """Free-energy posteriors times gout[b] (see ``_logspace.backward``, which also gives the
    arcs') into g_em [B, T, V] and the start and final buffers [rows, N]; the rest as
    :func:`forward`'s."""
    wm, we, _, _, fm, fe = bw
    for b in nb.prange(utt.em.shape[0]):
        if not utt.active[b]:
            continue
        _, T, n0, N, glabs = utterance(utt, node_off, lab, b)
        go, row = gout[b], utt.rows[b]
        sl = sulab[n0 : n0 + N]
        gn, gc, f, fx = np.empty(N), np.empty(N), np.empty(N), np.empty(N)
        pm, pe, ge = np.empty(glabs.shape[0]), np.empty(glabs.shape[0]), np.empty(glabs.shape[0])
        _final(am[b, T, :N], ae[b, T, :N], fm[n0:], fe[n0:], gn)  # posteriors of frame t+1
        gn *= go
        g_fw[row, n0 : n0 + N] += gn
        for t in range(T - 1, -1, -1):
            _label_factors(utt.em[b, t], glabs, beta, pm, pe)
            ge[:] = 0.0
            for d in range(N):
                u, m = sl[d], am[b, t + 1, d]
                ge[u] += gn[d]
                f[d] = gn[d] * pm[u] / m if m > 0.0 else 0.0  # posterior / pre-emission value
                fx[d] = pe[u] - ae[b, t + 1, d]
            _normalise(f, fx, f, fx, N)  # mantissas >= 1: _share_into's terms are never subnormal
            for u in range(glabs.shape[0]):
                g_em[b, t, glabs[u]] += ge[u]
            gc[:] = 0.0
            for k in range(min(K, N)):
                _share_into(
                    gc, am[b, t], ae[b, t], wm[k, n0 + k :], we[k, n0 + k :], f[k:], fx[k:], N - k
                )
            gn, gc = gc, gn
        g_sw[row, n0 : n0 + N] += gn


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _share_into(out, x, xe, w, we, f, fe, n):
    """out[s] += the posterior flowing back along the arc s -> s + k (w, we its weight, f, fe
    its destination's posterior over pre-emission value)."""
    for i in range(np.uint64(n)):
        out[i] += x[i] * w[i] * f[i] * _pow2(xe[i] + we[i] + fe[i])
