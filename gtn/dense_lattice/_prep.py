"""Structure of a graph batch laid out for the dense kernels (structure only, no weights).

Emitting arcs are sorted by (destination, label, source) and grouped into *runs*: arcs into the
same state, with the same label, from consecutive source states. A frame of the forward pass is
then, per state, a few dense dot products over contiguous memory (a CRF state has one run of K
arcs, a CTC state one run of 2-3 arcs), with the emission factor applied once per run.
Epsilon arcs are kept apart, in a topological order of the epsilon subgraph.
"""

from __future__ import annotations

from typing import NamedTuple

import numba as nb
import numpy as np

from .._topo import _topo_batch
from ..graph import GraphError
from .batch import GraphBatch

INF = np.inf
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


def structure(batch: GraphBatch) -> Structure:
    """Cached on the batch: structure never changes (weights do)."""
    if "dense" not in batch._cache:
        batch._cache["dense"] = _build(batch)
    return batch._cache["dense"]


def _build(batch: GraphBatch) -> Structure:
    G = len(batch)
    node_off, arc_off = batch.node_offsets, batch.arc_offsets
    A = int(arc_off[-1])
    graph_of_arc = np.repeat(np.arange(G, dtype=np.int64), np.diff(arc_off))
    src = batch.src.astype(np.int64)
    dst = batch.dst.astype(np.int64)
    lab = batch.label.astype(np.int64)
    bad = np.flatnonzero(lab < -1)
    if bad.size:
        raise GraphError(f"arc {int(bad[0])}: label {int(lab[bad[0]])} is negative")

    emit = np.flatnonzero(lab >= 0)
    gdst = dst[emit] + node_off[graph_of_arc[emit]]
    order = np.lexsort((src[emit], lab[emit], gdst))
    csr_arc = emit[order]
    s, l, d = src[csr_arc], lab[csr_arc], gdst[order]
    new_run = np.ones(csr_arc.shape[0], dtype=bool)
    if csr_arc.shape[0] > 1:
        new_run[1:] = (d[1:] != d[:-1]) | (l[1:] != l[:-1]) | (s[1:] != s[:-1] + 1)
    run_pos0 = np.flatnonzero(new_run).astype(np.int64)
    run_len = np.diff(np.append(run_pos0, csr_arc.shape[0])).astype(np.int64)
    n_total = int(node_off[-1])
    run_ptr = np.zeros(n_total + 1, np.int64)
    np.cumsum(np.bincount(d[run_pos0], minlength=n_total), out=run_ptr[1:])

    # label sets per graph
    max_label = int(lab.max()) if A else -1
    key = graph_of_arc[emit] * (max_label + 1) + lab[emit]
    ukey = np.unique(key)
    ug = ukey // (max_label + 1) if ukey.size else ukey
    labs = (ukey - ug * (max_label + 1)).astype(np.int64)
    lab_off = np.zeros(G + 1, np.int64)
    np.cumsum(np.bincount(ug, minlength=G), out=lab_off[1:])
    run_key = graph_of_arc[csr_arc[run_pos0]] * (max_label + 1) + l[run_pos0]
    run_ulab = np.searchsorted(ukey, run_key) - lab_off[graph_of_arc[csr_arc[run_pos0]]]

    # epsilon arcs in topological order of the epsilon subgraph
    eps = np.flatnonzero(lab == -1)
    eps_off = np.zeros(G + 1, np.int64)
    np.cumsum(np.bincount(graph_of_arc[eps], minlength=G), out=eps_off[1:])
    eps_arc = eps
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
        s[run_pos0],
        run_pos0,
        run_len,
        run_ulab.astype(np.int64),
        csr_arc,
        eps_off,
        eps_arc,
        src[eps_arc],
        dst[eps_arc],
        lab_off,
        labs,
        int(np.diff(lab_off).max()) if G else 0,
        max_label,
        batch.label,
        arc_off,
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
    wc = w[st.csr_arc]
    ew = w[st.eps_arc]
    n = wc.shape[0]
    out = Weights(
        wc,
        np.empty(n),
        ew,
        np.empty(ew.shape[0]),
        sw,
        np.empty(sw.shape[0]),
        fw,
        np.empty(fw.shape[0]),
        np.zeros((st.num_graphs, 3)),
        np.zeros(st.num_graphs, np.bool_),
    )
    _exp_weights(
        st.node_off, st.run_ptr, st.run_pos0, st.run_len, st.eps_off, beta, SCALED_RANGE, *out
    )
    return out


@nb.njit(cache=True)
def _shifted_exp(x, lo, hi, beta, out, shift_out, k):
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
    shift_out[k] = m
    return (M - m) * beta


@nb.njit(cache=True)
def _exp_weights(
    node_off,
    run_ptr,
    run_pos0,
    run_len,
    eps_off,
    beta,
    max_range,
    w,
    wexp,
    ew,
    ewexp,
    sw,
    swexp,
    fw,
    fwexp,
    shift,
    needs_log,
):
    for g in range(node_off.shape[0] - 1):
        n0, n1 = node_off[g], node_off[g + 1]
        r0, r1 = run_ptr[n0], run_ptr[n1]
        p0 = run_pos0[r0] if r1 > r0 else 0
        p1 = run_pos0[r1 - 1] + run_len[r1 - 1] if r1 > r0 else 0
        rng = _shifted_exp(w, p0, p1, beta, wexp, shift[g], 0)
        rng = max(rng, _shifted_exp(sw, n0, n1, beta, swexp, shift[g], 1))
        rng = max(rng, _shifted_exp(fw, n0, n1, beta, fwexp, shift[g], 2))
        for i in range(eps_off[g], eps_off[g + 1]):
            ewexp[i] = np.exp(-beta * ew[i])
            if ew[i] < INF:
                rng = max(rng, abs(ew[i]) * beta)
        needs_log[g] = rng > max_range
