"""numba kernels for remove_epsilon: epsilon-cycle detection and the closure construction, which
records a weight tape (see ``_weight_tape``) for the closure distances."""

from __future__ import annotations

import numba as nb
import numpy as np

from .csr import csr
from .weight_tape import grow, tape_new, tape_sum, terms_new, terms_set


@nb.njit(cache=True)
def remove_epsilon_one(n, src, dst, ilabel, olabel, x, rank, code, beta):
    """Closure construction for one epsilon-acyclic graph.

    x: float64 [A + 2n] = (arc, start, final) energies, also the tape's inputs.
    For each node p and each q in its epsilon closure, with distance d(p, q) = (+) over epsilon
    paths p -> q, every non-epsilon arc q -> r becomes an arc p -> r of energy d(p, q) + w, and
    p's final energy is (+)_q d(p, q) + final(q). Returns (src, dst, ilabel, olabel, weight_a,
    weight_b, final, tape builder): output arc energy is V[weight_a] + V[weight_b] and final
    energy is V[final] (V-indices into cat(inputs, tape values), -1 = 0 resp. +inf).
    """
    a = src.shape[0]
    is_eps = (ilabel == -1) & (olabel == -1)
    eps_in_ptr, eps_in = csr(n, dst, is_eps)
    eps_out_ptr, eps_out = csr(n, src, is_eps)
    out_ptr, out_arcs = csr(n, src, ~is_eps)
    tb = tape_new(a + 2 * n)
    terms = terms_new()

    stamp = np.full(n, -1, np.int64)
    dist = np.zeros(n, np.float64)
    slot = np.zeros(n, np.int64)  # V-index of d(p, q); -1 is the constant 0 (q == p)
    reach = np.empty(n, np.int64)
    stack = np.empty(n, np.int64)

    m = 0
    o_src = np.empty(16, np.int64)
    o_arc = np.empty(16, np.int64)
    o_wb = np.empty(16, np.int64)
    final = np.full(n, -1, np.int64)

    for p in range(n):
        # epsilon closure of p, in epsilon-topological order
        stamp[p] = p
        stack[0] = p
        top = 1
        k = 0
        while top > 0:
            top -= 1
            q = stack[top]
            reach[k] = q
            k += 1
            for j in range(eps_out_ptr[q], eps_out_ptr[q + 1]):
                r = dst[eps_out[j]]
                if stamp[r] != p:
                    stamp[r] = p
                    stack[top] = r
                    top += 1
        order = reach[:k][np.argsort(rank[reach[:k]])]

        dist[p] = 0.0
        slot[p] = -1
        for i in range(1, k):  # order[0] == p: it has the lowest rank in its closure
            q = order[i]
            # d(p, q) = (+) over epsilon arcs e: u -> q in the closure of d(p, u) + w_e
            t = 0
            for j in range(eps_in_ptr[q], eps_in_ptr[q + 1]):
                e = eps_in[j]
                u = src[e]
                s = dist[u] + x[e]
                if stamp[u] == p and s != np.inf:
                    terms = terms_set(terms, t, s, slot[u], e, -1)
                    t += 1
            # +inf when no epsilon path reaches q; then slot[q] is never read
            tb, dist[q], slot[q], _ = tape_sum(tb, terms, t, code, beta)

        t = 0
        for i in range(k):
            q = order[i]
            fq = x[a + n + q]
            if dist[q] == np.inf:
                continue
            for j in range(out_ptr[q], out_ptr[q + 1]):
                o_src = grow(o_src, m)
                o_arc = grow(o_arc, m)
                o_wb = grow(o_wb, m)
                o_src[m] = p
                o_arc[m] = out_arcs[j]
                o_wb[m] = slot[q]
                m += 1
            if dist[q] + fq != np.inf:
                terms = terms_set(terms, t, dist[q] + fq, slot[q], a + n + q, -1)
                t += 1
        tb, _, final[p], _ = tape_sum(tb, terms, t, code, beta)

    arcs = o_arc[:m]
    return (
        o_src[:m].copy(),
        dst[arcs],
        ilabel[arcs],
        olabel[arcs],
        arcs.copy(),
        o_wb[:m].copy(),
        final,
        tb,
    )
