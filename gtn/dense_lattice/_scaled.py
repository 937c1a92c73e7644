"""Forward-backward in scaled probability space (numba), the fast path for free energies.

Values are exp(-beta * energy) relative to per-graph weight shifts and per-frame emission
shifts; each frame's forward vector is renormalised to sum 1 (its scale c_t is kept) and the
backward vector uses the same scales (Rabiner's scaling), so that alpha_t . beta_t = 1 at every
frame and a state's backward value is at most 1 / its forward value. All values are float64.

Exactness. Products and sums of positive float64 numbers lose nothing unless a value leaves the
normal range, so the forward pass watches for exactly that: a state that some path reaches
(a source with mass, a finite arc, a finite emission) whose normalised value falls below
``LOW`` is *flushed*: it keeps the value LOW (so that a reached state never reads as absent)
and the utterance's free energy is only trusted after the backward check, which tests
alpha_t . beta_t = 1 at every frame. The backward values are computed independently of the
forward's (only states no path reaches are zeroed), so a flushed state that carried real
mass breaks the identity at the frames before the flush; one that did not changes nothing
measurable. Utterances that fail, or whose frame scale falls below ``LOW``, go to the exact
log-space kernels (``_logspace``). An overflow in the backward shows as a failed check too.

Alpha is stored *before* the epsilon closure. Shapes: em [B, T, V]; pe [B, T, Umax] (the
emission factors of each graph's labels, filled by the forward pass and reused by the backward);
alpha [B, T+1, Nmax]; scale [B, T+1]; dev [B] the largest |alpha_t . beta_t - 1| seen.
Status codes: 0 exact, 1 needs the log-space path, 3 flushed (exact if the backward check passes).
"""

import numba as nb
import numpy as np

from .._internal.jit import batch_kernel
from ._emission import SUBNORMAL, frame_factors
from ._prep import run_arrays, utterance

# reassoc lets LLVM vectorise the dot products; no 'nnan'/'ninf': +inf energies are meaningful.
FAST = {"reassoc", "contract", "nsz", "arcp"}
LOW = 1e-290  # smallest trusted normalised value (and frame scale): float64 stays exact above
HIGH = 1e290  # largest trusted value after an epsilon closure
EXACT, LOG, FLUSHED = 0, 1, 3


@nb.njit(cache=True, fastmath=FAST)
def _closure(a, out, e0, e1, eps_src, eps_dst, ewexp):
    """out = epsilon closure of a (forward direction, topological order); returns EXACT,
    FLUSHED (a reached value below LOW, raised to LOW) or LOG (a value above HIGH)."""
    out[:] = a
    code = EXACT
    for i in range(e0, e1):
        x = out[eps_src[i]] * ewexp[i]
        out[eps_dst[i]] += x
        if out[eps_src[i]] > 0.0 and ewexp[i] > 0.0:
            v = out[eps_dst[i]]
            if not v <= HIGH:
                return LOG
            if v < LOW:
                out[eps_dst[i]] = LOW
                code = FLUSHED
    return code


@nb.njit(cache=True, fastmath=FAST)
def _closure_back(bv, e0, e1, eps_src, eps_dst, ewexp):
    for i in range(e1 - 1, e0 - 1, -1):
        if ewexp[i] > 0.0:
            bv[eps_src[i]] += ewexp[i] * bv[eps_dst[i]]


@nb.njit(cache=True, fastmath=FAST, inline="always")
def start(sw, out):
    """out = sw / sum(sw) (the normalised start vector); returns the sum, 0 without a start."""
    c = 0.0
    for s in range(sw.shape[0]):
        c += sw[s]
    for s in range(sw.shape[0]):
        out[s] = sw[s] / c if c > 0.0 else 0.0
    return c


@nb.njit(cache=True, fastmath=FAST, inline="always")
def final(a, fw):
    """sum_s a[s] fw[s]: the last frame's total into the final states."""
    z = 0.0
    for s in range(a.shape[0]):
        z += a[s] * fw[s]
    return z


@nb.njit(cache=True, fastmath=FAST, inline="always")
def final_betas(a, fw, go, bv, g_fw):
    """The backward values after the last frame into bv, and gout times the final states'
    posteriors into g_fw (a and fw [N] the last forward values and final weights)."""
    z = final(a, fw)
    for s in range(a.shape[0]):
        x = fw[s] / z if a[s] > 0.0 else 0.0
        bv[s] = x
        g_fw[s] += go * a[s] * x


