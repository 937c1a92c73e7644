"""Linear-chain CRF forward-backward with the batch in SIMD lanes: the innermost loops run over
utterances (arrays [K, T, B]), so that LLVM vectorises them whatever K is; they are branch-free
(selects, ``&`` not ``and``) for the same reason. ``_scaled``'s recursion (normalised forward
values, Rabiner's scaled backward) with scales per utterance; past its length a lane keeps its
values. Exactness as in ``_scaled``: a value below ``LOW`` of a label with finite energy keeps
``LOW``; a lane is vouched for (``ok``) only if every frame's scale is at least ``LOW`` and its
posteriors sum to 1 within ``CHECK_TOL`` at every frame and at the start (the backward never
sees a flush, so a flushed state that carried mass breaks the sum)."""

from typing import NamedTuple

import numba as nb
import numpy as np

from .._internal.exp import fast_exp, fast_log
from .._internal.jit import batch_kernel
from .._internal.threads import sync_threads
from ._prep import FAST, SCALED_RANGE, _shifted_exp
from ._scaled import CHECK_TOL, LOW, PARALLEL_WORK, SUBNORMAL


class Lanes(NamedTuple):
    """What :func:`forward_backward` leaves: [B] free energies (where ok), tag-sequence energies,
    ok, losses (+inf for an impossible tag sequence, 0 for the rest) and rest (the lanes not ok
    with a possible tag sequence); minus the label posteriors [B, T, V] (the emissions' dtype);
    forward values alpha and f (backward values times emission factors / scale) [K, T, B];
    start and end posteriors [2, K, B]; p [K, K] = exp(-(transitions - their shift)). Lanes not
    ok or with an impossible tag sequence hold zeros."""

    energy: np.ndarray
    path: np.ndarray
    ok: np.ndarray
    loss: np.ndarray
    rest: np.ndarray
    post: np.ndarray
    alpha: np.ndarray
    f: np.ndarray
    ends: np.ndarray
    p: np.ndarray
    finite: bool  # no NaN or -inf in em, padding included
    overflow: int  # the first lane whose tag-sequence energy is -inf, or -1
    total: float  # the losses' sum


