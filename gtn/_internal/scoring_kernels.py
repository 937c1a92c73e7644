"""numba kernels for scoring DAGs: the forward and backward passes of the log semiring (free
energy, arc posteriors) and of the tropical semiring (minimum energy, best-path traceback).

Conventions (see :mod:`gtn`): weights are energies, +inf is an absent arc / a state that is
not start or final. Arcs are in the sorted order of :class:`plan.Plan`; ids are local to
each graph. Energies are accumulated in float64 whatever the input dtype.

- alpha[v]: free (or minimum) energy of the partial paths from a start state to v, start
  weight included; beta_[v]: the same from v to a final state, final weight included.
- The arc posterior (dF/dw) is exp(-beta (alpha[src] + w + beta_[dst] - F)); the backward pass
  computes it as shares of the forward's own sums (see :func:`_log_posteriors_one`), which
  stay a distribution where beta * ulp(F) >= 1 makes that difference meaningless.

Loops over the arcs of one state are split into a gather pass (scalar) and an exp pass over a
contiguous buffer (which LLVM vectorises). State ids are read as uint32 so that indexing skips
numba's negative-index wrap-around.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .exp import fast_exp as _inline_exp
from .jit import _renamed, batch_kernel, kernel_helper
from .plan import part

INF = np.inf
_FAST = {"reassoc", "contract"}  # lets sums vectorise; no nnan/ninf: +inf is meaningful here
# Forward sums hold terms up to exp(_HEADROOM) (1e130): far from overflow even summed over
# 1e100 arcs, and a term below exp(-745) of the largest one is below rounding.
_HEADROOM = 300.0

# Helpers called from several places are plain calls, not numba-inlined ones: LLVM inlines them
# all the same once they are linked into a kernel, while numba's own inlining retypes the callee
# at every call site, which made these few kernels take seconds to compile on first use. A pass
# called from one place only (its batch kernel) is inlined there instead: one compilation less.
# (same fast-math flags as the kernels it was inlined into before: the same numbers)
fast_exp = kernel_helper(fastmath=_FAST)(_renamed(_inline_exp.py_func, "_call"))


@kernel_helper
def _max_degree(out_ptr):
    m = 0
    for i in range(out_ptr.shape[0] - 1):
        m = max(m, out_ptr[i + 1] - out_ptr[i])
    return m


@kernel_helper(fastmath=_FAST)
def _exp_in_place(buf, count, beta, shift):
    """buf[j] <- exp(-beta (buf[j] - shift)) for j < count; returns their sum."""
    total = 0.0
    for j in range(count):
        e = fast_exp(-beta * (buf[j] - shift))
        buf[j] = e
        total += e
    return total


# ---------------------------------------------------------------------------- log semiring
# The log-semiring passes below are compiled without fast-math: a term's exponent must be
# computed as (alpha[src] + w) - shift, in that order, so that the term whose energy *is* the
# shift gets exactly exp(0) = 1 however large the energies (reassociated to w + (alpha - shift),
# a weight rounded away in a large partial energy leaves every term 0, and a state some path
# reaches reads as unreached). A helper compiled for a fast-math kernel takes on that kernel's
# flags, so the kernels themselves are strict; the exps and sums run in fast-math helpers.
@kernel_helper
def _offsets(buf, ws, av, shift):
    """buf[j] = (av + ws[j]) - shift: energies relative to a destination's shift."""
    for j in range(ws.shape[0]):
        buf[j] = (av + ws[j]) - shift


