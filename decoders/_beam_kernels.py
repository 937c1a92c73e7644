"""Token passing over emissions x a decoding graph (numba), never building their product.

A token is a (frame, graph state) pair with the lowest energy found so far of a partial path
reaching it and a back-pointer (previous token, graph arc). Tokens of frame t are contiguous
in the token arrays. Per frame: the epsilon closure in rank order (input-epsilon arcs consume no
frame), pruning (energy beam, then at most ``max_active`` tokens), then expansion of the
emitting arcs into frame t+1 with a running beam. Energies are float64, lower is better.

When ``record`` is set, every arc followed into a token within the beam is kept as a lattice
arc (source token, destination token, graph arc, energy). Each (token, arc) pair is followed at
most once, so the lattice has no duplicate arcs, and every back-pointer is among its arcs. The
kernel also gives the tokens in a topological order of those arcs: frame by frame, the tokens
whose epsilon arcs were followed, in the (rank) order they were, then the others, which are
the sources of no arc within the frame.
"""

from __future__ import annotations

import numba as nb
import numpy as np

INF = np.inf
# Counters start at this int64 rather than a literal 0: numba would type a helper's argument as
# Literal[int](0) on the first call and compile that helper a second time for it.
_ZERO = np.int64(0)


@nb.njit(cache=True)
def _grow(a, need):
    if need <= a.shape[0]:
        return a
    b = np.empty(max(need, 2 * a.shape[0]), a.dtype)
    for i in range(a.shape[0]):  # a loop: slice assignment compiles numba's error text
        b[i] = a[i]
    return b


