"""numba kernels for compose / intersect: the product construction under OpenFst's sequence
epsilon filter, returning arc maps and node maps instead of weights.

Filter (OpenFst ``SequenceComposeFilter``, the default): a product state is (s1, s2, fs).
- a moves alone on an arc with olabel EPSILON (b stays) only when fs == 0; next fs = 0;
- b moves alone on an arc with ilabel EPSILON (a stays); next fs = 1, or 0 when s1 has no
  output-epsilon arcs (fs would change nothing there); blocked when every arc of s1 is an
  output epsilon and s1 is not final (that branch can never complete);
- a and b move together when a's olabel == b's ilabel != EPSILON; next fs = 0.
So between two matched symbols, a's epsilon moves come first, then b's: each pair of agreeing
paths (a-path, b-path) yields exactly one output path.

Matching is a lookup: b's arcs are sorted by (state, ilabel), and each a-arc finds its run of
b-arcs by binary search. Product states get ids in breadth-first discovery order from the
start pairs through a pair table (``pair_table``); states that cannot reach a final state are
then trimmed, keeping that order. ``plan`` finds the states and sizes (``settle`` finishes the
trimming of the rare product it leaves unsettled), ``write`` fills arrays the caller allocated;
the batch kernels run them with ``prange`` over pairs of graphs. Every one of these passes
enumerates a state's arcs through ``_expand``, so the filter is compiled once.
"""

from typing import NamedTuple

import numba as nb
import numpy as np

from .connect_kernels import _reach
from .jit import batch_kernel, kernel_helper
from .pair_table import find, insert, new_table, reserve

# plan's number of output states when trimming needs ``settle`` (a product whose states cannot
# reach a final one in reverse discovery order); -1 means over the arc budget.
UNSETTLED = -2
_NO_LIMIT = np.int64(2**62)


@kernel_helper
def _counting_sort(keys, num_keys, items):
    """Stable counting sort of ``items`` (int32 arc ids) by keys[item], keys in [0, num_keys).

    Returns (sorted items, off int64 [num_keys + 1]): sorted[off[k]:off[k+1]] have key k.
    One helper for every arc ordering here: numba's sorts would compile for longer than
    compose itself."""
    off = np.empty(num_keys + 1, np.int64)
    for k in range(num_keys + 1):  # a loop, not np.zeros: see pair_table.new_table
        off[k] = 0
    for i in items:
        off[keys[i] + 1] += 1
    for k in range(num_keys):
        off[k + 1] += off[k]
    fill = np.empty(num_keys, np.int64)
    for k in range(num_keys):
        fill[k] = off[k]
    out = np.empty(items.shape[0], np.int32)
    for i in items:
        k = keys[i]
        out[fill[k]] = i
        fill[k] += 1
    return out, off


