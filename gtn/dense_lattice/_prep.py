"""Structure of a graph batch laid out for the dense kernels (structure only, no weights).

Emitting arcs are sorted by (destination, label, source) and grouped into *runs*: arcs into the
same state, with the same label, from consecutive source states. A frame of the forward pass is
then, per state, a few dense dot products over contiguous memory (a CRF state has one run of K
arcs, a CTC state one run of 2-3 arcs), with the emission factor applied once per run.
Epsilon arcs are kept apart, in a topological order of the epsilon subgraph.

A batch is *state-labelled* when it has no epsilon arcs and all emitting arcs into a state carry
the same label (CTC, HMM, ASG and CRF graphs): the ``_statewise`` kernels then apply the emission
once per state and take emission gradients from state posteriors.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from .._internal.topo import _topo_batch
from ..graph import GraphError
from .batch import GraphBatch

INF = np.inf
# The kernels' fastmath flags: reassoc lets LLVM vectorise sums and dot products; no 'nnan' or
# 'ninf': +inf energies are meaningful.
FAST = {"reassoc", "contract", "nsz", "arcp"}
# Above this energy range (times beta) exp() would leave float64: use the log-space kernels.
SCALED_RANGE = 500.0


class Structure(NamedTuple):
    num_graphs: int
    node_off: np.ndarray  # int64 [G+1]
    max_nodes: int
    run_ptr: np.ndarray  # int64 [N+1]: runs into global node n are run_ptr[n]:run_ptr[n+1]
    run_src0: np.ndarray  # int64 [R] first (local) source state of the run
    run_pos0: np.ndarray  # int64 [R] first position in CSR arc order
    run_len: np.ndarray  # int64 [R]
    run_ulab: np.ndarray  # int64 [R] label as an index into the graph's label set
    csr_arc: np.ndarray  # int64 [E] CSR position -> arc index in the batch
    eps_off: np.ndarray  # int64 [G+1]
    eps_arc: np.ndarray  # int64 [Ae] arc index in the batch, topological order per graph
    eps_src: np.ndarray  # int64 [Ae] local
    eps_dst: np.ndarray  # int64 [Ae] local
    lab_off: np.ndarray  # int64 [G+1]
    labs: np.ndarray  # int64 [U] labels used by each graph, ascending
    max_labels: int
    max_label: int  # largest label, -1 if none
    label: np.ndarray  # int32 [A] for error messages
    arc_off: np.ndarray  # int64 [G+1]
    state_ulab: np.ndarray  # int64 [N] label index of the arcs into a state (0 if none)
    state_labelled: bool  # no epsilon arcs, one label per state: see the module docstring

    @property
    def runs(self) -> Runs:
        return Runs(
            self.node_off, self.run_ptr, self.run_src0, self.run_pos0, self.run_len, self.run_ulab
        )

    @property
    def epsilons(self) -> Epsilons:
        return Epsilons(self.eps_off, self.eps_src, self.eps_dst)

    @property
    def label_sets(self) -> LabelSets:
        return LabelSets(self.lab_off, self.labs)


# What the kernels take: named tuples (numba compiles them as structures), not long lists.


class Runs(NamedTuple):
    """Emitting arcs into global state v: runs ptr[v]:ptr[v+1], run r from local sources
    src0[r] + k and CSR positions pos0[r] + k, k < length[r], with label index ulab[r]."""

    node_off: np.ndarray  # int64 [G+1]
    ptr: np.ndarray
    src0: np.ndarray
    pos0: np.ndarray
    length: np.ndarray
    ulab: np.ndarray


@nb.njit(cache=True, inline="always")
def utterance(utt, node_off, lab, b):
    """(g, T, n0, N, labels) of utterance b: its graph, frames, first (global) state, state
    count and the graph's labels (``lab`` a :class:`LabelSets`)."""
    g = utt.gidx[b]
    n0 = node_off[g]
    return g, utt.lengths[b], n0, node_off[g + 1] - n0, lab.labs[lab.off[g] : lab.off[g + 1]]


class Epsilons(NamedTuple):
    """Epsilon arcs of graph g: off[g]:off[g+1], local src -> dst, in topological order."""

    off: np.ndarray
    src: np.ndarray
    dst: np.ndarray


class LabelSets(NamedTuple):
    """Graph g's labels, ascending: labs[off[g]:off[g+1]]; a label index u is into these."""

    off: np.ndarray
    labs: np.ndarray


