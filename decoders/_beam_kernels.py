"""Token passing over emissions x a decoding graph (numba), never building their product.

A token is a (frame, graph state) pair with the lowest energy found so far of a partial path
reaching it and a back-pointer (previous token, graph arc). Tokens of frame t are contiguous
in the token arrays. Per frame: the epsilon closure in rank order (input-epsilon arcs consume no
frame), pruning (energy beam, then at most ``max_active`` tokens), then expansion of the
emitting arcs into frame t+1 with a running beam. Energies are float64.

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

from gtn.utils import kernel_helper

from .search_layout import ARC, DST, EMIT, EPS, LABEL, RANK, STATE

INF = np.inf
# Counters start at this int64 rather than a literal 0: numba would type a helper's argument as
# Literal[int](0) on the first call and compile that helper a second time for it.
_ZERO = np.int64(0)


@kernel_helper
def _grow(a, need):
    if need <= a.shape[0]:
        return a
    b = np.empty(max(need, 2 * a.shape[0]), a.dtype)
    for i in range(a.shape[0]):  # a loop: slice assignment compiles numba's error text
        b[i] = a[i]
    return b


@kernel_helper
def _grow_rows(a, need):
    """An int64 2-D block with at least ``need`` columns (doubling), a's columns copied."""
    if need <= a.shape[1]:
        return a
    b = np.empty((a.shape[0], max(need, 2 * a.shape[1])), np.int64)
    for r in range(a.shape[0]):
        for i in range(a.shape[1]):
            b[r, i] = a[r, i]
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


# Row names of the int64 blocks below. (A few 2-D blocks rather than one array per field: each
# array the kernel holds in a structure costs compilation time.)
TOK_STATE, BACK_TOK, BACK_ARC = 0, 1, 2  # Tokens.links
SRC, DST_TOK, GRAPH_ARC = 0, 1, 2  # LatticeArcs.ends
STATE_TOK, HEAP, POPS = 0, 1, 2  # Scratch.ints
QUEUED, POPPED = 0, 1  # Scratch.flags


class Tokens(NamedTuple):
    """Token arrays, grown as needed (only the first ``ntok`` entries are tokens; a start
    token's previous token and arc are -1)."""

    links: np.ndarray  # int64 [3, capacity]: graph state, previous token, graph arc from it
    cost: np.ndarray  # float64 [capacity]: lowest energy of a partial path reaching it


class LatticeArcs(NamedTuple):
    """Recorded lattice arcs, grown as needed (only the first ``narc`` entries are arcs)."""

    ends: np.ndarray  # int64 [3, capacity]: source token, destination token, graph arc
    w: np.ndarray  # float64 [capacity]: energy


class Scratch(NamedTuple):
    """Per-state working arrays of one frame: ints, the state's token this frame (or -1), the
    epsilon heap of ranks, the tokens the closure expanded (in order); flags, in the epsilon
    heap, expanded by the closure."""

    ints: np.ndarray  # int64 [3, N]
    flags: np.ndarray  # bool [2, N]


@nb.njit(cache=True, inline="always")
def _relax(tok, ntok, state_tok, d, nc, i, arc):
    """Offer energy ``nc`` to state ``d`` of the current frame, reached from token ``i`` by
    graph ``arc``: create its token or lower its energy (state_tok: Scratch.ints). Returns the
    (possibly grown) tokens, the token count and the token of ``d``."""
    j = state_tok[STATE_TOK, d]
    if j < 0:
        if ntok == tok.cost.shape[0]:
            tok = Tokens(_grow_rows(tok.links, ntok + 1), _grow(tok.cost, ntok + 1))
        j = ntok
        ntok += 1
        tok.links[TOK_STATE, j] = d
        tok.cost[j] = nc
        tok.links[BACK_TOK, j] = i
        tok.links[BACK_ARC, j] = arc
        state_tok[STATE_TOK, d] = j
    elif nc < tok.cost[j]:
        tok.cost[j] = nc
        tok.links[BACK_TOK, j] = i
        tok.links[BACK_ARC, j] = arc
    return tok, ntok, j


@nb.njit(cache=True, inline="always")
def _record(lat, narc, i, j, arc, w):
    """Append the lattice arc (token i -> token j, graph arc, energy w)."""
    if narc == lat.w.shape[0]:
        lat = LatticeArcs(_grow_rows(lat.ends, narc + 1), _grow(lat.w, narc + 1))
    lat.ends[SRC, narc] = i
    lat.ends[DST_TOK, narc] = j
    lat.ends[GRAPH_ARC, narc] = arc
    lat.w[narc] = w
    return lat, narc + 1


