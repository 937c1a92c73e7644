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
alpha [B, T+1, Nmax]; scale [B, T+1]; all float64.
"""

import numba as nb
import numpy as np

from .._internal.jit import batch_kernel
from . import _scaled
from ._prep import utterance
from ._scaled import EXACT, FAST, FLUSHED, LOG, LOW, SUBNORMAL

# Flushed state-frames, in frames of all states, after which a pass gives up (see forward):
# a flush that carries no mass is rare and sparse (long plain emissions), peaked emissions
# flush a tenth of all states, and the band kernels cost about what this pass does.
GIVE_UP_FLUSHES = 4


@batch_kernel(fastmath=FAST)
def forward(utt, runs, sulab, lab, W, beta, pe, alpha, scale, energy, status):
    """Free energy per utterance into ``energy`` and its status (see ``_scaled``); arguments
    as ``_scaled.forward``'s, with sulab [N] each state's label index instead of epsilons.
    An utterance is LOG at once when its flushed states outnumber GIVE_UP_FLUSHES frames of
    them in the first half of its frames (the log-space kernels then cost less than finishing
    the pass and its check, which then rarely passes)."""
    ptr, src0, pos0, length = runs.ptr, runs.src0, runs.pos0, runs.length
    wexp = W.wexp
    for b in nb.prange(utt.em.shape[0]):
        if not utt.active[b]:
            continue
        g, T, n0, N, glabs = utterance(utt, runs.node_off, lab, b)
        raw, ebuf = np.empty(N), np.empty(glabs.shape[0])
        c = _scaled.start(W.swexp[n0 : n0 + N], alpha[b, 0, :N])
        if not c > 0.0:
            continue
        total, eshift, code = np.log(c), 0.0, EXACT
        budget = GIVE_UP_FLUSHES * N
        for t in range(T):
            eshift += _scaled.frame_factors(utt.em[b, t], glabs, beta, ebuf, pe[b, t])
            a = alpha[b, t]
            p = pe[b, t]
            c = 0.0
            for d in range(N):
                acc = 0.0
                for r in range(ptr[n0 + d], ptr[n0 + d + 1]):
                    acc += _scaled.dot(a, src0[r], wexp, pos0[r], length[r])
                acc *= p[sulab[n0 + d]]
                raw[d] = acc if acc >= SUBNORMAL else 0.0
                c += acc
            if not c >= LOW:
                code = LOG
                break
            flushed = _scaled.normalise(raw, c, alpha[b, t + 1, :N], a, runs, n0, wexp, ebuf)
            if flushed:
                code = FLUSHED
                budget -= flushed
                if budget < 0 and 2 * t < T:  # later, finishing and checking cost less
                    code = LOG
                    break
            scale[b, t + 1] = c
            total += np.log(c)
        z = _scaled.final(alpha[b, T, :N], W.fwexp[n0 : n0 + N])
        status[b], energy[b] = _scaled.free_energy(code, z, total, eshift, W.shift[g], T, beta)


@batch_kernel(fastmath=FAST)
def backward(gout, utt, runs, sulab, lab, W, fwd, arc_grads, dev, g_em, g_w, g_sw, g_fw):
    """Posteriors times gout[b] into g_em [B, T, V], and into the arc (only if ``arc_grads``),
    start and final buffers (row rows[b], as in ``_scaled.backward``); dev[b] as there."""
    ptr, src0, pos0, length = runs.ptr, runs.src0, runs.pos0, runs.length
    wexp, pe, alpha, scale = W.wexp, fwd.pe, fwd.alpha, fwd.scale
    for b in nb.prange(gout.shape[0]):
        if not utt.active[b]:
            continue
        g, T, n0, N, glabs = utterance(utt, runs.node_off, lab, b)
        go, row = gout[b], utt.rows[b]
        bnext, bcur = np.empty(N), np.empty(N)
        gw, fw = g_w[row], W.fwexp[n0 : n0 + N]
        _scaled.final_betas(alpha[b, T, :N], fw, go, bnext, g_fw[row, n0 : n0 + N])
        ulab = sulab[n0 : n0 + N]
        worst = 0.0
        for t in range(T - 1, -1, -1):
            a, an, p, ge = alpha[b, t], alpha[b, t + 1], pe[b, t], g_em[b, t]
            inv = 1.0 / scale[b, t + 1]
            total = 0.0  # the state posteriors of frame t sum to 1
            bcur[:] = 0.0
            for d in range(N):
                if bnext[d] == 0.0:
                    continue
                u = ulab[d]
                post, f = _scaled.state_posterior(an[d], bnext[d], p[u], inv, go, ge, glabs[u])
                total += post
                if f == 0.0:
                    continue
                for r in range(ptr[n0 + d], ptr[n0 + d + 1]):
                    s0, p0, n = src0[r], pos0[r], length[r]
                    _scaled.axpy(bcur, s0, wexp, p0, n, f)
                    if arc_grads:
                        _axpy_prod(gw, p0, a, s0, wexp, n, f * go)
            _scaled.prune(bcur, a, N)
            worst = max(worst, _scaled.deviation(total))
            bnext, bcur = bcur, bnext
        gs = g_sw[row, n0 : n0 + N]
        dev[b] = max(worst, _scaled.start_posteriors(alpha[b, 0, :N], bnext, go, gs))


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _axpy_prod(out, p0, a, s0, w, n, f):
    """out[p0 + k] += a[s0 + k] * w[p0 + k] * f (unsigned indices: see ``_scaled.dot``)"""
    s, p = np.uint64(s0), np.uint64(p0)
    for k in range(np.uint64(n)):
        out[p + k] += a[s + k] * w[p + k] * f
