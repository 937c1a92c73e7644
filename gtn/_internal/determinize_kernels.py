"""numba kernel for determinize: the weighted subset construction (Mohri 1997) over an
epsilon-free acceptor, recording a weight tape (see ``_weight_tape``) for every output energy
and residual."""

from __future__ import annotations

import numba as nb
import numpy as np
from numba import types
from numba.typed import Dict

from ..semiring import splus
from .csr import csr
from .weight_tape import grow, tape_end_value, tape_new, tape_sum, tape_term, terms_new, terms_set

_KEY_LIMIT = 9.0e18  # quantised residuals are int64


@nb.njit(cache=True)
def _quantise(r, delta):
    q = np.floor(r / delta + 0.5)
    return np.int64(min(max(q, -_KEY_LIMIT), _KEY_LIMIT))


@nb.njit(cache=True)
def _hash(states, keys):
    h = np.int64(1469598103934665603)
    for i in range(states.shape[0]):
        h = (h ^ states[i]) * np.int64(1099511628211)
        h = (h ^ keys[i]) * np.int64(1099511628211)
    return h


@nb.njit(cache=True, inline="always")
def _find_subset(heads, h, next_same, sub_ptr, mem_state, mem_key, states, keys):
    """The subset with these member states and quantised residuals (hash h), or -1."""
    target = heads[h] if h in heads else -1
    while target >= 0:
        t0, t1 = sub_ptr[target], sub_ptr[target + 1]
        if t1 - t0 == states.shape[0]:
            same = True
            for k in range(states.shape[0]):
                if mem_state[t0 + k] != states[k] or mem_key[t0 + k] != keys[k]:
                    same = False
                    break
            if same:
                return target
        target = next_same[target]
    return -1


@nb.njit(cache=True)
def _append(ints0, floats, ints1, ints2, n, i0, f, i1, i2):
    """Write record n (int64, float64, int64, int64) of four parallel arrays, growing them as
    needed; returns the four arrays. Members and contributions are such records, in this order,
    so that one compilation serves both."""
    ints0 = grow(ints0, n)
    floats = grow(floats, n)
    ints1 = grow(ints1, n)
    ints2 = grow(ints2, n)
    ints0[n] = i0
    floats[n] = f
    ints1[n] = i1
    ints2[n] = i2
    return ints0, floats, ints1, ints2


@nb.njit(cache=True)
def _grow_rows(arr, n):
    """arr [R, C], or a copy with twice the rows when row n does not fit."""
    if n < arr.shape[0]:
        return arr
    out = np.empty((2 * arr.shape[0], arr.shape[1]), arr.dtype)
    for i in range(arr.shape[0]):  # loops: slice assignment compiles numba's error text
        for j in range(arr.shape[1]):
            out[i, j] = arr[i, j]
    return out