class Utterances(NamedTuple):
    em: np.ndarray  # [B, T, V] emission energies, float32 or float64
    lengths: np.ndarray  # int64 [B]
    gidx: np.ndarray  # int64 [B] each utterance's graph
    rows: np.ndarray  # int64 [B] the gradient-buffer row it adds into
    active: np.ndarray  # bool [B] the utterances this call computes


class Grads(NamedTuple):
    """Gradient buffers the kernels add into (float64; em in the emissions' dtype)."""

    em: np.ndarray  # [B, T, V]
    w: np.ndarray  # [rows, E] emitting arcs, CSR order (a dummy when not wanted)
    ew: np.ndarray  # [rows, Ae] epsilon arcs, kernel order
    sw: np.ndarray  # [rows, N] start weights
    fw: np.ndarray  # [rows, N] final weights


class Scaled(NamedTuple):
    """The scaled forward pass's outputs (see ``_scaled``), kept for its backward."""

    pe: np.ndarray  # [B, T, Umax] emission factors
    alpha: np.ndarray  # [B, T+1, Nmax] normalised forward values
    scale: np.ndarray  # [B, T+1] frame scales
    energy: np.ndarray  # [B] free energies
    status: np.ndarray  # int64 [B] EXACT, FLUSHED or LOG (see ``_scaled``)


def structure(batch: GraphBatch) -> Structure:
    """Cached on the batch: structure never changes (weights do). A builder that knows the
    layout in closed form leaves its own maker under "dense_maker" (``ctc_graphs``). Built
    lazily: its label tables are sized by the largest label, which the caller checks first
    (``intersect_dense``, against the emissions' V)."""
    make = batch._cache.get("dense_maker", _build)
    return batch._cached("dense", lambda: make(batch))


def _build(batch: GraphBatch) -> Structure:
    G = len(batch)
    node_off, arc_off = batch.node_offsets, batch.arc_offsets
    lab = batch.label  # >= EPSILON and states in range: GraphBatch checks both
    max_label = int(lab.max()) if lab.size else -1
    lay = _layout(node_off, arc_off, batch.src, batch.dst, lab, max(max_label, 0))
    csr_arc, run_ptr, run_src0, run_pos0, run_len, run_ulab, state_ulab = lay[:7]
    lab_off, labs, mixed, bad_arc = lay[7:]
    if bad_arc >= 0:
        g = int(np.searchsorted(arc_off, bad_arc, side="right") - 1)
        raise GraphError(
            f"graph {g}, arc {bad_arc - int(arc_off[g])}: source or destination state is "
            "outside the graph"
        )

    # epsilon arcs in topological order of the epsilon subgraph
    eps = np.flatnonzero(lab == -1)
    graph_of_eps = np.searchsorted(arc_off, eps, side="right") - 1
    eps_off = np.zeros(G + 1, np.int64)
    np.cumsum(np.bincount(graph_of_eps, minlength=G), out=eps_off[1:])
    eps_arc = eps
    n_total = int(node_off[-1])
    if eps.size:
        e_src = batch.src[eps].copy()
        e_dst = batch.dst[eps].copy()
        node_order = np.empty(n_total, np.int64)
        arc_order = np.empty(eps.size, np.int64)
        cyclic = np.empty(G, np.int64)
        _topo_batch(node_off, eps_off, e_src, e_dst, node_order, arc_order, cyclic)
        cyc = np.flatnonzero(cyclic >= 0)
        if cyc.size:
            g = int(cyc[0])
            raise GraphError(
                f"graph {g} has a cycle of epsilon arcs through node "
                f"{int(cyclic[g])}; dense intersection needs epsilon arcs to be "
                "acyclic (each path must consume one label per frame)"
            )
        eps_arc = eps[arc_order + np.repeat(eps_off[:-1], np.diff(eps_off))]
    nodes = np.diff(node_off)
    return Structure(
        G,
        node_off,
        int(nodes.max()) if G else 0,
        run_ptr,
        run_src0,
        run_pos0,
        run_len,
        run_ulab,
        csr_arc,
        eps_off,
        eps_arc,
        batch.src[eps_arc].astype(np.int64),
        batch.dst[eps_arc].astype(np.int64),
        lab_off,
        labs,
        int(np.diff(lab_off).max()) if G else 0,
        max_label,
        batch.label,
        arc_off,
        state_ulab,
        not eps.size and not mixed,
    )