@nb.njit(cache=True, inline="always")
def _log_alpha_one(beta, g, alpha, shift, scale):
    """Fill alpha (each state's free energy from the start states) and return the free energy.
    A state's incoming terms exp(-beta (x - shift[v])), x = alpha[src] + w (or its start
    weight), sum to scale[v], so alpha[v] = shift[v] - log(scale[v]) / beta; the backward pass
    reads shift and scale to split a state's posterior among its incoming arcs. A term may be
    as large as exp(_HEADROOM): the shift (and sum) are rescaled only when an arc undercuts it
    by more than that, which is rare, so almost every arc costs one vectorised exp. The
    smallest term that moved the shift is exactly 1, so scale >= 1 for every reached state."""
    # fields one by one: unpacking the whole Part copies (and reference-counts) every array
    node_order = g.node_order
    out_ptr = g.out_ptr
    dst = g.dst
    one_dst = g.one_dst
    w = g.w
    sw = g.sw
    fw = g.fw
    n = node_order.shape[0]
    buf = np.empty(_max_degree(out_ptr))
    headroom = _HEADROOM / beta
    for v in range(n):
        shift[v] = sw[v]
        scale[v] = 1.0 if sw[v] < INF else 0.0
    for i in range(n):
        v = node_order[i]
        if scale[v] == 0.0:
            alpha[v] = INF
            continue
        av = shift[v] - np.log(scale[v]) / beta
        alpha[v] = av
        k0, count = out_ptr[i], out_ptr[i + 1] - out_ptr[i]
        if one_dst[i]:  # a lattice frame: a log-sum-exp over a contiguous slice of weights
            d = np.uint32(dst[k0])
            ws = w[k0 : k0 + count]
            x = av + _min(ws)  # = min_j (av + ws[j]): rounding is monotonic
            if x < shift[d] - headroom:
                scale[d] = scale[d] * fast_exp(-beta * (shift[d] - x))
                shift[d] = x
            _offsets(buf, ws, av, shift[d])
            scale[d] += _exp_in_place(buf, count, beta, 0.0)
            continue
        moved = False
        d0 = np.uint32(dst[k0]) if count else np.uint32(0)
        one_target = True  # all arcs into one state (a lattice frame): sum, then add once
        for j in range(count):  # energies relative to the destinations' shifts
            x = av + w[k0 + j]
            d = np.uint32(dst[k0 + j])
            one_target = one_target and d == d0
            if x < shift[d] - headroom:  # includes the first arc into d (shift = inf)
                scale[d] = scale[d] * fast_exp(-beta * (shift[d] - x))
                shift[d] = x
                moved = True
            buf[j] = x - shift[d]  # inf - inf = nan, and exp(nan) is 0 here
        if moved:  # a shift moved after earlier arcs into the same state used it
            for j in range(count):
                buf[j] = (av + w[k0 + j]) - shift[np.uint32(dst[k0 + j])]
        total = _exp_in_place(buf, count, beta, 0.0)
        if one_target:
            if count:
                scale[d0] += total
        else:
            for j in range(count):
                scale[np.uint32(dst[k0 + j])] += buf[j]
    best, total = _final_terms(beta, alpha, fw)
    if best == INF:
        return INF
    return best - np.log(total) / beta


@nb.njit(cache=True, inline="always")
def _final_terms(beta, alpha, fw):
    """(best, total): the smallest alpha[v] + fw[v] and sum_v exp(-beta (alpha[v] + fw[v] -
    best)), so that F = best - log(total) / beta; (inf, 0) when no final state is reached."""
    best = INF
    for v in range(alpha.shape[0]):
        best = min(best, alpha[v] + fw[v])
    total = 0.0
    if best < INF:
        for v in range(alpha.shape[0]):
            total += fast_exp(-beta * ((alpha[v] + fw[v]) - best))
    return best, total


@batch_kernel
def log_forward(beta, plan, weights, alpha, shift, scale, free):
    """free[b] = free energy of graph b of ``plan``; alpha, shift, scale (float64 [sum N]) as
    in :func:`_log_alpha_one`, for :func:`log_backward`."""
    node_off = plan.node_off
    for b in nb.prange(node_off.shape[0] - 1):
        n0, n1 = node_off[b], node_off[b + 1]
        g = part(plan, weights, b)
        free[b] = _log_alpha_one(beta, g, alpha[n0:n1], shift[n0:n1], scale[n0:n1])


@nb.njit(cache=True, inline="always")
def _log_posteriors_one(beta, gout, free, g, alpha, shift, scale, garc, gsw, gfw):
    """Backward pass giving gout times the posterior of every arc, start and final weight.

    The posteriors flow back from the final states (each one's share of the total, as the
    forward summed it) in reverse topological order: a state's posterior (the probability
    that a path passes through it) is split among its incoming arcs and its start weight in
    proportion to their terms exp(-beta ((alpha[src] + w) - shift)) / scale of the forward
    pass. Shares of the same sums, not exp(-beta (alpha + w + beta_ - F)) with a rounded F: the
    posteriors of every cut sum to 1 (up to rounding) at any beta and any energy magnitude,
    and no term exceeds its state's posterior. One exp per arc, as the forward."""
    node_order = g.node_order
    out_ptr = g.out_ptr
    dst = g.dst
    one_dst = g.one_dst
    w = g.w
    sw = g.sw
    fw = g.fw
    n = node_order.shape[0]
    if not free < INF:
        garc[:] = 0.0
        gsw[:] = 0.0
        gfw[:] = 0.0
        return
    best, total = _final_terms(beta, alpha, fw)
    inv_total = 1.0 / total
    # per state: its posterior over its forward sum, the factor of each incoming arc's term
    share = np.empty(n)
    buf = np.empty(_max_degree(out_ptr))
    for i in range(n - 1, -1, -1):
        v = node_order[i]
        k0, count = out_ptr[i], out_ptr[i + 1] - out_ptr[i]
        av = alpha[v]
        if av == INF:  # no path reaches v
            garc[k0 : k0 + count] = 0.0
            gsw[v] = 0.0
            gfw[v] = 0.0
            share[v] = 0.0
            continue
        post = fast_exp(-beta * ((av + fw[v]) - best)) * inv_total
        gfw[v] = gout * post
        if count and one_dst[i]:
            d = np.uint32(dst[k0])
            _offsets(buf, w[k0 : k0 + count], av, shift[d])
            post += _frame_out(buf, count, beta, share[d], gout, garc[k0 : k0 + count])
        elif count:
            for j in range(count):
                buf[j] = (av + w[k0 + j]) - shift[np.uint32(dst[k0 + j])]
            _exp_in_place(buf, count, beta, 0.0)
            post += _posterior_out(buf, count, dst[k0 : k0 + count], share, gout,
                                   garc[k0 : k0 + count])  # fmt: skip
        share[v] = post / scale[v]
        gsw[v] = gout * share[v] * fast_exp(-beta * (sw[v] - shift[v]))