@kernel_helper
def _heap_push(heap, size, key):
    """Min-heap of int64 keys in heap[HEAP, :size] (heap: Scratch.ints); returns the new size."""
    i = size
    heap[HEAP, i] = key
    while i > 0:
        parent = (i - 1) // 2
        if heap[HEAP, parent] <= heap[HEAP, i]:
            break
        heap[HEAP, parent], heap[HEAP, i] = heap[HEAP, i], heap[HEAP, parent]
        i = parent
    return size + 1


@kernel_helper
def _heap_pop(heap, size):
    """(smallest key, new size)."""
    top = heap[HEAP, 0]
    size -= 1
    heap[HEAP, 0] = heap[HEAP, size]
    i = 0
    while True:
        left = 2 * i + 1
        if left >= size:
            break
        child = left
        if left + 1 < size and heap[HEAP, left + 1] < heap[HEAP, left]:
            child = left + 1
        if heap[HEAP, i] <= heap[HEAP, child]:
            break
        heap[HEAP, i], heap[HEAP, child] = heap[HEAP, child], heap[HEAP, i]
        i = child
    return top, size


@nb.njit(cache=True, inline="always")
def _closure(g, opt, tok, ntok, f0, best, scratch, lat, narc):
    """Epsilon closure of the frame whose tokens start at f0. States leave the heap in rank
    order, so each is expanded once, with its final energy for this frame (its epsilon
    predecessors all have lower ranks). Returns (tok, ntok, lat, narc, number of expanded
    tokens (listed in scratch.ints[POPS]), the frame's best energy)."""
    ints = scratch.ints
    flags = scratch.flags
    ptr = g.ptr
    cutoff = best + opt.beam
    size = _ZERO
    npop = _ZERO
    for i in range(f0, ntok):
        s = tok.links[TOK_STATE, i]
        if ptr[EPS, s] < ptr[EPS, s + 1] and tok.cost[i] <= cutoff:
            size = _heap_push(ints, size, g.rank[RANK, s])
            flags[QUEUED, s] = True
    while size > 0:
        r, size = _heap_pop(ints, size)
        s = g.rank[STATE, r]
        flags[QUEUED, s] = False
        i = ints[STATE_TOK, s]
        c = tok.cost[i]
        if c > cutoff:
            continue
        flags[POPPED, s] = True
        ints[POPS, npop] = i
        npop += 1
        for k in range(ptr[EPS, s], ptr[EPS, s + 1]):
            nc = c + g.eps_weight[k]
            if nc == INF or nc > cutoff:
                continue
            d = g.eps[DST, k]
            arc = g.eps[ARC, k]
            tok, ntok, j = _relax(tok, ntok, ints, d, nc, i, arc)
            if ptr[EPS, d] < ptr[EPS, d + 1] and not flags[QUEUED, d]:
                size = _heap_push(ints, size, g.rank[RANK, d])
                flags[QUEUED, d] = True
            if opt.record:
                lat, narc = _record(lat, narc, i, j, arc, g.eps_weight[k])
            if nc < best:
                best = nc
                cutoff = best + opt.beam
    return tok, ntok, lat, narc, npop, best


@nb.njit(cache=True, inline="always")
def _frame_order(tok, f0, f1, npop, scratch, order):
    """order[f0:f1]: the frame's tokens in a topological order of its epsilon arcs (those
    the closure expanded, in its order, then the others); returns order, grown if needed."""
    order = _grow(order, f1)
    flags = scratch.flags
    for p in range(npop):
        order[f0 + p] = scratch.ints[POPS, p]
    p = f0 + npop
    for i in range(f0, f1):
        s = tok.links[TOK_STATE, i]
        if flags[POPPED, s]:
            flags[POPPED, s] = False
        else:
            order[p] = i
            p += 1
    return order


