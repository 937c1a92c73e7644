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

from typing import NamedTuple

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


class Options(NamedTuple):
    beam: float  # energy beam (inf for none)
    max_active: int  # tokens kept per frame (>= 1)
    record: bool  # keep lattice arcs


class Tokens(NamedTuple):
    """Token arrays, grown as needed (only the first ``ntok`` entries are tokens)."""

    state: np.ndarray  # int64: graph state
    cost: np.ndarray  # float64: lowest energy of a partial path reaching it
    back_tok: np.ndarray  # int64: previous token (-1: a start token)
    back_arc: np.ndarray  # int64: graph arc from it (-1: a start token)


class LatticeArcs(NamedTuple):
    """Recorded lattice arcs, grown as needed (only the first ``narc`` entries are arcs)."""

    src: np.ndarray  # int64: source token
    dst: np.ndarray  # int64: destination token
    arc: np.ndarray  # int64: graph arc
    w: np.ndarray  # float64: energy


class Scratch(NamedTuple):
    """Per-state working arrays [N] of one frame."""

    state_tok: np.ndarray  # int64: the state's token in the current frame, or -1
    queued: np.ndarray  # bool: in the epsilon heap
    heap: np.ndarray  # int64: epsilon ranks
    popped: np.ndarray  # bool: expanded by the epsilon closure
    pops: np.ndarray  # int64: the tokens the closure expanded, in order


@nb.njit(cache=True)
def _grow_tokens(tok, need):
    if need <= tok.state.shape[0]:
        return tok
    return Tokens(
        _grow(tok.state, need), _grow(tok.cost, need), _grow(tok.back_tok, need),
        _grow(tok.back_arc, need),
    )  # fmt: skip


@nb.njit(cache=True, inline="always")
def _relax(tok, ntok, state_tok, d, nc, i, arc):
    """Offer energy ``nc`` to state ``d`` of the current frame, reached from token ``i`` by
    graph ``arc``: create its token or lower its energy. Returns the (possibly grown) tokens,
    the token count and the token of ``d``."""
    j = state_tok[d]
    if j < 0:
        tok = _grow_tokens(tok, ntok + 1)
        j = ntok
        ntok += 1
        tok.state[j] = d
        tok.cost[j] = nc
        tok.back_tok[j] = i
        tok.back_arc[j] = arc
        state_tok[d] = j
    elif nc < tok.cost[j]:
        tok.cost[j] = nc
        tok.back_tok[j] = i
        tok.back_arc[j] = arc
    return tok, ntok, j


@nb.njit(cache=True, inline="always")
def _record(lat, narc, i, j, arc, w):
    """Append the lattice arc (token i -> token j, graph arc, energy w)."""
    if narc == lat.src.shape[0]:
        lat = LatticeArcs(
            _grow(lat.src, narc + 1), _grow(lat.dst, narc + 1), _grow(lat.arc, narc + 1),
            _grow(lat.w, narc + 1),
        )  # fmt: skip
    lat.src[narc] = i
    lat.dst[narc] = j
    lat.arc[narc] = arc
    lat.w[narc] = w
    return lat, narc + 1


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


@nb.njit(cache=True, inline="always")
def _closure(g, opt, tok, ntok, f0, best, scratch, lat, narc):
    """Epsilon closure of the frame whose tokens start at f0. States leave the heap in rank
    order, so each is expanded once, with its final energy for this frame (its epsilon
    predecessors all have lower ranks). Returns (tok, ntok, lat, narc, number of expanded
    tokens (listed in scratch.pops), the frame's best energy)."""
    state_tok, queued, heap, popped, pops = scratch
    cutoff = best + opt.beam
    size = _ZERO
    npop = _ZERO
    for i in range(f0, ntok):
        s = tok.state[i]
        if g.eps_ptr[s] < g.eps_ptr[s + 1] and tok.cost[i] <= cutoff:
            size = _heap_push(heap, size, g.eps_rank[s])
            queued[s] = True
    while size > 0:
        r, size = _heap_pop(heap, size)
        s = g.rank_state[r]
        queued[s] = False
        i = state_tok[s]
        c = tok.cost[i]
        if c > cutoff:
            continue
        popped[s] = True
        pops[npop] = i
        npop += 1
        for k in range(g.eps_ptr[s], g.eps_ptr[s + 1]):
            nc = c + g.eps_weight[k]
            if nc == INF or nc > cutoff:
                continue
            d = g.eps_dst[k]
            tok, ntok, j = _relax(tok, ntok, state_tok, d, nc, i, g.eps_arc[k])
            if g.eps_ptr[d] < g.eps_ptr[d + 1] and not queued[d]:
                size = _heap_push(heap, size, g.eps_rank[d])
                queued[d] = True
            if opt.record:
                lat, narc = _record(lat, narc, i, j, g.eps_arc[k], g.eps_weight[k])
            if nc < best:
                best = nc
                cutoff = best + opt.beam
    return tok, ntok, lat, narc, npop, best


