"""Exact forward-backward for *banded* state-labelled graphs (numba): every arc goes from
state s to s + k, 0 <= k < K (CTC: K = 3, a left-to-right HMM or an ASG transcript: 2).

Probabilities exp(-beta E) are a mantissa in [1, 2) (0: unreached) times 2 to an integer-valued
float64 exponent: nothing over- or underflows, however long or peaked the input (one scale per
frame, ``_scaled``, cannot hold every state then), and a frame needs no exp or log per state: the
arcs into state d are K shifted diagonals, aligned to their largest exponent by powers of two.
The backward carries state posteriors (the emission gradient) back through each arc's share of
its destination's forward value. am, ae [B, T+1, Nmax]: forward mantissas and exponents.

Exponents are integer-valued floats, exact below 2**53; above that (beta * |E| beyond about
6e15) their sums round, which rounds the energies no more than float64 energies round anyway,
but a term's alignment to its state's largest, 2**((xe + we) - top), must still be exactly 1 for
the largest term (or it reads as 0 or overflows). So the kernels are compiled without fast-math's
reassociation, which could turn (xe + we) - top into xe + (we - top) (a helper compiled for a
fast-math kernel takes on that kernel's flags, so the kernels themselves must be strict; their
loops are elementwise and vectorise without it). The backward forms each arc's share from the very
terms it sums, so the posteriors of a frame sum to 1 at any beta."""

from typing import NamedTuple

import numba as nb
import numpy as np

from .._internal.exp import _bits_as_float, _float_as_bits, fast_exp
from .._internal.jit import batch_kernel
from ._logspace import INF
from ._prep import utterance

MAX_WIDTH = 4  # wider bands go to the general log-space kernels
# the exponent of 0 (an unreached state, an absent arc, an impossible label): below every
# finite exponent, however large beta * |E|; _pow2 reads the NaN of -inf - (-inf) as 0
NONE = -np.inf
LOG2E, LN2 = 1.4426950408889634, 0.6931471805599453
_MAGIC = 2.0**52 + 1023.0  # 2**52 + e holds the biased exponent e in its low bits
_NO_REASSOC = {"contract", "nsz", "arcp"}  # fast-math without reassociation: see above


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


def band_weights(bd: Band, W, n_total: int, beta: float) -> tuple | None:
    """(wm, we) [K, N] for the arc d - k -> d, then the start's and the final's (m, e) [N]:
    exp(-beta energy) as mantissa and exponent; None when beta times a finite energy leaves
    float64 (the general log-space kernels then score the lattice)."""
    wb = np.full((bd.width, n_total), INF)
    wb[bd.k, bd.node] = W.w
    out = []
    for x in (wb, W.sw, W.fw):
        with np.errstate(over="ignore"):
            z = -beta * LOG2E * x
        if (np.isinf(z) & np.isfinite(x)).any():
            return None
        e = np.floor(np.where(np.isfinite(z), z, 0.0))
        out += [np.where(np.isfinite(z), np.exp2(z - e), 0.0), np.where(np.isfinite(z), e, NONE)]
    return tuple(out)


@nb.njit(cache=True, inline="always")
def _pow2(e):
    """2**e for an integer-valued e <= 1023, 0 below -1022 and for NaN: a term that small is
    negligible next to the one of mantissa >= 1 it is added to (and subnormals are slow). No
    float -> int conversion: AVX2 has none, and the loops would not vectorise."""
    c = e if e > -1023.0 else -1023.0  # selects, not min/max: NaN goes to -1023
    c = c if c < 1023.0 else 1023.0
    return _bits_as_float(_float_as_bits(c + _MAGIC) << 52)


@nb.njit(cache=True, inline="always")
def _label_factors(em_row, labs, beta, pm, pe):
    """exp(-beta em_row[labs[u]]) as mantissa pm[u] and exponent pe[u]; False if beta times a
    finite energy left float64."""
    ok = True
    for u in range(labs.shape[0]):
        x = np.float64(em_row[labs[u]])
        z = -beta * LOG2E * x
        ok &= abs(z) < INF or x == INF
        pe[u] = np.floor(z) if abs(z) < INF else NONE
        pm[u] = fast_exp((z - pe[u]) * LN2) if abs(z) < INF else 0.0
    return ok


@nb.njit(cache=True, inline="always")
def _normalise(x, e, m_out, e_out, n):
    """m_out, e_out = x * 2**e with the mantissa in [1, 2) (x >= 1 or 0); False if the exponent
    of a nonzero value left float64."""
    ok = True
    for i in range(n):
        bits = _float_as_bits(x[i])
        m_out[i] = _bits_as_float((bits & 0xFFFFFFFFFFFFF) | (1023 << 52)) if x[i] > 0 else 0.0
        ex = _bits_as_float((bits >> 52) | 0x4330000000000000) - _MAGIC  # unbiased
        e_out[i] = e[i] + ex if x[i] > 0 else NONE
        ok &= abs(e_out[i]) < INF or not x[i] > 0
    return ok


@nb.njit(cache=True, inline="always")
def _final(m, e, fm, fe, out):
    """out = each state's share of the total into the final states; returns -beta F (or -inf)."""
    top = -INF
    for s in range(m.shape[0]):
        x = e[s] + fe[s]
        top = x if x > top else top
    z = 0.0
    for s in range(m.shape[0]):
        out[s] = m[s] * fm[s] * _pow2((e[s] + fe[s]) - top)
        z += out[s]
    inv = 1.0 / z if z > 0.0 else 0.0
    for s in range(m.shape[0]):
        out[s] *= inv
    return top * LN2 + np.log(z) if z > 0.0 else -INF