@nb.njit(cache=True, fastmath=FAST, inline="always")
def start_posteriors(a0, bv, go, g_sw):
    """gout times the start states' posteriors into g_sw; returns |their sum - 1|."""
    total = 0.0
    for s in range(a0.shape[0]):
        x = a0[s] * bv[s]
        total += x
        g_sw[s] += go * x
    return deviation(total)


@nb.njit(cache=True, inline="always")
def deviation(total):
    """|total - 1| (inf for nan): how far posteriors that should sum to 1 are from it."""
    d = abs(total - 1.0)
    return d if d == d else np.inf


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _reached(d, a, n0, run_ptr, run_src0, run_pos0, run_len, run_ulab, wexp, ebuf):
    """Whether some path reaches state d at this frame (a source with mass, a finite arc and
    a finite emission): then a zero or tiny value of d is underflow, not absence."""
    for r in range(run_ptr[n0 + d], run_ptr[n0 + d + 1]):
        if ebuf[run_ulab[r]] < np.inf:
            s0, p0 = run_src0[r], run_pos0[r]
            for k in range(run_len[r]):
                if a[s0 + k] > 0.0 and wexp[p0 + k] > 0.0:
                    return True
    return False


@batch_kernel(fastmath=FAST)
def forward(utt, runs, eps, lab, W, beta, pe, alpha, scale, energy, status):
    """Free energy per utterance into ``energy``, and its status (see the module docstring).
    Fills pe[b, t, u] = exp(-beta (em[b, t, label u] - m[b, t])) (see ``_emission``).
    Arguments: ``_prep``'s Utterances, Runs, Epsilons, LabelSets and Weights, then the outputs
    (the fields of ``_prep.Scaled``: numba's parallel loops lose writes to arrays taken from a
    tuple argument, so every array a parallel kernel writes is an argument of its own)."""
    em, active = utt.em, utt.active
    node_off, run_ptr, run_src0, run_pos0, run_len, run_ulab = run_arrays(runs)
    eps_off, eps_src, eps_dst = eps.off, eps.src, eps.dst
    wexp, ewexp, swexp, fwexp, shift = W.wexp, W.ewexp, W.swexp, W.fwexp, W.shift
    nmax = alpha.shape[2]
    for b in nb.prange(em.shape[0]):
        status[b] = LOG
        energy[b] = np.inf
        if not active[b]:
            continue
        g, T, n0, N, glabs = utterance(utt, node_off, lab, b)
        e0, e1 = eps_off[g], eps_off[g + 1]
        ebuf = np.empty(glabs.shape[0])
        tmp = np.empty(nmax)
        raw = np.empty(nmax)
        c = start(swexp[n0 : n0 + N], alpha[b, 0, :N])
        if not c > 0.0:
            continue
        scale[b, 0] = c
        total = np.log(c)
        eshift = 0.0
        code = EXACT
        for t in range(T + 1):
            a = alpha[b, t]
            if e1 > e0:
                code = max(
                    code, _closure(alpha[b, t, :N], tmp[:N], e0, e1, eps_src, eps_dst, ewexp)
                )
                a = tmp
            if code == LOG or t == T:
                break
            eshift += frame_factors(em[b, t], glabs, beta, ebuf, pe[b, t])
            c = 0.0
            for d in range(N):
                acc = 0.0
                for r in range(run_ptr[n0 + d], run_ptr[n0 + d + 1]):
                    s0, p0 = run_src0[r], run_pos0[r]
                    dot = 0.0
                    for k in range(run_len[r]):
                        dot += a[s0 + k] * wexp[p0 + k]
                    acc += dot * pe[b, t, run_ulab[r]]
                raw[d] = acc if acc >= SUBNORMAL else 0.0
                c += acc
            if not c >= LOW:
                code = LOG
                break
            inv = 1.0 / c
            for d in range(N):
                v = raw[d] * inv
                if v < LOW and _reached(
                    d, a, n0, run_ptr, run_src0, run_pos0, run_len, run_ulab, wexp, ebuf
                ):
                    v = LOW
                    code = FLUSHED
                alpha[b, t + 1, d] = v
            scale[b, t + 1] = c
            total += np.log(c)
        if code == LOG:
            continue
        z = final(a[:N], fwexp[n0 : n0 + N])
        if not z >= LOW:
            continue
        status[b] = code
        energy[b] = (
            shift[g, 0] * T + shift[g, 1] + shift[g, 2] + eshift - (total + np.log(z)) / beta
        )