@nb.njit(cache=True)
def determinize_one(n, src, dst, label, x, code, beta, delta, max_states):
    """Subset construction for one epsilon-free acceptor.

    A subset is a list of (state, residual energy) sorted by state; two subsets are the same
    when their states match and their residuals agree after quantising by ``delta``.
    x: float64 [A + 2n] = (arc, start, final) energies, the tape's inputs.

    Returns (status, n_states, arcs, start, final, tape builder): arcs int64 [A', 4] has rows
    (src, dst, label, weight), where weight, start (scalar) and final [n_states] are V-indices
    (-1: +inf, i.e. not final); status is 0, or 1 if more than ``max_states`` subsets were
    needed.
    """
    a = src.shape[0]
    n_in = a + 2 * n
    ptr, by_src = csr(n, src, np.ones(a, np.bool_))
    tb = tape_new(n_in)
    terms = terms_new()

    # subsets: members sub_ptr[i]:sub_ptr[i+1] of (state, residual value, residual V-index)
    sub_ptr = np.zeros(16, np.int64)
    mem_state = np.empty(16, np.int64)
    mem_val = np.empty(16, np.float64)
    mem_slot = np.empty(16, np.int64)
    mem_key = np.empty(16, np.int64)
    n_sub = 0
    n_mem = 0
    heads = Dict.empty(key_type=types.int64, value_type=types.int64)
    next_same = np.empty(16, np.int64)

    arcs = np.empty((16, 4), np.int64)  # (src, dst, label, weight V-index)
    final = np.empty(16, np.int64)
    m = 0

    # the initial subset: start states with residual start(s) - w0, w0 = (+)_s start(s)
    n_starts = 0
    for s in range(n):
        if x[a + s] != np.inf:
            terms = terms_set(terms, n_starts, x[a + s], a + s, -1, -1)
            n_starts += 1
    tb, w0, start, t_best = tape_sum(tb, terms, n_starts, code, beta)
    if n_starts == 0:
        return 0, 0, arcs[:0], -1, final[:0], tb
    s_best = -1 if t_best < 0 else terms[1][t_best] - a  # the tropical argmin
    for s in range(n):
        sw = x[a + s]
        if sw == np.inf:
            continue
        val, slot = 0.0, -1  # residual identically 0 for a lone start or the argmin
        if not (n_starts == 1 or s == s_best):
            val = sw - w0
            tb = tape_term(tb, a + s, -1, start)
            tb, slot = tape_end_value(tb)
        mem_state, mem_val, mem_slot, mem_key = _append(
            mem_state, mem_val, mem_slot, mem_key, n_mem, s, val, slot, _quantise(val, delta)
        )
        n_mem += 1
    sub_ptr[1] = n_mem
    heads[_hash(mem_state[:n_mem], mem_key[:n_mem])] = 0
    next_same[0] = -1
    n_sub = 1

    # scratch for one subset's outgoing contributions (member, arc, value r + w)
    c_mem = np.empty(16, np.int64)
    c_arc = np.empty(16, np.int64)
    c_val = np.empty(16, np.float64)
    c_key = np.empty(16, np.int64)
    dst_first = np.empty(16, np.int64)  # start of each destination group within a label group
    cand_state = np.empty(16, np.int64)
    cand_val = np.empty(16, np.float64)
    cand_key = np.empty(16, np.int64)
    cand_zero = np.empty(16, np.int64)  # 1: residual identically 0

    i = 0
    while i < n_sub:
        m0, m1 = sub_ptr[i], sub_ptr[i + 1]
        # final energy: (+) over members of residual + final(q)
        t = 0
        for k in range(m0, m1):
            f = mem_val[k] + x[a + n + mem_state[k]]
            if f != np.inf:
                terms = terms_set(terms, t, f, mem_slot[k], a + n + mem_state[k], -1)
                t += 1
        final = grow(final, i)
        tb, _, final[i], _ = tape_sum(tb, terms, t, code, beta)

        # contributions, sorted by (label, destination), stable in member / arc order
        nc = 0
        for k in range(m0, m1):
            q = mem_state[k]
            for j in range(ptr[q], ptr[q + 1]):
                e = by_src[j]
                v = mem_val[k] + x[e]
                if v == np.inf:
                    continue
                c_mem, c_val, c_arc, c_key = _append(
                    c_mem, c_val, c_arc, c_key, nc, k, v, e, np.int64(label[e]) * n + dst[e]
                )
                nc += 1
        order = np.argsort(c_key[:nc], kind="mergesort")

        g0 = 0
        while g0 < nc:  # one label group: order[g0:g1]
            lab = label[c_arc[order[g0]]]
            g1 = g0
            while g1 < nc and label[c_arc[order[g1]]] == lab:
                c = order[g1]
                terms = terms_set(terms, g1 - g0, c_val[c], mem_slot[c_mem[c]], c_arc[c], -1)
                g1 += 1
            # w' = (+) over the group of residual + w: the output arc's energy
            tb, wp, w_slot, t_best = tape_sum(tb, terms, g1 - g0, code, beta)
            t_best = -1 if t_best < 0 else g0 + t_best

            # candidate subset: destination q' with residual ((+) of its contributions) - w'
            nd = 0
            g = g0
            while g < g1:
                d = dst[c_arc[order[g]]]
                dst_first = grow(dst_first, nd + 1)
                cand_state = grow(cand_state, nd)
                cand_val = grow(cand_val, nd)
                cand_key = grow(cand_key, nd)
                cand_zero = grow(cand_zero, nd)
                dst_first[nd] = g
                acc = np.inf
                holds_best = False
                while g < g1 and dst[c_arc[order[g]]] == d:
                    acc = splus(code, beta, acc, c_val[order[g]])
                    holds_best = holds_best or g == t_best
                    g += 1
                # a lone destination, or the tropical argmin's, has residual exactly 0
                zero = (dst_first[nd] == g0 and g == g1) or holds_best
                cand_state[nd] = d
                cand_zero[nd] = 1 if zero else 0
                cand_val[nd] = 0.0 if zero else acc - wp
                cand_key[nd] = _quantise(cand_val[nd], delta)
                nd += 1
            dst_first[nd] = g1

            h = _hash(cand_state[:nd], cand_key[:nd])
            target = _find_subset(
                heads, h, next_same, sub_ptr, mem_state, mem_key, cand_state[:nd], cand_key[:nd]
            )
            if target < 0:
                if n_sub >= max_states:
                    return 1, n_sub, arcs[:0], start, final, tb
                target = n_sub
                for k in range(nd):
                    slot = -1
                    if cand_zero[k] == 0:
                        # residual = (+) over contributions c of (r_c + w_c - w')
                        g0k = dst_first[k]
                        for g in range(g0k, dst_first[k + 1]):
                            c = order[g]
                            r = mem_slot[c_mem[c]]
                            terms = terms_set(terms, g - g0k, c_val[c], r, c_arc[c], w_slot)
                        nt = dst_first[k + 1] - g0k
                        tb, _, slot, _ = tape_sum(tb, terms, nt, code, beta)
                    mem_state, mem_val, mem_slot, mem_key = _append(
                        mem_state, mem_val, mem_slot, mem_key, n_mem,
                        cand_state[k], cand_val[k], slot, cand_key[k],
                    )  # fmt: skip
                    n_mem += 1
                sub_ptr = grow(sub_ptr, n_sub + 1)
                sub_ptr[n_sub + 1] = n_mem
                next_same = grow(next_same, n_sub)
                next_same[n_sub] = heads[h] if h in heads else -1
                heads[h] = n_sub
                n_sub += 1

            arcs = _grow_rows(arcs, m)
            arcs[m, 0], arcs[m, 1], arcs[m, 2], arcs[m, 3] = i, target, lab, w_slot
            m += 1
            g0 = g1
        i += 1

    return 0, n_sub, arcs[:m], start, final[:n_sub], tb