@kernel_helper(fastmath=_FAST)
def _frame_out(offsets, count, beta, share, gout, garc):
    """:func:`_posterior_out` for arcs into one state (``share`` its share): exps and sum in
    one pass."""
    total = 0.0
    for j in range(count):
        p = fast_exp(-beta * offsets[j]) * share
        garc[j] = gout * p
        total += p
    return total


@kernel_helper(fastmath=_FAST)
def _posterior_out(terms, count, dst, share, gout, garc):
    """garc[j] = gout times the posterior of out-arc j (its term times its destination's share);
    returns the sum of those posteriors (without gout)."""
    total = 0.0
    for j in range(count):
        p = terms[j] * share[np.uint32(dst[j])]
        garc[j] = gout * p
        total += p
    return total


@batch_kernel
def log_backward(beta, gout, free, plan, weights, alpha, shift, scale, garc, gsw, gfw):
    """Gradients of sum_b gout[b] * free[b] wrt arc (sorted order), start and final energies:
    gout[b] times the posteriors (gout = 1 gives the posteriors themselves)."""
    node_off, arc_off = plan.node_off, plan.arc_off
    for b in nb.prange(node_off.shape[0] - 1):
        n0, n1, a0, a1 = node_off[b], node_off[b + 1], arc_off[b], arc_off[b + 1]
        g = part(plan, weights, b)
        _log_posteriors_one(
            beta, gout[b], free[b], g, alpha[n0:n1], shift[n0:n1], scale[n0:n1], garc[a0:a1],
            gsw[n0:n1], gfw[n0:n1],
        )  # fmt: skip


@kernel_helper(fastmath=_FAST)
def _min(ws):
    m = INF
    for j in range(ws.shape[0]):
        m = min(m, np.float64(ws[j]))
    return m


@kernel_helper(fastmath=_FAST)
def _out_energies(buf, k0, count, dst, w, beta_, m):
    """buf[j] = w + beta_[dst] for the arcs k0..k0+count of a state; returns min(m, those).
    Four running minima: a single one is a dependency chain as long as the state's arcs."""
    m1 = m2 = m3 = m
    j = 0
    while j + 4 <= count:
        x0 = w[k0 + j] + beta_[np.uint32(dst[k0 + j])]
        x1 = w[k0 + j + 1] + beta_[np.uint32(dst[k0 + j + 1])]
        x2 = w[k0 + j + 2] + beta_[np.uint32(dst[k0 + j + 2])]
        x3 = w[k0 + j + 3] + beta_[np.uint32(dst[k0 + j + 3])]
        buf[j], buf[j + 1], buf[j + 2], buf[j + 3] = x0, x1, x2, x3
        m, m1, m2, m3 = min(m, x0), min(m1, x1), min(m2, x2), min(m3, x3)
        j += 4
    for t in range(j, count):
        x = w[k0 + t] + beta_[np.uint32(dst[k0 + t])]
        buf[t] = x
        m = min(m, x)
    return min(min(m, m1), min(m2, m3))