@nb.njit(cache=True)
def kth_smallest(x, n, k):
    """The k-th smallest (0-based) of x[:n], reordering x[:n] (Hoare's selection; np.partition
    would cost seconds of compilation on the first decode)."""
    lo, hi = 0, n - 1
    while lo < hi:
        pivot = x[(lo + hi) // 2]
        i, j = lo, hi
        while i <= j:
            while x[i] < pivot:
                i += 1
            while x[j] > pivot:
                j -= 1
            if i <= j:
                x[i], x[j] = x[j], x[i]
                i += 1
                j -= 1
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return x[k]
    return x[k]


@nb.njit(cache=True, inline="always")
def _relax(d, nc, i, arc, ntok, state_tok, tok_state, tok_cost, back_tok, back_arc):
    """Offer energy ``nc`` to state ``d`` of the current frame, reached from token ``i`` by
    graph ``arc``: create its token or lower its energy. Returns the (possibly grown) token
    arrays, the token count and the token of ``d``."""
    j = state_tok[d]
    if j < 0:
        if ntok == tok_state.shape[0]:
            tok_state = _grow(tok_state, ntok + 1)
            tok_cost = _grow(tok_cost, ntok + 1)
            back_tok = _grow(back_tok, ntok + 1)
            back_arc = _grow(back_arc, ntok + 1)
        j = ntok
        ntok += 1
        tok_state[j] = d
        tok_cost[j] = nc
        back_tok[j] = i
        back_arc[j] = arc
        state_tok[d] = j
    elif nc < tok_cost[j]:
        tok_cost[j] = nc
        back_tok[j] = i
        back_arc[j] = arc
    return tok_state, tok_cost, back_tok, back_arc, ntok, j


@nb.njit(cache=True, inline="always")
def _record(i, j, arc, w, narc, lat_src, lat_dst, lat_arc, lat_w):
    """Append the lattice arc (token i -> token j, graph arc, energy w)."""
    if narc == lat_src.shape[0]:
        lat_src = _grow(lat_src, narc + 1)
        lat_dst = _grow(lat_dst, narc + 1)
        lat_arc = _grow(lat_arc, narc + 1)
        lat_w = _grow(lat_w, narc + 1)
    lat_src[narc] = i
    lat_dst[narc] = j
    lat_arc[narc] = arc
    lat_w[narc] = w
    return lat_src, lat_dst, lat_arc, lat_w, narc + 1


@nb.njit(cache=True)
def _heap_push(heap, size, key):
    """Min-heap of int64 keys in heap[:size]; returns the new size."""
    i = size
    heap[i] = key
    while i > 0:
        parent = (i - 1) // 2
        if heap[parent] <= heap[i]:
            break
        heap[parent], heap[i] = heap[i], heap[parent]
        i = parent
    return size + 1


@nb.njit(cache=True)
def _heap_pop(heap, size):
    """(smallest key, new size)."""
    top = heap[0]
    size -= 1
    heap[0] = heap[size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and heap[left + 1] < heap[left]:
            child = left + 1
        if heap[i] <= heap[child]:
            break
        heap[i], heap[child] = heap[child], heap[i]
        i = child
    return top, size


@nb.njit(cache=True)
def beam_search(
    emissions,
    emit_ptr,
    emit_dst,
    emit_label,
    emit_arc,
    emit_weight,
    eps_ptr,
    eps_dst,
    eps_arc,
    eps_weight,
    eps_rank,
    rank_state,
    start_weight,
    final_weight,
    beam,
    max_active,
    record,
):
    """Decode one utterance.

    Args:
        emissions: float64 [T, V] per-frame label energies.
        (graph arrays): see ``decoders.search_layout.SearchGraph``.
        beam: energy beam (inf for none); max_active: tokens kept per frame (>= 1).
        record: keep lattice arcs.

    Returns:
        tok_state int64 [K], tok_cost float64 [K]; frame_off int64 [T+2] (tokens of frame t
        are frame_off[t]:frame_off[t+1]); order int64 [K] (topological); active int64 [T+1]
        (tokens kept per frame); lattice arcs: src token, dst token, graph arc (int64 [M]) and
        energy (float64 [M]); the best final token (-1 if none) and its energy (inf if none);
        the best path's graph arcs int64 [L] and their source tokens int64 [L].
    """
    num_frames = emissions.shape[0]
    n = start_weight.shape[0]
    cap = 1024
    tok_state = np.empty(cap, np.int64)
    tok_cost = np.empty(cap, np.float64)
    back_tok = np.empty(cap, np.int64)
    back_arc = np.empty(cap, np.int64)
    lat_cap = 4096 if record else 1
    lat_src = np.empty(lat_cap, np.int64)
    lat_dst = np.empty(lat_cap, np.int64)
    lat_arc = np.empty(lat_cap, np.int64)
    lat_w = np.empty(lat_cap, np.float64)
    narc = _ZERO
    state_tok = np.full(n, -1, np.int64)
    queued = np.zeros(n, np.bool_)
    heap = np.empty(n, np.int64)
    popped = np.zeros(n, np.bool_)
    pops = np.empty(n, np.int64)
    order = np.empty(cap, np.int64)
    frame_off = np.zeros(num_frames + 2, np.int64)
    active = np.zeros(num_frames + 1, np.int64)
    scratch = np.empty(cap, np.float64)

    ntok = _ZERO
    for s in range(n):
        if start_weight[s] < INF:
            if ntok == tok_state.shape[0]:
                tok_state = _grow(tok_state, ntok + 1)
                tok_cost = _grow(tok_cost, ntok + 1)
                back_tok = _grow(back_tok, ntok + 1)
                back_arc = _grow(back_arc, ntok + 1)
            tok_state[ntok] = s
            tok_cost[ntok] = start_weight[s]
            back_tok[ntok] = -1
            back_arc[ntok] = -1
            state_tok[s] = ntok
            ntok += 1

    for t in range(num_frames + 1):
        f0 = frame_off[t]
        best = INF
        for i in range(f0, ntok):
            if tok_cost[i] < best:
                best = tok_cost[i]
        cutoff = best + beam

        # Epsilon closure: states leave the heap in rank order, so each is expanded once, with
        # its final energy for this frame (its epsilon predecessors all have lower ranks).
        size = _ZERO
        npop = _ZERO
        for i in range(f0, ntok):
            s = tok_state[i]
            if eps_ptr[s] < eps_ptr[s + 1] and tok_cost[i] <= cutoff:
                size = _heap_push(heap, size, eps_rank[s])
                queued[s] = True
        while size > 0:
            r, size = _heap_pop(heap, size)
            s = rank_state[r]
            queued[s] = False
            i = state_tok[s]
            c = tok_cost[i]
            if c > cutoff:
                continue
            popped[s] = True
            pops[npop] = i
            npop += 1
            for k in range(eps_ptr[s], eps_ptr[s + 1]):
                nc = c + eps_weight[k]
                if nc == INF or nc > cutoff:
                    continue
                d = eps_dst[k]
                tok_state, tok_cost, back_tok, back_arc, ntok, j = _relax(
                    d, nc, i, eps_arc[k], ntok, state_tok, tok_state, tok_cost, back_tok, back_arc
                )
                if eps_ptr[d] < eps_ptr[d + 1] and not queued[d]:
                    size = _heap_push(heap, size, eps_rank[d])
                    queued[d] = True
                if record:
                    lat_src, lat_dst, lat_arc, lat_w, narc = _record(
                        i, j, eps_arc[k], eps_weight[k], narc, lat_src, lat_dst, lat_arc, lat_w
                    )
                if nc < best:
                    best = nc
                    cutoff = best + beam
        f1 = ntok
        frame_off[t + 1] = f1
        order = _grow(order, f1)
        for p in range(npop):
            order[f0 + p] = pops[p]
        p = f0 + npop
        for i in range(f0, f1):
            if popped[tok_state[i]]:
                popped[tok_state[i]] = False
            else:
                order[p] = i
                p += 1
        if t == num_frames:
            break

        # Pruning: the beam, then the max_active lowest energies (ties may keep a few more).
        alive = _ZERO
        if f1 - f0 > scratch.shape[0]:
            scratch = np.empty(2 * (f1 - f0), np.float64)
        for i in range(f0, f1):
            if tok_cost[i] <= cutoff:
                scratch[alive] = tok_cost[i]
                alive += 1
        if alive > max_active:
            cutoff = kth_smallest(scratch, alive, max_active - 1)
            alive = _ZERO
            for i in range(f0, f1):
                if tok_cost[i] <= cutoff:
                    alive += 1
        active[t] = alive
        for i in range(f0, f1):
            state_tok[tok_state[i]] = -1

        # Expansion into frame t+1. The best token goes first so the running beam starts tight.
        next_best = INF
        for i in range(f0, f1):
            if tok_cost[i] == best:
                s = tok_state[i]
                for k in range(emit_ptr[s], emit_ptr[s + 1]):
                    nc = best + emit_weight[k] + emissions[t, emit_label[k]]
                    if nc < next_best:
                        next_best = nc
                break
        next_cut = next_best + beam
        row = emissions[t]
        for i in range(f0, f1):
            c = tok_cost[i]
            if c > cutoff:
                continue
            s = tok_state[i]
            for k in range(emit_ptr[s], emit_ptr[s + 1]):
                w = emit_weight[k] + row[emit_label[k]]
                nc = c + w
                if nc == INF or nc > next_cut:
                    continue
                d = emit_dst[k]
                tok_state, tok_cost, back_tok, back_arc, ntok, j = _relax(
                    d, nc, i, emit_arc[k], ntok, state_tok, tok_state, tok_cost, back_tok, back_arc
                )
                if record:
                    lat_src, lat_dst, lat_arc, lat_w, narc = _record(
                        i, j, emit_arc[k], w, narc, lat_src, lat_dst, lat_arc, lat_w
                    )
                if nc < next_best:
                    next_best = nc
                    next_cut = next_best + beam

    best_tok = -1
    best_energy = INF
    f0 = frame_off[num_frames]
    for i in range(f0, frame_off[num_frames + 1]):
        e = tok_cost[i] + final_weight[tok_state[i]]
        if e < best_energy:
            best_energy = e
            best_tok = i
    active[num_frames] = frame_off[num_frames + 1] - f0

    length = 0
    i = best_tok
    while i >= 0 and back_tok[i] >= 0:
        length += 1
        i = back_tok[i]
    path_arc = np.empty(length, np.int64)
    path_tok = np.empty(length, np.int64)
    i = best_tok
    for p in range(length - 1, -1, -1):
        path_arc[p] = back_arc[i]
        path_tok[p] = back_tok[i]
        i = back_tok[i]
    return (
        tok_state[:ntok].copy(),
        tok_cost[:ntok].copy(),
        frame_off,
        order[:ntok].copy(),
        active,
        lat_src[:narc].copy(),
        lat_dst[:narc].copy(),
        lat_arc[:narc].copy(),
        lat_w[:narc].copy(),
        best_tok,
        best_energy,
        path_arc,
        path_tok,
    )