@nb.njit(cache=True)
def insertion_sort(x, lo, hi):
    """Sort x[lo:hi] in place."""
    for i in range(lo + 1, hi):
        v = x[i]
        j = i - 1
        while j >= lo and x[j] > v:
            x[j + 1] = x[j]
            j -= 1
        x[j + 1] = v


@nb.njit(cache=True)
def _shell_sort(keys, vals):
    """Sort keys in place, applying the same moves to vals (np.argsort compiles slowly)."""
    n = keys.shape[0]
    gap = 1
    while gap < n // 3:
        gap = 3 * gap + 1
    while gap > 0:
        for i in range(gap, n):
            k, v = keys[i], vals[i]
            j = i
            while j >= gap and keys[j - gap] > k:
                keys[j] = keys[j - gap]
                vals[j] = vals[j - gap]
                j -= gap
            keys[j], vals[j] = k, v
        gap //= 3


@nb.njit(cache=True)
def _layout(node_off, arc_off, src, dst, lab, max_label):
    """CSR of the emitting arcs by global destination, sorted by (label, source) within a state,
    cut into runs; per-graph label sets. O(arcs) for graphs whose arcs into a state are few or
    already in order (every topology here). Returns the arrays of :class:`Structure`, whether
    some state mixes labels, and the first arc with a state out of range (-1: none)."""
    G = node_off.shape[0] - 1
    n_total = node_off[G]
    in_ptr = np.zeros(n_total + 1, np.int64)
    bad_arc = -1
    for g in range(G):
        n = node_off[g + 1] - node_off[g]
        for a in range(arc_off[g], arc_off[g + 1]):
            if not (0 <= src[a] < n and 0 <= dst[a] < n):
                if bad_arc < 0:
                    bad_arc = a
                continue
            if lab[a] >= 0:
                in_ptr[node_off[g] + dst[a] + 1] += 1
    for v in range(n_total):
        in_ptr[v + 1] += in_ptr[v]
    E = in_ptr[n_total]
    csr = np.empty(E, np.int64)
    fill = in_ptr[:n_total].copy()
    for g in range(G):
        n = node_off[g + 1] - node_off[g]
        for a in range(arc_off[g], arc_off[g + 1]):
            if lab[a] >= 0 and 0 <= src[a] < n and 0 <= dst[a] < n:
                v = node_off[g] + dst[a]
                csr[fill[v]] = a
                fill[v] += 1
    # sort each state's arcs by (label, source): insertion sort, linear when already in order
    for v in range(n_total):
        p0, p1 = in_ptr[v], in_ptr[v + 1]
        for i in range(p0 + 1, p1):
            a = csr[i]
            key = (np.int64(lab[a]) << 32) + src[a]
            j = i - 1
            if j - p0 > 64 and (np.int64(lab[csr[j]]) << 32) + src[csr[j]] > key:
                keys = np.empty(p1 - p0, np.int64)  # long and unsorted: sort the whole state
                for k in range(p0, p1):
                    keys[k - p0] = (np.int64(lab[csr[k]]) << 32) + src[csr[k]]
                _shell_sort(keys, csr[p0:p1])
                break
            while j >= p0 and (np.int64(lab[csr[j]]) << 32) + src[csr[j]] > key:
                csr[j + 1] = csr[j]
                j -= 1
            csr[j + 1] = a
    # label sets per graph (ascending) and each label's index in its graph's set
    slot = np.full(max_label + 1, -1, np.int64)
    lab_off = np.zeros(G + 1, np.int64)
    labs_all = np.empty(E, np.int64)
    count = np.int64(0)  # not a literal 0: insertion_sort would compile once per literal
    for g in range(G):
        start = count
        for i in range(in_ptr[node_off[g]], in_ptr[node_off[g + 1]]):
            x = lab[csr[i]]
            if slot[x] < 0:
                slot[x] = 0
                labs_all[count] = x
                count += 1
        insertion_sort(labs_all, start, count)  # a graph's labels; np.sort compiles slowly
        for i in range(start, count):
            slot[labs_all[i]] = -1
        lab_off[g + 1] = count
    labs = labs_all[:count].copy()
    # runs: same destination and label, consecutive sources
    run_ptr = np.zeros(n_total + 1, np.int64)
    run_pos = np.empty(E, np.int64)
    R = 0
    for v in range(n_total):
        for i in range(in_ptr[v], in_ptr[v + 1]):
            a = csr[i]
            if i == in_ptr[v] or lab[a] != lab[csr[i - 1]] or src[a] != src[csr[i - 1]] + 1:
                run_pos[R] = i
                R += 1
        run_ptr[v + 1] = R
    run_pos0 = run_pos[:R].copy()
    run_src0 = np.empty(R, np.int64)
    run_len = np.empty(R, np.int64)
    run_ulab = np.empty(R, np.int64)
    state_ulab = np.zeros(n_total, np.int64)
    mixed = False
    for g in range(G):
        u0, u1 = lab_off[g], lab_off[g + 1]
        for u in range(u0, u1):
            slot[labs[u]] = u - u0
        for v in range(node_off[g], node_off[g + 1]):
            for r in range(run_ptr[v], run_ptr[v + 1]):
                p = run_pos0[r]
                end = run_pos0[r + 1] if r + 1 < R else E
                run_src0[r] = src[csr[p]]
                run_len[r] = end - p
                run_ulab[r] = slot[lab[csr[p]]]
                if r == run_ptr[v]:
                    state_ulab[v] = run_ulab[r]
                elif run_ulab[r] != state_ulab[v]:
                    mixed = True
        for u in range(u0, u1):
            slot[labs[u]] = -1
    return (
        csr,
        run_ptr,
        run_src0,
        run_pos0,
        run_len,
        run_ulab,
        state_ulab,
        lab_off,
        labs,
        mixed,
        bad_arc,
    )