@nb.njit(cache=True, fastmath=_FAST)
def log_beta_one(beta, g, beta_):
    """Fill beta_ (free energies from each state of graph part ``g`` to a final state)."""
    node_order, out_ptr, dst, w, fw = g.node_order, g.out_ptr, g.dst, g.w, g.fw
    buf = np.empty(_max_degree(out_ptr))
    for i in range(node_order.shape[0] - 1, -1, -1):
        v = node_order[i]
        k0, count = out_ptr[i], out_ptr[i + 1] - out_ptr[i]
        m = _out_energies(buf, k0, count, dst, w, beta_, np.float64(fw[v]))
        if m == INF:
            beta_[v] = INF
            continue
        total = fast_exp(-beta * (fw[v] - m)) + _exp_in_place(buf, count, beta, m)
        beta_[v] = m - np.log(total) / beta


# ---------------------------------------------------------------------------- tropical semiring
@nb.njit(cache=True, inline="always")
def _viterbi_one(g, alpha, back):
    """Min-sum forward pass. back[v] is the sorted arc into v on its best partial path, or -1
    when the best is to start at v. Ties: starting at v beats arriving by an arc, then the arc
    with the lowest index (in the graph's own order) wins; among final states the lowest id.
    Returns (energy, best final state or -1 when there is no path)."""
    node_order = g.node_order
    out_ptr = g.out_ptr
    arc_order = g.arc_order
    is_sorted = g.is_sorted
    dst = g.dst
    w = g.w
    sw = g.sw
    fw = g.fw
    n = node_order.shape[0]
    for v in range(n):
        alpha[v] = sw[v]
        back[v] = -1
    for i in range(n):
        av = alpha[node_order[i]]
        if av == INF:
            continue
        for k in range(out_ptr[i], out_ptr[i + 1]):
            x = av + w[k]
            d = np.uint32(dst[k])
            if x <= alpha[d]:
                if x < alpha[d] or _arc_id(k, arc_order, is_sorted) < _arc_id(
                    back[d], arc_order, is_sorted
                ):
                    alpha[d] = x
                    back[d] = k
    best = INF
    node = -1
    for v in range(n):
        x = alpha[v] + fw[v]
        if x < best:
            best = x
            node = v
    return best, node


@kernel_helper
def _arc_id(k, arc_order, is_sorted):
    """The graph's own index of sorted arc k (-1 stays -1: 'started here')."""
    if k < 0 or is_sorted:
        return k
    return arc_order[k]


@batch_kernel
def viterbi_forward(plan, weights, alpha, back, energy, last):
    """energy[b] = minimum path energy of graph b, last[b] its final state (-1: no path)."""
    node_off = plan.node_off
    for b in nb.prange(node_off.shape[0] - 1):
        n0, n1 = node_off[b], node_off[b + 1]
        energy[b], last[b] = _viterbi_one(part(plan, weights, b), alpha[n0:n1], back[n0:n1])


@batch_kernel
def viterbi_paths(plan, back, arcs, length, first, last):
    """Graph b's best path as local arc ids (the graph's own order) in
    arcs[node_off[b] : node_off[b] + length[b]] (a path has fewer arcs than its graph has
    states); first[b] is its start state, or -1 when there is no path."""
    node_off = plan.node_off
    arc_off = plan.arc_off
    arc_order = plan.arc_order
    src = plan.src
    is_sorted = plan.sorted
    for b in nb.prange(node_off.shape[0] - 1):
        v = last[b]
        length[b] = 0
        first[b] = -1
        if v < 0:
            continue
        n0, a0 = node_off[b], arc_off[b]
        count = 0
        while back[n0 + v] >= 0:
            k = back[n0 + v]
            arcs[n0 + count] = _arc_id(k, arc_order[a0:], is_sorted[b])
            count += 1
            v = src[a0 + k]
        for j in range(count // 2):  # reverse in place (a slice copy compiles numba's error text)
            arcs[n0 + j], arcs[n0 + count - 1 - j] = arcs[n0 + count - 1 - j], arcs[n0 + j]
        length[b] = count
        first[b] = v


@batch_kernel
def viterbi_backward(gout, plan, back, last, garc, gsw, gfw):
    """Add gout[b] to the arcs (the graph's own order), start and final weight of graph b's best
    path; the caller zero-initialises the gradients."""
    node_off = plan.node_off
    arc_off = plan.arc_off
    arc_order = plan.arc_order
    src = plan.src
    is_sorted = plan.sorted
    for b in nb.prange(node_off.shape[0] - 1):
        v = last[b]
        if v < 0:
            continue
        n0, a0 = node_off[b], arc_off[b]
        gfw[n0 + v] += gout[b]
        while back[n0 + v] >= 0:
            k = back[n0 + v]
            garc[a0 + _arc_id(k, arc_order[a0:], is_sorted[b])] += gout[b]
            v = src[a0 + k]
        gsw[n0 + v] += gout[b]