@nb.njit(cache=True, inline="always")
def _prune(cost, f0, f1, cutoff, max_active, buf):
    """The beam, then the max_active lowest energies (ties may keep a few more). Returns
    (energy cutoff, tokens kept, buf (grown if needed))."""
    alive = _ZERO
    buf = _grow(buf, f1 - f0)
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
    ptr = g.ptr
    emit = g.emit
    next_best = INF
    for i in range(f0, f1):
        if tok.cost[i] == best:
            s = tok.links[TOK_STATE, i]
            for k in range(ptr[EMIT, s], ptr[EMIT, s + 1]):
                nc = best + g.emit_weight[k] + row[emit[LABEL, k]]
                if nc < next_best:
                    next_best = nc
            break
    next_cut = next_best + opt.beam
    for i in range(f0, f1):
        c = tok.cost[i]
        if c > cutoff:
            continue
        s = tok.links[TOK_STATE, i]
        for k in range(ptr[EMIT, s], ptr[EMIT, s + 1]):
            w = g.emit_weight[k] + row[emit[LABEL, k]]
            nc = c + w
            if nc == INF or nc > next_cut:
                continue
            tok, ntok, j = _relax(tok, ntok, state_tok, emit[DST, k], nc, i, emit[ARC, k])
            if opt.record:
                lat, narc = _record(lat, narc, i, j, emit[ARC, k], w)
            if nc < next_best:
                next_best = nc
                next_cut = next_best + opt.beam
    return tok, ntok, lat, narc


@nb.njit(cache=True, inline="always")
def _traceback(back, via, last):
    """(via[i], back[i]) for each step i of the back-pointer chain ``back`` ending at ``last``
    (-1: none), first step first: the beam search's (graph arcs, source tokens) of a path from
    Tokens.links, the pair pass's lattice arcs."""
    length = 0
    i = last
    while i >= 0 and back[i] >= 0:
        length += 1
        i = back[i]
    path_via = np.empty(length, np.int64)
    path_back = np.empty(length, np.int64)
    i = last
    for p in range(length - 1, -1, -1):
        path_via[p] = via[i]
        path_back[p] = back[i]
        i = back[i]
    return path_via, path_back


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
        :class:`Tokens` (their first K columns: rows TOK_STATE, BACK_TOK, BACK_ARC, and
        energies), K; frame_off int64 [T+2] (tokens of frame t are frame_off[t]:frame_off[t+1]);
        order int64 [>= K] (the first K: tokens in a topological order); active int64 [T+1]
        (tokens kept per frame); :class:`LatticeArcs` (their first M columns), M; the best final
        token (-1 if none) and its energy (inf if none); the best path's graph arcs int64 [L]
        and their source tokens int64 [L]. (Blocks are returned whole: the caller takes the
        rows it needs, and the kernel compiles no copies.)
    """
    num_frames = emissions.shape[0]
    n = g.start_weight.shape[0]
    cap = 1024
    tok = Tokens(np.empty((3, cap), np.int64), np.empty(cap, np.float64))
    lat_cap = 4096 if opt.record else 1
    lat = LatticeArcs(np.empty((3, lat_cap), np.int64), np.empty(lat_cap, np.float64))
    narc = _ZERO
    scratch = Scratch(np.empty((3, n), np.int64), np.empty((2, n), np.bool_))
    ints = scratch.ints
    for s in range(n):  # np.empty and loops only (fewer compilations)
        ints[STATE_TOK, s] = -1
        scratch.flags[QUEUED, s] = scratch.flags[POPPED, s] = False
    order = np.empty(cap, np.int64)
    frame_off = np.empty(num_frames + 2, np.int64)
    active = np.empty(num_frames + 1, np.int64)
    frame_off[0] = 0  # the others are written frame by frame before they are read
    buf = np.empty(cap, np.float64)

    ntok = _ZERO
    for s in range(n):
        if g.start_weight[s] < INF:
            tok, ntok, _ = _relax(tok, ntok, ints, s, g.start_weight[s], -1, -1)
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
            ints[STATE_TOK, tok.links[TOK_STATE, i]] = -1
        tok, ntok, lat, narc = _expand(
            g, emissions[t], opt, tok, ntok, f0, f1, cutoff, best, ints, lat, narc
        )

    f0, f1 = frame_off[num_frames], frame_off[num_frames + 1]
    active[num_frames] = f1 - f0
    best_tok, best_energy = -1, INF
    for i in range(f0, f1):
        e = tok.cost[i] + g.final_weight[tok.links[TOK_STATE, i]]
        if e < best_energy:
            best_tok, best_energy = i, e
    path_arc, path_tok = _traceback(tok.links[BACK_TOK], tok.links[BACK_ARC], best_tok)
    return tok, ntok, frame_off, order, active, lat, narc, best_tok, best_energy, path_arc, path_tok
