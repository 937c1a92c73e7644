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
Status codes, by severity: EXACT, FLUSHED (exact if the backward check passes), LOG (needs the
log-space path). The caller fills status with LOG and energy with +inf: a kernel writes both
only for the utterances it scores.

The pieces every scaled family shares (start, normalisation with flushing, final states, state
posteriors, the free energy from the frame scales) are the inlined helpers below; the families
differ only in how a frame propagates (runs, runs with epsilons, a dense matrix).

Emission factors, computed inside the kernels: pe[u] = exp(-beta (em[label u] - m)) over the
labels u of one graph, with m the frame's minimum energy over those labels (so the best label
has factor 1 and nothing overflows); the kernel adds m to the utterance's energy shift. A frame
where every label has energy +inf gets m = 0 and all factors 0. Factors below ``SUBNORMAL`` are
0 (an energy more than about 690 / beta above the frame's best: a reached state underflows).
"""

import numba as nb
import numpy as np

from .._internal.exp import fast_exp
from .._internal.jit import batch_kernel
from ._prep import FAST, utterance

LOW = 1e-290  # smallest trusted normalised value (and frame scale): float64 stays exact above
HIGH = 1e290  # largest trusted value after an epsilon closure
EXACT, FLUSHED, LOG = 0, 1, 2
# values below this are flushed to 0: arithmetic on subnormal numbers runs about a hundred
# times slower, and the kernels treat a reached state's underflow explicitly
SUBNORMAL = 1e-300
# alpha_t . beta_t = 1 at every frame up to rounding (about T * 1e-16); a flushed state that
# carried real mass moves it by that mass's share of the total
CHECK_TOL = 1e-9
PARALLEL_WORK = 50_000  # arc-frames below which the kernels run on one thread


@nb.njit(cache=True, inline="always", fastmath=FAST)
def frame_factors(em_row, labs, beta, buf, pe_row):
    """Fill pe_row[:n] from em_row [V] and the graph's labels labs [n] (float64 scratch buf,
    at least n long); returns the shift m. The gather and the exp are separate loops so that
    the exp vectorises."""
    n = labs.shape[0]
    m = np.inf
    for u in range(n):
        x = np.float64(em_row[labs[u]])
        buf[u] = x
        m = min(m, x)
    if m == np.inf:
        m = 0.0
    c = -beta
    for u in range(n):
        x = fast_exp(max(c * (buf[u] - m), -700.0))  # 0 below anyway (see _dense._factors)
        pe_row[u] = x if x >= SUBNORMAL else 0.0
    return m


@nb.njit(cache=True, fastmath=FAST)
def _closure(a, out, e0, e1, eps, ewexp):
    """out = epsilon closure of a (forward direction, topological order; ``eps`` the
    Epsilons); returns EXACT, FLUSHED (a reached value below LOW, raised to LOW) or LOG (a
    value above HIGH)."""
    out[:] = a
    code = EXACT
    for i in range(e0, e1):
        s, d = eps.src[i], eps.dst[i]
        out[d] += out[s] * ewexp[i]
        if out[s] > 0.0 and ewexp[i] > 0.0:
            if not out[d] <= HIGH:
                return LOG
            if out[d] < LOW:
                out[d] = LOW
                code = FLUSHED
    return code


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


@nb.njit(cache=True, inline="always")
def free_energy(code, z, total, eshift, shift, T, beta):
    """(status, free energy) after the last frame: z the total into the final states, total
    the sum of log frame scales, eshift the emission shifts, shift the graph's (emitting,
    start, final) weight shifts; (LOG or worse, +inf) when the pass cannot vouch for it."""
    if code >= LOG or not z >= LOW:
        return max(code, LOG), np.inf
    return code, shift[0] * T + shift[1] + shift[2] + eshift - (total + np.log(z)) / beta


@nb.njit(cache=True, fastmath=FAST, inline="always")
def reached(a, runs, v, wexp, ebuf):
    """Whether some path reaches global state v at this frame (a source with mass, a finite
    arc and a finite emission ``ebuf[label index]``): then a zero or tiny value of v is
    underflow, not absence."""
    for r in range(runs.ptr[v], runs.ptr[v + 1]):
        if ebuf[runs.ulab[r]] < np.inf:
            s0, p0 = runs.src0[r], runs.pos0[r]
            for k in range(runs.length[r]):
                if a[s0 + k] > 0.0 and wexp[p0 + k] > 0.0:
                    return True
    return False


@nb.njit(cache=True, fastmath=FAST, inline="always")
def normalise(raw, c, out, a, runs, n0, wexp, ebuf):
    """out = raw / c (frame t+1 from the unnormalised values of frame t's sources ``a``); a
    reached state (see :func:`reached`) below LOW is *flushed*: it keeps LOW, so that it never
    reads as absent. Returns the number flushed."""
    inv = 1.0 / c
    flushed = 0
    for d in range(raw.shape[0]):
        v = raw[d] * inv
        if v < LOW and reached(a, runs, n0 + d, wexp, ebuf):
            v = LOW
            flushed += 1
        out[d] = v
    return flushed


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
def state_posterior(an, bv, p, inv, go, ge, label):
    """Frame t of a state-labelled graph, one destination state: its posterior an bv
    (alpha_{t+1} beta_{t+1}), added times gout into the emission gradient ge[label], and
    f = bv p / scale_{t+1} (p its emission factor), the factor that carries beta back
    through its arcs (0 below SUBNORMAL)."""
    post = an * bv
    ge[label] += go * post
    f = bv * p * inv
    return post, f if f >= SUBNORMAL else 0.0


@nb.njit(cache=True, inline="always")
def prune(bv, a, n):
    """Backward values of states without forward mass, or subnormal, to 0: nothing unbounded
    or slow reaches the next frame."""
    for s in range(n):
        if not (a[s] > 0.0 and bv[s] >= SUBNORMAL):
            bv[s] = 0.0


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


# Unsigned indices: an index that might be negative makes numba wrap it, which stops LLVM
# from vectorising the loop (about 6x slower for a CRF state's K-arc run); slices would do too,
# but cost more than a CTC state's 2-3 arcs.
@nb.njit(cache=True, fastmath=FAST, inline="always")
def dot(a, s0, w, p0, n):
    """sum_k a[s0 + k] * w[p0 + k], k < n."""
    s, p = np.uint64(s0), np.uint64(p0)
    acc = 0.0
    for k in range(np.uint64(n)):
        acc += a[s + k] * w[p + k]
    return acc


@nb.njit(cache=True, fastmath=FAST, inline="always")
def axpy(out, s0, w, p0, n, f):
    """out[s0 + k] += w[p0 + k] * f, k < n."""
    s, p = np.uint64(s0), np.uint64(p0)
    for k in range(np.uint64(n)):
        out[s + k] += w[p + k] * f


@batch_kernel(fastmath=FAST)
def forward(utt, runs, eps, lab, W, beta, pe, alpha, scale, energy, status):
    """Free energy per utterance into ``energy``, and its status (see the module docstring).
    Fills pe[b, t, u] = exp(-beta (em[b, t, label u] - m[b, t])) (see the module docstring).
    Arguments: ``_prep``'s Utterances, Runs, Epsilons, LabelSets and Weights, then the outputs
    (the fields of ``_prep.Scaled``: numba's parallel loops lose writes to arrays taken from a
    tuple argument, so every array a parallel kernel writes is an argument of its own)."""
    ptr, src0, pos0, length, ulab = runs.ptr, runs.src0, runs.pos0, runs.length, runs.ulab
    wexp, ewexp = W.wexp, W.ewexp
    for b in nb.prange(utt.em.shape[0]):
        if not utt.active[b]:
            continue
        g, T, n0, N, glabs = utterance(utt, runs.node_off, lab, b)
        e0, e1 = eps.off[g], eps.off[g + 1]
        ebuf, tmp, raw = np.empty(glabs.shape[0]), np.empty(N), np.empty(N)
        c = start(W.swexp[n0 : n0 + N], alpha[b, 0, :N])
        if not c > 0.0:
            continue
        total, eshift, code = np.log(c), 0.0, EXACT
        for t in range(T + 1):
            a = alpha[b, t]
            if e1 > e0:
                code = max(code, _closure(alpha[b, t, :N], tmp, e0, e1, eps, ewexp))
                a = tmp
            if code >= LOG or t == T:
                break
            eshift += frame_factors(utt.em[b, t], glabs, beta, ebuf, pe[b, t])
            c = 0.0
            for d in range(N):
                acc = 0.0
                for r in range(ptr[n0 + d], ptr[n0 + d + 1]):
                    acc += dot(a, src0[r], wexp, pos0[r], length[r]) * pe[b, t, ulab[r]]
                raw[d] = acc if acc >= SUBNORMAL else 0.0
                c += acc
            if not c >= LOW:
                code = LOG
                break
            if normalise(raw, c, alpha[b, t + 1, :N], a, runs, n0, wexp, ebuf):
                code = max(code, FLUSHED)
            scale[b, t + 1] = c
            total += np.log(c)
        z = final(a[:N], W.fwexp[n0 : n0 + N])
        status[b], energy[b] = free_energy(code, z, total, eshift, W.shift[g], T, beta)


@batch_kernel(fastmath=FAST)
def backward(gout, utt, runs, eps, lab, W, fwd, arc_grads, dev, g_em, g_w, g_ew, g_sw, g_fw):
    """Posteriors times gout[b]: into g_em [B, T, V] and the arc (only if ``arc_grads``),
    epsilon, start and final buffers (row rows[b]: b when the graph is shared by the batch,
    else 0 with disjoint slices); dev[b] = max over frames of |alpha_t . beta_t - 1|.
    ``fwd``: the forward pass's ``_prep.Scaled``; the gradient buffers are ``_prep.Grads``'s."""
    ptr, src0, pos0, length, ulab = runs.ptr, runs.src0, runs.pos0, runs.length, runs.ulab
    wexp, ewexp = W.wexp, W.ewexp
    pe, alpha, scale = fwd.pe, fwd.alpha, fwd.scale
    for b in nb.prange(gout.shape[0]):
        if not utt.active[b]:
            continue
        g, T, n0, N, glabs = utterance(utt, runs.node_off, lab, b)
        go, row = gout[b], utt.rows[b]
        e0, e1 = eps.off[g], eps.off[g + 1]
        bnext, bcur, tmp = np.empty(N), np.empty(N), np.empty(N)
        for t in range(T, -1, -1):
            a = alpha[b, t]
            if e1 > e0:
                _closure(alpha[b, t, :N], tmp, e0, e1, eps, ewexp)
                a = tmp
            if t == T:
                final_betas(a[:N], W.fwexp[n0 : n0 + N], go, bnext, g_fw[row, n0 : n0 + N])
                dev[b] = _finish_frame(go, alpha[b, T], a, bnext, N, e0, e1, eps, ewexp, g_ew[row])
                continue
            inv = 1.0 / scale[b, t + 1]
            bcur[:] = 0.0
            for d in range(N):
                xd = bnext[d]
                if xd == 0.0:
                    continue
                for r in range(ptr[n0 + d], ptr[n0 + d + 1]):
                    s0, p0 = src0[r], pos0[r]
                    f = xd * pe[b, t, ulab[r]] * inv
                    if not f >= SUBNORMAL:
                        continue
                    tot = 0.0
                    for k in range(length[r]):
                        x = wexp[p0 + k] * f
                        xi = a[s0 + k] * x
                        if arc_grads:
                            g_w[row, p0 + k] += go * xi
                        tot += xi
                        bcur[s0 + k] += x
                    g_em[b, t, glabs[ulab[r]]] += go * tot
            prune(bcur, a, N)
            dev[b] = max(dev[b], _finish_frame(go, alpha[b, t], a, bcur, N, e0, e1, eps, ewexp,
                                               g_ew[row]))  # fmt: skip
            bnext, bcur = bcur, bnext
        start_posteriors(alpha[b, 0, :N], bnext, go, g_sw[row, n0 : n0 + N])


@nb.njit(cache=True, fastmath=FAST)
def _finish_frame(go, apre, a, bv, n, e0, e1, eps, ewexp, g_ew):
    """Backward values after the closure point -> before it (epsilon arcs back, in reverse
    topological order), epsilon-arc posteriors, and |apre . bv - 1| (every path crosses the
    pre-closure point once); states without forward mass get 0 so that nothing unbounded
    reaches the next frame."""
    for i in range(e1 - 1, e0 - 1, -1):
        if ewexp[i] > 0.0:
            bv[eps.src[i]] += ewexp[i] * bv[eps.dst[i]]
    for i in range(e0, e1):
        x = a[eps.src[i]] * ewexp[i]
        if x > 0.0:
            g_ew[i] += go * x * bv[eps.dst[i]]
    z = 0.0
    for s in range(n):
        if apre[s] > 0.0:
            z += apre[s] * bv[s]
        else:
            bv[s] = 0.0
    return deviation(z)