class Weights(NamedTuple):
    """Energies in kernel order plus their exponentials for the scaled kernels."""

    w: np.ndarray  # [E] emitting-arc energies, CSR order
    wexp: np.ndarray  # exp(-beta (w - w_shift[g]))
    ew: np.ndarray  # [Ae] epsilon-arc energies, kernel order
    ewexp: np.ndarray  # exp(-beta ew) (not shifted: paths differ in their epsilon count)
    sw: np.ndarray  # [N] start energies
    swexp: np.ndarray
    fw: np.ndarray  # [N] final energies
    fwexp: np.ndarray
    shift: np.ndarray  # [G, 3] (emitting, start, final) shifts
    needs_log: np.ndarray  # bool [G]: energy range too wide for exp() in float64


def weights(st: Structure, w: np.ndarray, sw: np.ndarray, fw: np.ndarray, beta: float) -> Weights:
    G = st.num_graphs
    energies = (w[st.csr_arc], w[st.eps_arc], sw, fw)  # each followed by its exponentials
    pairs = (x for e in energies for x in (e, np.empty_like(e)))
    out = Weights(*pairs, np.zeros((G, 3)), np.zeros(G, np.bool_))
    _exp_weights(st.runs, st.eps_off, beta, out)
    return out


@nb.njit(cache=True)
def _shifted_exp(x, lo, hi, beta, out):
    """out[lo:hi] = exp(-beta (x - m)) with m the smallest finite x; returns (m, beta * range)."""
    m, M = INF, -INF
    for i in range(lo, hi):
        if x[i] < INF:
            m = min(m, x[i])
            M = max(M, x[i])
    if m == INF:
        m = 0.0
        M = 0.0
    for i in range(lo, hi):
        out[i] = np.exp(-beta * (x[i] - m))
    return m, (M - m) * beta


@nb.njit(cache=True)  # serial: writing arrays held in a tuple is safe outside parallel loops
def _exp_weights(runs, eps_off, beta, W):
    """Fill W's exponentials, shifts and needs_log (a :class:`Weights` from its energies)."""
    w, wexp, ew, ewexp, sw, swexp, fw, fwexp, shift, needs_log = W
    for g in range(runs.node_off.shape[0] - 1):
        n0, n1 = runs.node_off[g], runs.node_off[g + 1]
        r0, r1 = runs.ptr[n0], runs.ptr[n1]
        p0 = runs.pos0[r0] if r1 > r0 else 0
        p1 = runs.pos0[r1 - 1] + runs.length[r1 - 1] if r1 > r0 else 0
        shift[g, 0], rng = _shifted_exp(w, p0, p1, beta, wexp)
        shift[g, 1], r = _shifted_exp(sw, n0, n1, beta, swexp)
        rng = max(rng, r)
        shift[g, 2], r = _shifted_exp(fw, n0, n1, beta, fwexp)
        rng = max(rng, r)
        for i in range(eps_off[g], eps_off[g + 1]):
            ewexp[i] = np.exp(-beta * ew[i])
            if ew[i] < INF:
                rng = max(rng, abs(ew[i]) * beta)
        needs_log[g] = rng > SCALED_RANGE