@batch_kernel(fastmath=_NO_REASSOC)
def forward(beta, utt, node_off, sulab, lab, bw, K, am, ae, energy):
    """Free energies at ``beta`` of the utterances ``active`` into energy, and the forward
    values into am, ae. utt: ``_prep.Utterances``; sulab [N] each state's label index; lab:
    ``_prep.LabelSets``; bw from band_weights. NaN for an utterance whose exponents left
    float64 (beta times a path energy near 1e308): the general log-space kernels take it."""
    wm, we, sm, se, fm, fe = bw
    for b in nb.prange(utt.em.shape[0]):
        if not utt.active[b]:
            continue
        _, T, n0, N, glabs = utterance(utt, node_off, lab, b)
        sl = sulab[n0 : n0 + N]
        U = glabs.shape[0]
        pm, pe, acc, top = np.empty(U), np.empty(U), np.empty(N), np.empty(N)
        am[b, 0, :N], ae[b, 0, :N] = sm[n0 : n0 + N], se[n0 : n0 + N]
        ok = True
        for t in range(T):
            ok &= _label_factors(utt.em[b, t], glabs, beta, pm, pe)
            x, xe = am[b, t], ae[b, t]
            _tops(top, xe, we, K, N, n0)
            acc[:] = 0.0
            for k in range(min(K, N)):
                _align_into(acc[k:], x, xe, wm[k, n0 + k :], we[k, n0 + k :], top[k:], N - k)
            for d in range(N):
                acc[d] *= pm[sl[d]]
                top[d] += pe[sl[d]]
            ok &= _normalise(acc, top, am[b, t + 1], ae[b, t + 1], N)
        z = -_final(am[b, T, :N], ae[b, T, :N], fm[n0:], fe[n0:], acc) / beta
        energy[b] = z if ok else np.nan


@nb.njit(cache=True, inline="always")
def _tops(top, xe, we, K, N, n0):
    """top[d] = the largest exponent among the terms into state d of a frame (NONE: no arc)."""
    top[:] = NONE
    for k in range(min(K, N)):
        _max_into(top[k:], xe, we[k, n0 + k :], N - k)


@nb.njit(cache=True, inline="always")
def _max_into(top, xe, we, n):
    """top[i] = max(top[i], xe[i] + we[i]): each destination's largest incoming exponent."""
    for i in range(np.uint64(n)):
        x = xe[i] + we[i]
        top[i] = x if x > top[i] else top[i]


@nb.njit(cache=True, inline="always")
def _align_into(acc, x, xe, w, we, top, n):
    """acc[i] += the term of the arc from source i: x w 2**((xe + we) - top[i]) <= 2 x w."""
    for i in range(np.uint64(n)):
        acc[i] += x[i] * w[i] * _pow2((xe[i] + we[i]) - top[i])


@nb.njit(cache=True, inline="always")
def _terms_into(out, acc, x, xe, w, we, top, n):
    """out[i] = the term :func:`_align_into` adds, and acc[i] += it."""
    for i in range(np.uint64(n)):
        y = x[i] * w[i] * _pow2((xe[i] + we[i]) - top[i])
        out[i] = y
        acc[i] += y


@batch_kernel(fastmath=_NO_REASSOC)
def backward(beta, gout, utt, node_off, sulab, lab, bw, K, am, ae, g_em, g_sw, g_fw):
    """Free-energy posteriors times gout[b] (see ``_logspace.backward``, which also gives the
    arcs') into g_em [B, T, V] and the start and final buffers [rows, N]; the rest as
    :func:`forward`'s. Per frame, each state's posterior is split among its incoming arcs in
    proportion to their terms, recomputed as the forward formed them: the emission factor of
    the state is common to its terms and cancels, so the emissions are not read."""
    wm, we, _, _, fm, fe = bw
    for b in nb.prange(utt.em.shape[0]):
        if not utt.active[b]:
            continue
        _, T, n0, N, glabs = utterance(utt, node_off, lab, b)
        go, row = gout[b], utt.rows[b]
        sl = sulab[n0 : n0 + N]
        gn, gc, top, acc = np.empty(N), np.empty(N), np.empty(N), np.empty(N)
        terms, ge = np.empty((K, N)), np.empty(glabs.shape[0])
        _final(am[b, T, :N], ae[b, T, :N], fm[n0:], fe[n0:], gn)  # posteriors of frame t+1
        gn *= go
        g_fw[row, n0 : n0 + N] += gn
        for t in range(T - 1, -1, -1):
            ge[:] = 0.0
            for d in range(N):
                ge[sl[d]] += gn[d]
            for u in range(glabs.shape[0]):
                g_em[b, t, glabs[u]] += ge[u]
            x, xe = am[b, t], ae[b, t]
            _tops(top, xe, we, K, N, n0)
            acc[:] = 0.0
            for k in range(min(K, N)):
                _terms_into(terms[k], acc[k:], x, xe, wm[k, n0 + k :], we[k, n0 + k :], top[k:],
                            N - k)  # fmt: skip
            for d in range(N):  # a state's posterior over its sum: its terms' common factor
                acc[d] = gn[d] / acc[d] if acc[d] > 0.0 else 0.0
            gc[:] = 0.0
            for k in range(min(K, N)):
                _share_into(gc, terms[k], acc[k:], N - k)
            gn, gc = gc, gn
        g_sw[row, n0 : n0 + N] += gn


@nb.njit(cache=True, inline="always")
def _share_into(out, terms, f, n):
    """out[i] += terms[i] f[i]: the arcs' shares of their destinations' posteriors."""
    for i in range(np.uint64(n)):
        out[i] += terms[i] * f[i]
