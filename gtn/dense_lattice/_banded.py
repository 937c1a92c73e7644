"""Exact log-space forward-backward for *banded* state-labelled graphs (numba): every arc goes
from state s to s + k, 0 <= k < K (CTC: K = 3, a left-to-right HMM or an ASG transcript: 2).

The log-space reference (``_logspace``) takes any graph and works arc by arc, scattering each
arc's posterior to its label. On a band the arcs into state d are the K shifted diagonals
a[d - k] + wb[k, d], so a frame is K passes over contiguous memory (a minimum, then one exp per
arc relative to it, one log per state), the emission is added once per state, and the
emission gradient is the state posterior: one more exp per state.
alpha [B, T+1, Nmax] as ``_logspace.forward``'s (the same values, +inf = unreachable).
"""

from typing import NamedTuple

import numba as nb
import numpy as np

from .._internal.exp import fast_exp, fast_log
from .._internal.jit import batch_kernel
from ._logspace import FAST, INF
from ._prep import utterance

MAX_WIDTH = 4  # wider bands go to the general log-space kernels
# exp() below this is under the smallest normal float64: 0 here, because computing it creates
# subnormal intermediates, each about a hundred times slower (many, on peaked emissions)
LOWEST = -708.0


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _exp(z):
    """exp(z) for z >= LOWEST, else 0 (also for nan: inf - inf, an absent arc or state)."""
    return fast_exp(max(z, LOWEST)) if z >= LOWEST else 0.0


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _post(beta, excess):
    """exp(-beta * excess) for an energy excess over the free energy, 0 for +inf."""
    return _exp(-beta * excess)


class Band(NamedTuple):
    """The band of a Structure: each emitting arc in CSR order is (node[p] - k[p] -> node[p])
    with global destination node[p]; wb [K, N] by destination, wbs [K, N] by source."""

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


def band_weights(bd: Band, w: np.ndarray, n_total: int) -> tuple:
    """(wb, wbs) [K, N]: wb[k, d] the energy of the arc d - k -> d, wbs[k, s] of s -> s + k."""
    wb = np.full((bd.width, n_total), INF)
    wbs = np.full((bd.width, n_total), INF)
    wb[bd.k, bd.node] = w
    wbs[bd.k, bd.node - bd.k] = w
    return wb, wbs


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _frame_emissions(em_row, labs, sulab, out):
    """out[d] = em_row[label of state d] as float64 (the states' labels are labs[sulab[d]])."""
    for d in range(sulab.shape[0]):
        out[d] = np.float64(em_row[labs[sulab[d]]])


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _lse_band(x, off, wb, n0, N, K, beta, m, acc, out, shift):
    """out[d] = LSE_k(x[off + d - shift * k] + wb[k, n0 + d]) (energies, beta), d < N, with x
    padded by +inf so that every index is valid; m and acc scratch. shift = 1 reads
    diagonals by destination (forward), -1 by source (backward). Slices and unsigned
    indices so that every loop vectorises (see ``_scaled.dot``)."""
    n = np.uint64(N)
    m[:N] = INF
    acc[:N] = 0.0
    for k in range(K):
        o = off - shift * k
        _min_into(m, x[o : o + N], wb[k, n0 : n0 + N], n)
    for k in range(K):
        o = off - shift * k
        _exp_into(acc, x[o : o + N], wb[k, n0 : n0 + N], m, -beta, n)
    for d in range(n):
        md = m[d]
        v = md - fast_log(acc[d] if md < INF else 1.0) / beta
        out[d] = v if md < INF else INF


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _min_into(m, x, w, n):
    for d in range(n):
        m[d] = min(m[d], x[d] + w[d])


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _exp_into(acc, x, w, m, c, n):
    for d in range(n):
        acc[d] += _exp(c * (x[d] + w[d] - m[d]))


@batch_kernel(fastmath=FAST)
def forward(beta, utt, node_off, sulab, lab, W, wb, K, alpha, energy):
    """Free energies at ``beta`` of the utterances ``active`` into energy, alpha [B, T+1, Nmax]
    the forward energies. utt: ``_prep.Utterances``; sulab [N] each state's label index;
    lab: ``_prep.LabelSets``; W: ``_prep.Weights`` (start, final); wb from band_weights."""
    em, active = utt.em, utt.active
    sw, fw = W.sw, W.fw
    nmax = alpha.shape[2]
    for b in nb.prange(em.shape[0]):
        if not active[b]:
            continue
        _, T, n0, N, glabs = utterance(utt, node_off, lab, b)
        sl = sulab[n0 : n0 + N]
        x = np.full(nmax + K, INF)  # alpha_t at x[K:], +inf before
        m = np.empty(nmax)
        acc = np.empty(nmax)
        es = np.empty(nmax)
        for s in range(N):
            x[K + s] = sw[n0 + s]
            alpha[b, 0, s] = sw[n0 + s]
        for t in range(T):
            _lse_band(x, K, wb, n0, N, K, beta, m, acc, alpha[b, t + 1], 1)
            _frame_emissions(em[b, t], glabs, sl, es)
            for d in range(N):
                v = alpha[b, t + 1, d] + es[d]
                alpha[b, t + 1, d] = v
                x[K + d] = v
        out = INF
        for s in range(N):
            m[s] = alpha[b, T, s] + fw[n0 + s]
            out = min(out, m[s])
        if out < INF:
            tot = 0.0
            for s in range(N):
                tot += _exp(-beta * (m[s] - out))
            out -= fast_log(tot) / beta
        energy[b] = out


@batch_kernel(fastmath=FAST)
def backward(beta, gout, utt, node_off, sulab, lab, W, wbs, K, alpha, energy, g_em, g_sw, g_fw):
    """Free-energy posteriors times gout[b] (see ``_logspace.backward``, which also gives the
    arcs' and takes the same alpha) into g_em [B, T, V] and the start and final buffers
    [rows, N]. wbs from band_weights, the rest as :func:`forward`'s."""
    em, sw, fw = utt.em, W.sw, W.fw
    for b in nb.prange(em.shape[0]):
        if not utt.active[b]:
            continue
        _, T, n0, N, glabs = utterance(utt, node_off, lab, b)
        go, row, F = gout[b], utt.rows[b], energy[b]
        sl = sulab[n0 : n0 + N]
        y = np.full(N + K, INF)  # emission + beta_{t+1} at y[:N], +inf after
        bn = np.empty(N)  # beta_{t+1}: the energy of the best suffixes after frame t
        m, acc, es = np.empty(N), np.empty(N), np.empty(N)
        ge = np.zeros(glabs.shape[0])
        for s in range(N):
            bn[s] = fw[n0 + s]
            g_fw[row, n0 + s] += go * _post(beta, alpha[b, T, s] + fw[n0 + s] - F)
        for t in range(T - 1, -1, -1):
            _frame_emissions(em[b, t], glabs, sl, es)
            ge[:] = 0.0
            for d in range(N):
                y[d] = es[d] + bn[d]
                m[d] = go * _post(beta, alpha[b, t + 1, d] + bn[d] - F)  # state posterior
            for d in range(N):
                ge[sl[d]] += m[d]
            for u in range(glabs.shape[0]):
                g_em[b, t, glabs[u]] += ge[u]
            _lse_band(y, 0, wbs, n0, N, K, beta, m, acc, bn, -1)
        for s in range(N):
            g_sw[row, n0 + s] += go * _post(beta, sw[n0 + s] + bn[s] - F)