@nb.njit(cache=True, inline="always")
def _lower_bound(values, row, lo, hi, x):
    """The first k in [lo, hi) with values[row, k] >= x (hi if none); the row is sorted."""
    while lo < hi:
        mid = (lo + hi) >> 1
        if values[row, mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@nb.njit(cache=True, inline="always")
def _count(mask):
    c = 0
    for x in mask:
        c += x
    return c


@nb.njit(cache=True, inline="always")
def _grow(buf, need):
    if need <= buf.shape[0]:
        return buf
    out = np.empty(max(need, 2 * buf.shape[0]), np.int64)
    for i in range(buf.shape[0]):  # a loop: slice assignment compiles numba's shape-error text
        out[i] = buf[i]
    return out


class Operand(NamedTuple):
    """One side of a product, as ``plan`` reads it (local ids)."""

    num_nodes: int
    src: np.ndarray  # int32 [A]
    dst: np.ndarray  # int32 [A]
    ilabel: np.ndarray  # int32 [A]
    olabel: np.ndarray  # int32 [A]
    start: np.ndarray  # bool [N]: a start state
    final: np.ndarray  # bool [N]: a final state


class PackedOperands(NamedTuple):
    """One side of a batch of products: graphs packed as in ``batch.Packed``, with their start
    and final masks; graph x is nodes node_off[x]:node_off[x+1], arcs arc_off[x]:arc_off[x+1]."""

    node_off: np.ndarray  # int64 [G+1]
    arc_off: np.ndarray  # int64 [G+1]
    src: np.ndarray  # int32 [sum A]
    dst: np.ndarray  # int32 [sum A]
    ilabel: np.ndarray  # int32 [sum A]
    olabel: np.ndarray  # int32 [sum A]
    start: np.ndarray  # bool [sum N]
    final: np.ndarray  # bool [sum N]


class Pairs(NamedTuple):
    """Products k = (graph pair_a[k] of a, graph pair_b[k] of b) of a batch, and ``plan``'s
    limits. (The two sides travel as arguments of their own: numba's parallel loops refuse
    named tuples nested in named tuples.)"""

    pair_a: np.ndarray  # int64 [K]
    pair_b: np.ndarray  # int64 [K]
    dense_limit: int
    max_arcs: int


# Rows of Index.a_arcs (int32 [4, A]): ORDER is a's arcs by source state, output epsilons
# first; the other rows are in a's own arc order.
A_ORDER, A_DST, A_ILABEL, A_OLABEL = 0, 1, 2, 3
# Rows of Index.b_arcs (int32 [4, B]): ORDER is b's arcs by (source state, ilabel); ILABEL and
# DST are those arcs' (sorted order), OLABEL is in b's own arc order.
B_ORDER, B_ILABEL, B_DST, B_OLABEL = 0, 1, 2, 3
# Rows of Index.a_states / b_states (int64 [4, N+1]): the arcs of state s are
# order[OFF[s]:OFF[s+1]], of which those before EPS_END[s] are a's output epsilons (b's input
# epsilons); START / FINAL are 0 or 1 (the last column is unused).
OFF, EPS_END, START, FINAL = 0, 1, 2, 3


class Index(NamedTuple):
    """Both graphs' arcs arranged for enumerating the arcs of a product state (see ``_arcs``).
    Product state (s1, s2, fs) has the key (s1 * num_b + s2) * num_filter + fs.

    A few 2-D blocks rather than one array per field: every array a numba kernel holds in a
    structure is reference-counted at each copy of it, and fifteen of them made the compose
    kernels' code (and their first-call compilation) several times larger."""

    a_arcs: np.ndarray  # int32 [4, A]: rows A_ORDER, A_DST, A_ILABEL, A_OLABEL
    a_states: np.ndarray  # int64 [4, Na+1]: rows OFF, EPS_END, START, FINAL
    b_arcs: np.ndarray  # int32 [4, B]: rows B_ORDER, B_ILABEL, B_DST, B_OLABEL
    b_states: np.ndarray  # int64 [4, Nb+1]: rows OFF, EPS_END, START, FINAL
    num_b: int  # b's states
    num_filter: int  # filter states: 2 when a has output epsilons, else 1


class Product(NamedTuple):
    """What ``plan`` found and ``write`` writes: the discovered product states (by key, in
    discovery order), the pair table mapping keys to their ids, and the trimming."""

    index: Index
    dense: bool  # the pair table (gtn._internal.pair_table) is a dense array
    keys: np.ndarray  # int64: the pair table's keys (empty when dense)
    ids: np.ndarray  # int32: the pair table's ids
    state_key: np.ndarray  # int64 [>= num_states]: key of each discovered state
    # int32 [num_states]: output id of a state on a path to a final state, else -1 (while
    # trimming: 0 for a state known to be on one, else -1)
    new_id: np.ndarray
    num_states: int  # discovered states


@kernel_helper
def _states(num_nodes, order_off, eps_end_of, start, final):
    """An int64 [4, N+1] block of rows OFF, EPS_END, START, FINAL (see :class:`Index`) from
    the counting sort's offsets, read at order_off[eps_end_of * s] and one past it."""
    out = np.empty((4, num_nodes + 1), np.int64)
    for r in range(4):
        out[r, num_nodes] = 0
    for s in range(num_nodes):
        out[OFF, s] = order_off[eps_end_of * s]
        out[EPS_END, s] = 0
        out[START, s] = start[s]
        out[FINAL, s] = final[s]
    out[OFF, num_nodes] = order_off[eps_end_of * num_nodes]
    return out


@kernel_helper
def _index(a, b):
    """The :class:`Index` of a pair of :class:`Operand` (local ids).

    a's arcs are grouped by source state, output epsilons first. b's arcs are sorted by
    (source state, ilabel): by label, then stably by state, so that the arcs for one (state,
    label) form a run found by binary search; the label pass counts labels directly when they
    are few (the usual case), else by two passes over 16-bit digits (a vocabulary that dwarfs
    the graph). EPSILON (-1) sorts first."""
    na, nb_ = a.num_nodes, b.num_nodes
    num_a, num_b = a.src.shape[0], b.src.shape[0]
    items = np.empty(max(num_a, num_b), np.int32)
    for i in range(items.shape[0]):
        items[i] = i
    key = np.empty(max(num_a, num_b), np.int64)
    for i in range(num_a):
        key[i] = 2 * np.int64(a.src[i]) + (a.olabel[i] >= 0)
    a_order, cnt = _counting_sort(key, np.int64(2 * na), items[:num_a])
    a_states = _states(na, cnt, np.int64(2), a.start, a.final)
    nf = 1
    a_arcs = np.empty((4, num_a), np.int32)
    for i in range(num_a):
        a_arcs[A_ORDER, i] = a_order[i]
        a_arcs[A_DST, i] = a.dst[i]
        a_arcs[A_ILABEL, i] = a.ilabel[i]
        a_arcs[A_OLABEL, i] = a.olabel[i]
        if a.olabel[i] < 0:  # filter state 1 exists only with a's output epsilons
            nf = 2
    for s in range(na):
        a_states[EPS_END, s] = cnt[2 * s + 1]

    v = 0
    for i in range(num_b):
        v = max(v, np.int64(b.ilabel[i]) + 2)
    if v > 4 * num_b + 1024:
        for i in range(num_b):
            key[i] = (np.int64(b.ilabel[i]) + 1) & 0xFFFF
        by_label, _ = _counting_sort(key, np.int64(65536), items[:num_b])
        for i in range(num_b):
            key[i] = (np.int64(b.ilabel[i]) + 1) >> 16
        by_label, _ = _counting_sort(key, np.int64(65536), by_label)
    else:
        for i in range(num_b):
            key[i] = np.int64(b.ilabel[i]) + 1
        by_label, _ = _counting_sort(key, np.int64(v), items[:num_b])
    for i in range(num_b):
        key[i] = b.src[i]
    b_order, b_off = _counting_sort(key, np.int64(nb_), by_label)
    b_states = _states(nb_, b_off, np.int64(1), b.start, b.final)
    b_arcs = np.empty((4, num_b), np.int32)
    for j in range(num_b):
        b_arcs[B_ORDER, j] = b_order[j]
        b_arcs[B_ILABEL, j] = b.ilabel[b_order[j]]
        b_arcs[B_DST, j] = b.dst[b_order[j]]
        b_arcs[B_OLABEL, j] = b.olabel[j]
    for s in range(nb_):
        b_states[EPS_END, s] = _lower_bound(b_arcs, B_ILABEL, b_off[s], b_off[s + 1], 0)
    return Index(a_arcs, a_states, b_arcs, b_states, np.int64(nb_), np.int64(nf))


# Rows of the arc buffer (int64 [3, capacity]) that ``_arcs`` fills for one product state.
TO_KEY, ARC_A, ARC_B = 0, 1, 2


@kernel_helper
def _arcs(ix, key, buf):
    """The arcs of the product state ``key`` under the sequence filter, in a fixed order: each
    one's destination key and the a-arc and b-arc it moves on (-1: that side stays), in the
    rows TO_KEY, ARC_A, ARC_B of ``buf``. Writes the first ``buf.shape[1]`` of them and returns
    how many there are."""
    a_arcs = ix.a_arcs
    a_states = ix.a_states
    b_arcs = ix.b_arcs
    b_states = ix.b_states
    nb_ = ix.num_b
    nf = ix.num_filter
    cap = buf.shape[1]
    fs = key % nf
    s1 = (key // nf) // nb_
    s2 = (key // nf) % nb_
    a_off, a_eps, a_end = a_states[OFF, s1], a_states[EPS_END, s1], a_states[OFF, s1 + 1]
    b_off, b_eps, b_end = b_states[OFF, s2], b_states[EPS_END, s2], b_states[OFF, s2 + 1]
    m = 0
    # a alone on an output epsilon (b stays), only before any b epsilon since the last match
    if fs == 0:
        for k in range(a_off, a_eps):
            i = a_arcs[A_ORDER, k]
            if m < cap:
                buf[TO_KEY, m] = (np.int64(a_arcs[A_DST, i]) * nb_ + s2) * nf
                buf[ARC_A, m] = i
                buf[ARC_B, m] = -1
            m += 1
    # b alone on an input epsilon (a stays); pointless if a can only take epsilons from here
    if a_eps < a_end or a_states[FINAL, s1]:
        nfs = 0 if a_eps == a_off else 1
        for j in range(b_off, b_eps):
            if m < cap:
                buf[TO_KEY, m] = (s1 * nb_ + b_arcs[B_DST, j]) * nf + nfs
                buf[ARC_A, m] = -1
                buf[ARC_B, m] = b_arcs[B_ORDER, j]
            m += 1
    # both move on one real label: b's run for that label is found by binary search
    for k in range(a_eps, a_end):
        i = a_arcs[A_ORDER, k]
        lab = a_arcs[A_OLABEL, i]
        lo = _lower_bound(b_arcs, B_ILABEL, b_eps, b_end, lab)
        end = _lower_bound(b_arcs, B_ILABEL, lo, b_end, lab + 1)
        base = np.int64(a_arcs[A_DST, i]) * nb_ * nf
        for j in range(lo, end):
            if m < cap:
                buf[TO_KEY, m] = base + np.int64(b_arcs[B_DST, j]) * nf
                buf[ARC_A, m] = i
                buf[ARC_B, m] = b_arcs[B_ORDER, j]
            m += 1
    return m


@kernel_helper
def _expand(ix, key, buf, limit):
    """(buf, count): the first ``count`` columns of buf (rows TO_KEY, ARC_A, ARC_B) are the
    arcs of product state ``key`` (see ``_arcs``); buf is replaced when too small, unless the
    state has more than ``limit`` arcs: then they are only counted, so that a product over its
    arc budget is refused before any buffer grows for it.

    Every pass over the product (discovery, trimming, counting, writing) goes through this one
    enumeration, so the filter's logic is compiled once rather than once per pass."""
    while True:
        m = _arcs(ix, key, buf)
        if m <= buf.shape[1] or m > limit:
            return buf, m
        buf = np.empty((3, max(m, 2 * buf.shape[1])), np.int64)


@nb.njit(cache=True, inline="always")
def _is_final(ix, key):
    """Product state ``key`` is final: both its states are."""
    p = key // ix.num_filter
    return ix.a_states[FINAL, p // ix.num_b] and ix.b_states[FINAL, p % ix.num_b]


@kernel_helper
def _sweep_coaccessible(product, buf):
    """Mark states q with an arc into a kept state as kept (new_id[q] = 0; see
    :class:`Product`), sweeping them in reverse discovery order, up to three times; returns
    (buf, settled). A forward-ordered (e.g. time-synchronous) product settles in one sweep plus
    one check; others go on in ``settle``, compiled only for the products that need it."""
    ix = product.index
    keys = product.keys
    ids = product.ids
    state_key = product.state_key
    keep = product.new_id
    for _ in range(3):
        changed = False
        for q in range(product.num_states - 1, -1, -1):
            if keep[q] >= 0:
                continue
            buf, count = _expand(ix, state_key[q], buf, _NO_LIMIT)
            for j in range(count):
                if keep[find(product.dense, keys, ids, buf[TO_KEY, j])] >= 0:
                    keep[q] = 0
                    changed = True
                    break
        if not changed:
            return buf, True
    return buf, False


@kernel_helper
def _numbered(product, buf):
    """Number the kept states of ``product`` (in new_id); returns (number of kept states,
    number of arcs between them)."""
    ix = product.index
    keys = product.keys
    ids = product.ids
    state_key = product.state_key
    new_id = product.new_id
    n_out = 0
    m = 0
    for q in range(product.num_states):
        if new_id[q] >= 0:
            new_id[q] = n_out
            n_out += 1
            buf, count = _expand(ix, state_key[q], buf, _NO_LIMIT)
            for j in range(count):
                m += new_id[find(product.dense, keys, ids, buf[TO_KEY, j])] >= 0
    return n_out, m


@nb.njit(cache=True)
def settle(product):
    """Finish trimming a product that ``plan`` returned as UNSETTLED: a search over its
    reversed arcs, O(states + arcs). Returns what ``plan`` returns for a settled product."""
    ix = product.index
    state_key = product.state_key
    new_id = product.new_id
    n = product.num_states
    buf = np.empty((3, 1024), np.int64)
    total = 0
    for q in range(n):
        buf, count = _expand(ix, state_key[q], buf, _NO_LIMIT)
        total += count
    frm = np.empty(total, np.int32)
    to = np.empty(total, np.int32)
    m = 0
    for q in range(n):
        buf, count = _expand(ix, state_key[q], buf, _NO_LIMIT)
        for j in range(count):
            frm[m] = q
            to[m] = find(product.dense, product.keys, product.ids, buf[TO_KEY, j])
            m += 1
    # the states from which a kept state is reachable: reachability along the reversed arcs
    kept = np.empty(n, np.bool_)
    for q in range(n):
        kept[q] = new_id[q] >= 0
    coaccessible = np.zeros(n, np.bool_)
    _reach(n, to, frm, kept, np.ones(m, np.bool_), coaccessible)
    for q in range(n):
        new_id[q] = 0 if coaccessible[q] else -1
    n_out, m = _numbered(product, buf)
    return product, n_out, m


@nb.njit(cache=True)
def plan(a, b, dense_limit, max_arcs):
    """Find the trimmed product of one pair of graphs (two :class:`Operand`), without writing
    its arcs.

    Gives up as soon as the product reachable from the start pairs has more than ``max_arcs``
    arcs (before growing any buffer for them), returning -1 states and the arcs counted so far.

    Enumerating the product's arcs again (to find the co-accessible states, to count the kept
    arcs, then to write them) costs less than buffering them: lookups in the pair table are
    cheap, while touching fresh memory for arc buffers is not. Knowing the exact size lets the
    caller allocate the outputs (numpy's large allocations use huge pages).

    The map from state pairs to ids is a dense array when na * nb_ * filter states <=
    dense_limit, else a hash table (gtn._internal.pair_table).

    Returns (:class:`Product`, number of output states, number of output arcs); pass the
    product to ``write``. The number of states is UNSETTLED when trimming is not finished:
    ``settle(product)`` then returns the same triple."""
    ix = _index(a, b)
    na = a.num_nodes
    nb_ = b.num_nodes
    nf = ix.num_filter
    a_start = a.start
    b_start = b.start
    dense, keys, ids = new_table(na * nb_ * nf, dense_limit)
    buf = np.empty((3, 1024), np.int64)

    n = 0
    state_key = np.empty(max(1024, _count(a_start) * _count(b_start)), np.int64)
    keys, ids = reserve(dense, keys, ids, state_key.shape[0])
    for s1 in range(na):
        for s2 in range(nb_):
            if a_start[s1] and b_start[s2]:
                state_key[n] = (s1 * nb_ + s2) * nf
                insert(dense, keys, ids, state_key[n], n)
                n += 1
    q = 0
    explored = 0
    while q < n:  # n grows as states are discovered: breadth-first
        buf, count = _expand(ix, state_key[q], buf, np.int64(max_arcs - explored))
        explored += count
        if explored > max_arcs:
            over = Product(ix, dense, keys, ids, state_key, np.empty(0, np.int32), np.int64(-1))
            return over, -1, explored
        state_key = _grow(state_key, n + count)
        keys, ids = reserve(dense, keys, ids, n + count)
        for j in range(count):
            d = buf[TO_KEY, j]
            if find(dense, keys, ids, d) < 0:
                insert(dense, keys, ids, d, n)
                state_key[n] = d
                n += 1
        q += 1

    new_id = np.empty(n, np.int32)  # until numbered: 0 for a kept state, else -1
    for q in range(n):
        new_id[q] = 0 if _is_final(ix, state_key[q]) else -1
    product = Product(ix, dense, keys, ids, state_key, new_id, np.int64(n))
    buf, settled = _sweep_coaccessible(product, buf)
    if not settled:
        return product, UNSETTLED, np.int64(0)
    n_out, m = _numbered(product, buf)
    return product, n_out, m


@nb.njit(cache=True)
def write(product, shift, arcs, nodes):
    """Write the product found by ``plan`` into arrays of its size.

    arcs: int32 [6, M], rows src, dst, ilabel, olabel, map_a, map_b; map_a, map_b are arc
    maps: a-arc i is written as shift[0] + i, and an arc on which a did not move as shift[2];
    likewise b with shift[1], shift[3]. nodes: int32 [4, N], rows start_a, start_b, final_a,
    final_b: node maps, a-state s as shift[4] + s, "not a start / final state" as shift[6];
    likewise b with shift[5], shift[7]. (Two blocks rather than ten arrays: fewer arguments to
    type, and the parallel batch kernel writes into arrays it takes as arguments of their own.)"""
    ix = product.index
    keys = product.keys
    ids = product.ids
    state_key = product.state_key
    new_id = product.new_id
    nb_ = ix.num_b
    nf = ix.num_filter
    for u in range(nodes.shape[1]):
        nodes[0, u], nodes[1, u], nodes[2, u], nodes[3, u] = shift[6], shift[7], shift[6], shift[7]
    buf = np.empty((3, 1024), np.int64)
    m = 0
    for q in range(product.num_states):
        u = new_id[q]
        if u < 0:
            continue
        key = state_key[q]
        p = key // nf
        s1, s2 = p // nb_, p % nb_
        if key % nf == 0 and ix.a_states[START, s1] and ix.b_states[START, s2]:
            nodes[0, u], nodes[1, u] = s1 + shift[4], s2 + shift[5]
        if _is_final(ix, key):
            nodes[2, u], nodes[3, u] = s1 + shift[4], s2 + shift[5]
        buf, count = _expand(ix, key, buf, _NO_LIMIT)
        for j in range(count):
            d = new_id[find(product.dense, keys, ids, buf[TO_KEY, j])]
            if d < 0:
                continue
            ia, ib = buf[ARC_A, j], buf[ARC_B, j]
            arcs[0, m], arcs[1, m] = u, d
            arcs[2, m] = ix.a_arcs[A_ILABEL, ia] if ia >= 0 else -1
            arcs[3, m] = ix.b_arcs[B_OLABEL, ib] if ib >= 0 else -1
            arcs[4, m] = ia + shift[0] if ia >= 0 else shift[2]
            arcs[5, m] = ib + shift[1] if ib >= 0 else shift[3]
            m += 1


@kernel_helper
def _operand(packed, x):
    """Graph x of a :class:`PackedOperands`."""
    n0, n1, a0, a1 = (
        packed.node_off[x],
        packed.node_off[x + 1],
        packed.arc_off[x],
        packed.arc_off[x + 1],
    )
    return Operand(
        n1 - n0,
        packed.src[a0:a1],
        packed.dst[a0:a1],
        packed.ilabel[a0:a1],
        packed.olabel[a0:a1],
        packed.start[n0:n1],
        packed.final[n0:n1],
    )


@kernel_helper
def _plan_pair(pairs, a, b, k):
    """``plan`` (settled) of product k of a batch (see :class:`Pairs`)."""
    x, y = _operand(a, pairs.pair_a[k]), _operand(b, pairs.pair_b[k])
    found = plan(x, y, pairs.dense_limit, pairs.max_arcs)
    if found[1] == UNSETTLED:
        return settle(found[0])
    return found


@batch_kernel
def batch_sizes(pairs, a, b, num_nodes, num_arcs):
    """Pass 1 of a batch (:class:`Pairs` of two :class:`PackedOperands`): sizes of each
    product; num_nodes[k] is -1 when product k has more than max_arcs reachable arcs (see
    ``plan``)."""
    for k in nb.prange(pairs.pair_a.shape[0]):
        _, num_nodes[k], num_arcs[k] = _plan_pair(pairs, a, b, k)


@kernel_helper
def _shift(pairs, a, b, k):
    """``write``'s shift for product k: its graphs' offsets and the "none" ids of each side."""
    x, y = pairs.pair_a[k], pairs.pair_b[k]
    return np.array(
        [
            a.arc_off[x],
            b.arc_off[y],
            a.arc_off[-1],
            b.arc_off[-1],
            a.node_off[x],
            b.node_off[y],
            a.node_off[-1],
            b.node_off[-1],
        ]
    )


@batch_kernel
def batch_write(pairs, a, b, node_off, arc_off, arcs, nodes):
    """Pass 2 of a batch: plan each product again and write product k at its offsets
    node_off[k], arc_off[k] into arcs (int32 [6, M]) and nodes (int32 [4, N]) as ``write``
    does. Arc / node maps index the packed (concatenated) inputs, "none" being the total number
    of arcs / states on that side; src / dst stay local to each output graph."""
    for k in nb.prange(pairs.pair_a.shape[0]):
        u0, u1, e0, e1 = node_off[k], node_off[k + 1], arc_off[k], arc_off[k + 1]
        write(
            _plan_pair(pairs, a, b, k)[0], _shift(pairs, a, b, k), arcs[:, e0:e1], nodes[:, u0:u1]
        )
