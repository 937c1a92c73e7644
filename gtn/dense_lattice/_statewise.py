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
from ._emission import SUBNORMAL, frame_factors
from ._prep import run_arrays, utterance
from ._scaled import EXACT, FAST, FLUSHED, LOG, LOW

# Flushed state-frames, in frames of all states, after which a pass gives up (see forward):
# a flush that carries no mass is rare and sparse (long plain emissions), peaked emissions
# flush a tenth of all states.
GIVE_UP_FLUSHES = 16


@batch_kernel(fastmath=FAST)
def forward(utt, runs, lab, W, beta, give_up, pe, alpha, scale, energy, status):
    """Free energy per utterance into ``energy`` and its status (see ``_scaled``); arguments
    as ``_scaled.forward``'s, with ``runs.ulab`` each state's label index. With ``give_up``
    an utterance is LOG at once when its flushed states outnumber GIVE_UP_FLUSHES frames of
    them in the first half of its frames (the log-space kernels then cost less than finishing
    the pass and its check, which then rarely passes)."""
    em, active = utt.em, utt.active
    node_off, run_ptr, run_src0, run_pos0, run_len, state_ulab = run_arrays(runs)
    wexp, swexp, fwexp, shift = W.wexp, W.swexp, W.fwexp, W.shift
    nmax = alpha.shape[2]
    for b in nb.prange(em.shape[0]):
        status[b] = LOG
        energy[b] = np.inf
        if not active[b]:
            continue
        g, T, n0, N, glabs = utterance(utt, node_off, lab, b)
        raw = np.empty(nmax)
        ebuf = np.empty(glabs.shape[0])
        c = _scaled.start(swexp[n0 : n0 + N], alpha[b, 0, :N])
        if not c > 0.0:
            continue
        scale[b, 0] = c
        total = np.log(c)
        eshift = 0.0
        code = EXACT
        budget = GIVE_UP_FLUSHES * N
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
                raw[d] = acc if acc >= SUBNORMAL else 0.0
                c += acc
            if not c >= LOW:
                code = LOG
                break
            inv = 1.0 / c
            out = alpha[b, t + 1]
            for d in range(N):
                v = raw[d] * inv
                if v < LOW and ebuf[state_ulab[n0 + d]] < np.inf:
                    for r in range(run_ptr[n0 + d], run_ptr[n0 + d + 1]):
                        if _reaches(a, run_src0[r], wexp, run_pos0[r], run_len[r]):
                            v = LOW  # see _scaled: flushed, never absent
                            code = FLUSHED
                            budget -= 1
                            break
                out[d] = v
            if give_up and budget < 0 and 2 * t < T:  # later, finishing and checking cost less
                code = LOG
                break
            scale[b, t + 1] = c
            total += np.log(c)
        if code == LOG:
            continue
        z = _scaled.final(alpha[b, T, :N], fwexp[n0 : n0 + N])
        if not z >= LOW:
            continue
        status[b] = code
        energy[b] = (
            shift[g, 0] * T + shift[g, 1] + shift[g, 2] + eshift - (total + np.log(z)) / beta
        )


@batch_kernel(fastmath=FAST)
def backward(gout, utt, runs, lab, W, fwd, arc_grads, dev, g_em, g_w, g_sw, g_fw):
    """Posteriors times gout[b] into g_em [B, T, V], and into the arc (only if ``arc_grads``),
    start and final buffers (row rows[b], as in ``_scaled.backward``); dev[b] as there."""
    rows, active = utt.rows, utt.active
    node_off, run_ptr, run_src0, run_pos0, run_len, state_ulab = run_arrays(runs)
    wexp, fwexp = W.wexp, W.fwexp
    pe, alpha, scale = fwd.pe, fwd.alpha, fwd.scale
    nmax = alpha.shape[2]
    for b in nb.prange(gout.shape[0]):
        if not active[b]:
            continue
        go = gout[b]
        g, T, n0, N, glabs = utterance(utt, node_off, lab, b)
        row = rows[b]
        bnext = np.empty(nmax)
        bcur = np.empty(nmax)
        gw = g_w[row]
        _scaled.final_betas(alpha[b, T, :N], fwexp[n0 : n0 + N], go, bnext, g_fw[row, n0 : n0 + N])
        ulab = state_ulab[n0 : n0 + N]
        rptr = run_ptr[n0 : n0 + N + 1]
        worst = 0.0
        for t in range(T - 1, -1, -1):
            a = alpha[b, t]
            an = alpha[b, t + 1]
            p = pe[b, t]
            ge = g_em[b, t]
            inv = 1.0 / scale[b, t + 1]
            total = 0.0  # the state posteriors of frame t sum to 1
            bcur[:N] = 0.0
            for d in range(N):
                bd = bnext[d]
                if bd == 0.0:
                    continue
                u = ulab[d]
                post = an[d] * bd
                total += post
                ge[glabs[u]] += go * post
                f = bd * p[u] * inv
                if not f >= SUBNORMAL:
                    continue
                for r in range(rptr[d], rptr[d + 1]):
                    s0, p0, n = run_src0[r], run_pos0[r], run_len[r]
                    _axpy(bcur, s0, wexp, p0, n, f)
                    if arc_grads:
                        _axpy_prod(gw, p0, a, s0, wexp, n, f * go)
            for s in range(N):
                if not (a[s] > 0.0 and bcur[s] >= SUBNORMAL):
                    bcur[s] = 0.0
            worst = max(worst, _scaled.deviation(total))
            bnext, bcur = bcur, bnext
        gs = g_sw[row, n0 : n0 + N]
        dev[b] = max(worst, _scaled.start_posteriors(alpha[b, 0, :N], bnext, go, gs))


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _reaches(a, s0, w, p0, n):
    """Some source of the run has mass and a finite arc (see ``_scaled._reached``)."""
    for k in range(n):
        if a[s0 + k] > 0.0 and w[p0 + k] > 0.0:
            return True
    return False


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