def forward_backward(em, tags, lengths, trans, start, end) -> Lanes:
    """em [B, T, V >= K] (values of use only where ``finite``), tags int64 [B, T] in [0, K),
    lengths int64 [B] >= 1, float64 C-contiguous trans [K, K], start and end [K] (no NaN or
    -inf); no lane is ok if a weight range is too wide for probability space (``_prep.weights``)."""
    B, T, V = em.shape
    K = trans.shape[0]
    # blocks of lanes, a multiple of 8 wide, one per thread (numba.get_num_threads costs
    # microseconds: asked once, by sync_threads, and only for enough work)
    threads = sync_threads() if K * K * int(lengths.sum()) >= PARALLEL_WORK else 1
    width = B if threads == 1 else -(-B // (8 * threads)) * 8
    alpha, f = np.empty((2, K, T, B))
    post = (np.empty if V == K else np.zeros)((B, T, V), em.dtype)
    ends, p, out = np.empty((2, K, B)), np.empty((K, K)), np.empty((3, B))
    ok, rest = np.ones(B, np.bool_), np.empty(B, np.bool_)
    kernel = _kernel.serial if threads == 1 else _kernel.parallel
    summary = kernel(em, tags, lengths, (trans, start, end), p, width, alpha, f,
                     np.empty((T, B)), post, ends, out, ok, rest)  # fmt: skip
    return Lanes(out[0], out[1], ok, out[2], rest, post, alpha, f, ends, p, *summary)


@batch_kernel(fastmath=FAST, error_model="numpy")  # x / 0 is inf: no branch to raise
def _kernel(em, tags, lengths, weights, p, width, alpha, f, scale, post, ends, out, ok, rest):
    """Lanes b0 <= b < b0 + n per block of ``width``; f first holds the emission factors.
    weights: transitions, start, end; p their shifted exponentials (filled here, an argument
    of its own: see the numerics page); out: energy, path, loss."""
    K, T, B = alpha.shape
    trans, start, end = weights
    s, e = np.empty(K), np.empty(K)
    mt, w0 = _shifted_exp(trans.reshape(K * K), 0, K * K, 1.0, p.reshape(K * K))
    ms, w1 = _shifted_exp(start, 0, K, 1.0, s)
    me, w2 = _shifted_exp(end, 0, K, 1.0, e)
    good = max(w0, w1, w2) <= SCALED_RANGE
    ok[:] = good
    pt = p.T.copy()
    energy, path, loss = out[0], out[1], out[2]
    nonfinite = 0  # NaN or -inf: the caller's check of the emissions runs when this finds any
    flat = em.reshape(-1)
    for i in range(flat.size):
        nonfinite += 0 if flat[i] > -np.inf else 1  # a count, not a bool: vectorises
    _sequence_energies(em, tags, trans, start, end, lengths, path)
    for blk in nb.prange(-(-B // width) if good else 0):
        b0, n = np.uint64(blk * width), np.uint64(min(width, B - blk * width))
        L = lengths[b0 : b0 + n]
        m, c, total = np.empty(n), np.empty(n), np.zeros(n)
        live, fin = np.empty(n, np.bool_), np.empty((K, n))
        raw, a = np.empty((K, n)), np.empty((K, n))  # a: the forward values of the last frame
        for t in range(T):
            _factors(em, t, b0, n, L, f, m, total, fin)
            if t == 0:
                for j in range(K):
                    for k in range(n):
                        raw[j, k] = s[j]
            else:
                _matvec(raw, a, p, n)
            for k in range(n):
                c[k] = 0.0
                live[k] = t < L[k]
            for j in range(K):
                for k in range(n):
                    r = raw[j, k] * f[j, t, b0 + k]
                    r = r if r >= SUBNORMAL else 0.0
                    raw[j, k] = r
                    c[k] += r
            for k in range(n):
                cc = c[k]
                ok[b0 + k] &= (cc >= LOW) | (t >= L[k])
                scale[t, b0 + k] = 1.0 / cc if live[k] else 1.0
            for j in range(K):
                for k in range(n):
                    v = raw[j, k] * scale[t, b0 + k]
                    v = LOW if (v < LOW) & (fin[j, k] < np.inf) else v
                    v = v if live[k] else a[j, k]  # L >= 1: every lane is live at t = 0
                    a[j, k] = v
                    alpha[j, t, b0 + k] = v
        for t in range(T):  # log(1 / scale): 0 past a lane's length
            for k in range(n):
                total[k] += fast_log(scale[t, b0 + k])
        _backward(alpha, f, scale, pt, s, e, b0, n, L, live, total, post, ends, energy, ok)
    overflow, total = -1, 0.0
    for b in range(B):  # the shifts back, the losses; zeros in the lanes of no use (perhaps NaN)
        energy[b] += mt * (lengths[b] - 1) + ms + me
        dead = not path[b] < np.inf  # an impossible tag sequence: +inf, not inf - inf
        rest[b] = not ok[b] and not dead
        loss[b] = np.inf if dead else (path[b] - energy[b] if ok[b] else 0.0)
        overflow = b if overflow < 0 and path[b] == -np.inf else overflow
        total += loss[b]
        if dead or not ok[b]:
            post[b] = 0.0
            alpha[:, :, b] = 0.0
            f[:, :, b] = 0.0
            ends[:, :, b] = 0.0
    return nonfinite == 0, overflow, total


@nb.njit(cache=True)
def _sequence_energies(em, tags, trans, start, end, lengths, out):
    """out[b] = start[y_0] + sum_{t < L_b} em[b, t, y_t] + sum_{0 < t < L_b} trans[y_{t-1}, y_t]
    + end[y_{L_b - 1}] (frames t >= L_b ignored), y = tags[b], in float64."""
    for b in range(em.shape[0]):
        L = lengths[b]
        y = tags[b]
        acc = np.float64(start[y[0]]) + np.float64(end[y[L - 1]]) + np.float64(em[b, 0, y[0]])
        for t in range(1, L):
            acc += np.float64(em[b, t, y[t]]) + np.float64(trans[y[t - 1], y[t]])
        out[b] = acc


@nb.njit(cache=True, fastmath=FAST)
def gradients(gout, lanes, tags, lengths, arc_grads, g):
    """The gradients of sum_b gout[b] loss[b] from a :class:`Lanes`' buffers: the emissions'
    in its posteriors (weighted in place; with ``arc_grads`` its f too), the transitions',
    start's and end's in the zeroed g [K * K + 2 K], the indicators of the tag sequences'
    terms included; lanes not ok or with an impossible tag sequence weigh 0."""
    K, T, B = lanes.alpha.shape
    g_em, g_tr, g_st, g_en = lanes.post, g[: K * K].reshape(K, K), g[K * K : K * K + K], g[-K:]
    w, c, uniform, first = np.empty(B), 0.0, True, True
    for b in range(B):
        use = lanes.ok[b] and lanes.path[b] < np.inf
        w[b] = gout[b] if use else 0.0
        if use:
            uniform &= first or w[b] == c
            c, first = w[b], False
        if w[b] != 1.0:  # lanes of no use hold zeros
            g_em[b] *= w[b]
    if arc_grads:  # with the same weight for all lanes (a 'sum' or 'mean'), c scales the sums
        if not uniform:
            for j in range(K):
                for t in range(T):
                    for b in range(B):
                        lanes.f[j, t, b] *= w[b]
        xi_sums(lanes.alpha.reshape(K, T * B), lanes.f.reshape(K, T * B), B, g_tr)
        g_tr *= -lanes.p * (c if uniform else 1.0)
        for j in range(K):
            for b in range(B):
                g_st[j] -= lanes.ends[0, j, b] * w[b]
                g_en[j] -= lanes.ends[1, j, b] * w[b]
    for b in range(B):  # E(tags)'s terms
        L, g, y = lengths[b], w[b], tags[b]
        g_st[y[0]] += g
        g_en[y[L - 1]] += g
        g_em[b, 0, y[0]] += g
        for t in range(1, L):
            g_em[b, t, y[t]] += g
            g_tr[y[t - 1], y[t]] += g


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _factors(em, t, b0, n, L, f, m, total, fin):
    """f[:, t] = exp(-(em[b, t, :K] - m[b])) (0 below SUBNORMAL), m the lanes' smallest energy,
    added to total on live frames; fin [K, n] the shifted energies."""
    K = f.shape[0]
    for k in range(n):
        m[k] = np.inf
    for j in range(K):
        for k in range(n):
            x = np.float64(em[b0 + k, t, j])
            fin[j, k] = x
            m[k] = x if x < m[k] else m[k]  # selects, not min() / max(): see fast_exp
    for k in range(n):
        m[k] = m[k] if m[k] < np.inf else 0.0
        total[k] += m[k] if t < L[k] else 0.0
    for j in range(K):
        for k in range(n):
            fin[j, k] -= m[k]
        for k in range(n):  # one array in, one out: vectorises
            d = fin[j, k]
            x = fast_exp(-d if d < 700.0 else -700.0)  # 0 below anyway: no slow subnormals
            f[j, t, b0 + k] = x if x >= SUBNORMAL else 0.0


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _backward(alpha, f, scale, pt, s, e, b0, n, L, live, total, post, ends, energy, ok):
    """The lanes' energies, posteriors, f (see :class:`Lanes`) and ok."""
    K, T, _ = alpha.shape
    z, sums = np.zeros(n), np.empty(n)
    bn, bc, fk = np.empty((K, n)), np.empty((K, n)), np.empty((K, n))
    for j in range(K):
        for k in range(n):
            z[k] += alpha[j, T - 1, b0 + k] * e[j]
    for k in range(n):
        ok[b0 + k] &= z[k] >= LOW
        energy[b0 + k] = total[k] - np.log(z[k])
    for j in range(K):
        for k in range(n):
            a = alpha[j, T - 1, b0 + k]
            x = e[j] / z[k]
            x = x if a > 0.0 else 0.0
            bn[j, k] = x
            ends[1, j, b0 + k] = a * x
    for t in range(T - 1, -1, -1):
        for k in range(n):
            sums[k] = 0.0
            live[k] = t < L[k]
        for j in range(K):
            for k in range(n):
                b = b0 + k
                q = alpha[j, t, b] * bn[j, k]
                q = q if live[k] else 0.0
                sums[k] += q
                bc[j, k] = q
                x = f[j, t, b] * bn[j, k] * scale[t, b]
                x = x if (x >= SUBNORMAL) & live[k] else 0.0
                fk[j, k] = x
                f[j, t, b] = x
        for k in range(n):
            ok[b0 + k] &= (abs(sums[k] - 1.0) < CHECK_TOL) | (t >= L[k])
            for j in range(K):  # contiguous stores: a vector scatter is slower
                post[b0 + k, t, j] = -bc[j, k]
        if t == 0:
            break
        _matvec(bc, fk, pt, n)
        for j in range(K):
            for k in range(n):
                x, y, a = bc[j, k], bn[j, k], alpha[j, t - 1, b0 + k]
                x = x if live[k] else y
                bn[j, k] = x if (a > 0.0) & (x >= SUBNORMAL) else 0.0
    for k in range(n):
        sums[k] = 0.0
    for j in range(K):  # the start posteriors, from the factors of frame 0 without flushes
        for k in range(n):
            x = s[j] * fk[j, k]
            ends[0, j, b0 + k] = x
            sums[k] += x
    for k in range(n):  # frame 0's flushes show here
        ok[b0 + k] &= abs(sums[k] - 1.0) < CHECK_TOL


@nb.njit(cache=True, fastmath=FAST, inline="always")
def _matvec(out, x, p, n):
    """out[j, k] = sum_i x[i, k] p[i, j] for k < n, four i per pass over the lanes: each pass
    loads and stores out[j]."""
    K = p.shape[0]
    for j in range(K):
        for k in range(n):
            out[j, k] = 0.0
    for i in range(0, K, 4):  # past K: row K - 1 again, times 0
        i1, i2, i3 = min(i + 1, K - 1), min(i + 2, K - 1), min(i + 3, K - 1)
        for j in range(K):
            c0, c1 = p[i, j], p[i1, j] if i + 1 < K else 0.0
            c2, c3 = p[i2, j] if i + 2 < K else 0.0, p[i3, j] if i + 3 < K else 0.0
            for k in range(n):
                out[j, k] += (x[i, k] * c0 + x[i1, k] * c1) + (x[i2, k] * c2 + x[i3, k] * c3)


@nb.njit(cache=True, fastmath=FAST)
def xi_sums(a, f, shift, out):
    """out[i, j] = sum_{m < M - shift} a[i, m] f[j, m + shift] for a and f [K, M]: with alpha
    and f [K, T * B] and shift B, the transitions' expected counts over p[i, j]. Two rows of a
    by five of f per pass over chunks of m that stay in the cache (no BLAS: see ``_dense``)."""
    K, M = a.shape
    out[:] = 0.0
    for m0 in range(0, M - shift, 512):
        n, ma, mf = np.uint64(min(512, M - shift - m0)), np.uint64(m0), np.uint64(m0 + shift)
        for i in range(0, K, 2):
            i1, z = min(i + 1, K - 1), K - 1  # rows past K - 1: row K - 1 again, not stored
            for j in range(0, K, 5):
                j1, j2, j3, j4 = min(j + 1, z), min(j + 2, z), min(j + 3, z), min(j + 4, z)
                s00 = s01 = s02 = s03 = s04 = s10 = s11 = s12 = s13 = s14 = 0.0
                for m in range(n):
                    x0, x1, y0, y1 = a[i, ma + m], a[i1, ma + m], f[j, mf + m], f[j1, mf + m]
                    y2, y3, y4 = f[j2, mf + m], f[j3, mf + m], f[j4, mf + m]
                    s00 += x0 * y0
                    s01 += x0 * y1
                    s02 += x0 * y2
                    s03 += x0 * y3
                    s04 += x0 * y4
                    s10 += x1 * y0
                    s11 += x1 * y1
                    s12 += x1 * y2
                    s13 += x1 * y3
                    s14 += x1 * y4
                sums = ((s00, s01, s02, s03, s04), (s10, s11, s12, s13, s14))
                for r in range(min(2, K - i)):
                    for c in range(min(5, K - j)):
                        out[i + r, j + c] += sums[r][c]