@batch_kernel(fastmath=FAST)
def backward(gout, utt, runs, eps, lab, W, fwd, arc_grads, dev, g_em, g_w, g_ew, g_sw, g_fw):
    """Posteriors times gout[b]: into g_em [B, T, V] and the arc (only if ``arc_grads``),
    epsilon, start and final buffers (row rows[b]: b when the graph is shared by the batch,
    else 0 with disjoint slices); dev[b] = max over frames of |alpha_t . beta_t - 1|.
    ``fwd``: the forward pass's ``_prep.Scaled``; the gradient buffers are ``_prep.Grads``'s."""
    rows, active = utt.rows, utt.active
    node_off, run_ptr, run_src0, run_pos0, run_len, run_ulab = run_arrays(runs)
    eps_off, eps_src, eps_dst = eps.off, eps.src, eps.dst
    wexp, ewexp, fwexp = W.wexp, W.ewexp, W.fwexp
    pe, alpha, scale = fwd.pe, fwd.alpha, fwd.scale
    nmax = alpha.shape[2]
    for b in nb.prange(gout.shape[0]):
        if not active[b]:
            continue
        go = gout[b]
        g, T, n0, N, glabs = utterance(utt, node_off, lab, b)
        row = rows[b]
        e0, e1 = eps_off[g], eps_off[g + 1]
        has_eps = e1 > e0
        bnext = np.empty(nmax)
        bcur = np.empty(nmax)
        tmp = np.empty(nmax)
        a = alpha[b, T]
        if has_eps:
            _closure(alpha[b, T, :N], tmp[:N], e0, e1, eps_src, eps_dst, ewexp)
            a = tmp
        final_betas(a[:N], fwexp[n0 : n0 + N], go, bnext, g_fw[row, n0 : n0 + N])
        worst = _finish_frame(go, alpha[b, T], a, bnext, N, has_eps, e0, e1, eps_src, eps_dst,
                              ewexp, g_ew[row])  # fmt: skip
        for t in range(T - 1, -1, -1):
            a = alpha[b, t]
            if has_eps:
                _closure(alpha[b, t, :N], tmp[:N], e0, e1, eps_src, eps_dst, ewexp)
                a = tmp
            inv = 1.0 / scale[b, t + 1]
            bcur[:N] = 0.0
            for d in range(N):
                xd = bnext[d]
                if xd == 0.0:
                    continue
                for r in range(run_ptr[n0 + d], run_ptr[n0 + d + 1]):
                    s0, p0 = run_src0[r], run_pos0[r]
                    f = xd * pe[b, t, run_ulab[r]] * inv
                    if not f >= SUBNORMAL:
                        continue
                    tot = 0.0
                    for k in range(run_len[r]):
                        x = wexp[p0 + k] * f
                        xi = a[s0 + k] * x
                        if arc_grads:
                            g_w[row, p0 + k] += go * xi
                        tot += xi
                        bcur[s0 + k] += x
                    g_em[b, t, glabs[run_ulab[r]]] += go * tot
            for s in range(N):
                if not (a[s] > 0.0 and bcur[s] >= SUBNORMAL):
                    bcur[s] = 0.0
            worst = max(worst, _finish_frame(go, alpha[b, t], a, bcur, N, has_eps, e0, e1,
                                             eps_src, eps_dst, ewexp, g_ew[row]))  # fmt: skip
            bnext, bcur = bcur, bnext
        for s in range(N):
            g_sw[row, n0 + s] += go * alpha[b, 0, s] * bnext[s]
        dev[b] = worst


@nb.njit(cache=True, fastmath=FAST)
def _finish_frame(go, apre, a, bv, n, has_eps, e0, e1, eps_src, eps_dst, ewexp, g_ew):
    """Backward values after the closure point -> before it (epsilon arcs back), epsilon-arc
    posteriors, and |apre . bv - 1| (every path crosses the pre-closure point once); states
    without forward mass get 0 so that nothing unbounded reaches the next frame."""
    if has_eps:
        _closure_back(bv, e0, e1, eps_src, eps_dst, ewexp)
        for i in range(e0, e1):
            x = a[eps_src[i]] * ewexp[i]
            if x > 0.0:
                g_ew[i] += go * x * bv[eps_dst[i]]
    z = 0.0
    for s in range(n):
        if apre[s] > 0.0:
            z += apre[s] * bv[s]
        else:
            bv[s] = 0.0
    return deviation(z)