@nb.njit(cache=True, inline="always")
def _frame_order(tok, f0, f1, npop, scratch, order):
    """order[f0:f1]: the frame's tokens in a topological order of its epsilon arcs (those
    the closure expanded, in its order, then the others); returns order, grown if needed."""
    order = _grow(order, f1)
    for p in range(npop):
        order[f0 + p] = scratch.pops[p]
    p = f0 + npop
    for i in range(f0, f1):
        s = tok.state[i]
        if scratch.popped[s]:
            scratch.popped[s] = False
        else:
            order[p] = i
            p += 1
    return order


@nb.njit(cache=True, inline="always")
def _prune(cost, f0, f1, cutoff, max_active, buf):
    """The beam, then the max_active lowest energies (ties may keep a few more). Returns
    (energy cutoff, tokens kept, buf (grown if needed))."""
    alive = _ZERO
    if f1 - f0 > buf.shape[0]:
        buf = np.empty(2 * (f1 - f0), np.float64)
    for i in range(f0, f1):
        if cost[i] <= cutoff:
            buf[alive] = cost[i]
            alive += 1
    if alive > max_active:
        cutoff = kth_smallest(buf, alive, max_active - 1)
        alive = _ZERO
        for i in range(f0, f1):
            if cost[i] <= cutoff:
                alive += 1
    return cutoff, alive, buf


@nb.njit(cache=True, inline="always")
def _expand(g, row, opt, tok, ntok, f0, f1, cutoff, best, state_tok, lat, narc):
    """Follow the emitting arcs of the frame's kept tokens (energy <= cutoff) into the next
    frame, consuming emission energies ``row``, with a running beam. The best token goes first
    so that the beam starts tight. Returns (tok, ntok, lat, narc)."""
    next_best = INF
    for i in range(f0, f1):
        if tok.cost[i] == best:
            s = tok.state[i]
            for k in range(g.emit_ptr[s], g.emit_ptr[s + 1]):
                nc = best + g.emit_weight[k] + row[g.emit_label[k]]
                if nc < next_best:
                    next_best = nc
            break
    next_cut = next_best + opt.beam
    for i in range(f0, f1):
        c = tok.cost[i]
        if c > cutoff:
            continue
        s = tok.state[i]
        for k in range(g.emit_ptr[s], g.emit_ptr[s + 1]):
            w = g.emit_weight[k] + row[g.emit_label[k]]
            nc = c + w
            if nc == INF or nc > next_cut:
                continue
            tok, ntok, j = _relax(tok, ntok, state_tok, g.emit_dst[k], nc, i, g.emit_arc[k])
            if opt.record:
                lat, narc = _record(lat, narc, i, j, g.emit_arc[k], w)
            if nc < next_best:
                next_best = nc
                next_cut = next_best + opt.beam
    return tok, ntok, lat, narc


@nb.njit(cache=True, inline="always")
def _best_final(g, tok, f0, f1):
    """(the lowest-energy final token among f0:f1 or -1, its energy with the final weight)."""
    best_tok = -1
    best_energy = INF
    for i in range(f0, f1):
        e = tok.cost[i] + g.final_weight[tok.state[i]]
        if e < best_energy:
            best_energy = e
            best_tok = i
    return best_tok, best_energy


@nb.njit(cache=True, inline="always")
def _traceback(tok, last):
    """(graph arcs, their source tokens) of the path ending at token ``last`` (-1: none)."""
    length = 0
    i = last
    while i >= 0 and tok.back_tok[i] >= 0:
        length += 1
        i = tok.back_tok[i]
    path_arc = np.empty(length, np.int64)
    path_tok = np.empty(length, np.int64)
    i = last
    for p in range(length - 1, -1, -1):
        path_arc[p] = tok.back_arc[i]
        path_tok[p] = tok.back_tok[i]
        i = tok.back_tok[i]
    return path_arc, path_tok


# The stages above are called from here only: inlined, they compile as part of this one kernel
# rather than each on its own (with the named tuples boxed between them).
@nb.njit(cache=True)
def beam_search(emissions, g, opt):
    """Decode one utterance.

    Args:
        emissions: float64 [T, V] per-frame label energies.
        g: the decoding graph (:class:`DecodingGraph`).
        opt: :class:`Options` (beam, max_active, record).

    Returns:
        tok_state int64 [K], tok_cost float64 [K]; frame_off int64 [T+2] (tokens of frame t
        are frame_off[t]:frame_off[t+1]); order int64 [K] (topological); active int64 [T+1]
        (tokens kept per frame); lattice arcs: src token, dst token, graph arc (int64 [M]) and
        energy (float64 [M]); the best final token (-1 if none) and its energy (inf if none);
        the best path's graph arcs int64 [L] and their source tokens int64 [L].
    """
    num_frames = emissions.shape[0]
    n = g.start_weight.shape[0]
    cap = 1024
    tok = Tokens(
        np.empty(cap, np.int64), np.empty(cap, np.float64), np.empty(cap, np.int64),
        np.empty(cap, np.int64),
    )  # fmt: skip
    lat_cap = 4096 if opt.record else 1
    lat = LatticeArcs(
        np.empty(lat_cap, np.int64), np.empty(lat_cap, np.int64), np.empty(lat_cap, np.int64),
        np.empty(lat_cap, np.float64),
    )  # fmt: skip
    narc = _ZERO
    scratch = Scratch(
        np.full(n, -1, np.int64), np.zeros(n, np.bool_), np.empty(n, np.int64),
        np.zeros(n, np.bool_), np.empty(n, np.int64),
    )  # fmt: skip
    order = np.empty(cap, np.int64)
    frame_off = np.zeros(num_frames + 2, np.int64)
    active = np.zeros(num_frames + 1, np.int64)
    buf = np.empty(cap, np.float64)

    ntok = _ZERO
    for s in range(n):
        if g.start_weight[s] < INF:
            tok, ntok, _ = _relax(tok, ntok, scratch.state_tok, s, g.start_weight[s], -1, -1)
    for t in range(num_frames + 1):
        f0 = frame_off[t]
        best = INF
        for i in range(f0, ntok):
            best = min(best, tok.cost[i])
        tok, ntok, lat, narc, npop, best = _closure(g, opt, tok, ntok, f0, best, scratch, lat, narc)
        f1 = ntok
        frame_off[t + 1] = f1
        order = _frame_order(tok, f0, f1, npop, scratch, order)
        if t == num_frames:
            break
        cutoff, active[t], buf = _prune(tok.cost, f0, f1, best + opt.beam, opt.max_active, buf)
        for i in range(f0, f1):
            scratch.state_tok[tok.state[i]] = -1
        tok, ntok, lat, narc = _expand(
            g, emissions[t], opt, tok, ntok, f0, f1, cutoff, best, scratch.state_tok, lat, narc
        )

    f0, f1 = frame_off[num_frames], frame_off[num_frames + 1]
    best_tok, best_energy = _best_final(g, tok, f0, f1)
    active[num_frames] = f1 - f0
    path_arc, path_tok = _traceback(tok, best_tok)
    return (
        tok.state[:ntok].copy(),
        tok.cost[:ntok].copy(),
        frame_off,
        order[:ntok].copy(),
        active,
        lat.src[:narc].copy(),
        lat.dst[:narc].copy(),
        lat.arc[:narc].copy(),
        lat.w[:narc].copy(),
        best_tok,
        best_energy,
        path_arc,
        path_tok,
    )
