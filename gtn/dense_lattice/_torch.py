"""Device-agnostic torch kernels for the dense lattice: what runs on a CUDA device (and on the
CPU when forced, see :mod:`._backend`).

The design follows k2's ``intersect_dense``: a graph batch is laid out once per device as padded
index tensors (emitting arcs grouped by destination state, padded to the largest in-degree, and
again by source state for the backward pass; padding points at an appended +inf weight), and
each frame is one batched gather, add and log-sum-exp (or min) over that padding, for every
utterance at once. Epsilon arcs form an acyclic subgraph; the closure after each frame runs
level by level (a state's level is the longest epsilon path into it), so that every level is
one batched step, the same closure the numba kernels run arc by arc in topological order.
In a state-labelled batch (CTC, HMM, ASG, CRF: see ``_prep``) a frame's emissions are gathered
once per state, not once per arc.

Everything stays in log space: each log-sum-exp is shifted by its
own extreme term, so nothing under- or overflows whatever the energy range, and no scaled
fast path or flush check is needed. Sums accumulate in float64 by default whatever the
emissions' dtype (the numba path's policy: a float32 result is the float64 one rounded);
``EBGTN_TORCH_ACCUMULATE=float32`` trades that exactness for speed on devices with slow float64.

The forward pass keeps alpha [B, T+1, Nmax] (after each closure); the backward pass is an
explicit beta recursion whose arc posteriors give every gradient, inside one
``torch.autograd.Function``: no autograd graph over the T frames. Nothing here reads a value
back to the host: lengths, choices and masks stay tensors on the emissions' device.
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np
import torch

INF = float("inf")


class Layout(NamedTuple):
    """A graph batch's structure as index tensors on one device (G graphs, Nmax states)."""

    node: torch.Tensor  # long [G, Nmax] global state id; padding -> N (an appended +inf)
    in_src: torch.Tensor  # long [G, Nmax, D] local source of each emitting arc into the state
    in_lab: torch.Tensor  # long [G, Nmax, D] its label
    in_arc: torch.Tensor  # long [G, Nmax, D] its arc in the batch; padding -> A (+inf weight)
    out_dst: torch.Tensor  # long [G, Nmax, Do] emitting arcs by source: local destination
    out_lab: torch.Tensor  # long [G, Nmax, Do]
    out_arc: torch.Tensor  # long [G, Nmax, Do]
    eps_fwd: tuple  # per level: (src, arc) [G, Nmax, Dk], epsilon arcs into level-k states
    eps_bwd: tuple  # per level: (dst, arc) [G, Nmax, Dk], epsilon arcs out of states k from a sink
    eps_in_src: torch.Tensor  # long [G, Nmax, De] all epsilon arcs into a state, kernel order
    eps_in_arc: torch.Tensor  # long [G, Nmax, De]
    arc_off: torch.Tensor  # long [G] first arc of each graph (alignments name local arcs)
    # state-labelled batch (see _prep): the label of the arcs into each state, long [G, Nmax];
    # a frame's emissions are then gathered per state, not per arc; else None
    state_lab: torch.Tensor | None
    num_arcs: int
    num_nodes: int


def to_device(x, device: torch.device) -> torch.Tensor:
    """A host array or tensor on ``device``. To a CUDA device it goes from pinned memory without
    blocking the host: a copy from pageable memory would wait for the work already queued."""
    x = torch.from_numpy(np.ascontiguousarray(x)) if isinstance(x, np.ndarray) else x
    if device.type == "cuda" and x.device.type == "cpu":
        return x.pin_memory().to(device, non_blocking=True)
    return x.to(device)


def _padded(key: np.ndarray, rows: int, cols: list, fills: list) -> list:
    """Group entries by ``key`` (already sorted by key, stable) into [rows, D] tables padded
    with ``fills``; D is the largest group (at least 1)."""
    counts = np.bincount(key, minlength=rows) if key.size else np.zeros(rows, np.int64)
    D = max(int(counts.max()) if rows else 0, 1)
    first = np.zeros(rows + 1, np.int64)
    np.cumsum(counts, out=first[1:])
    rank = np.arange(key.size) - first[key]
    out = []
    for col, fill in zip(cols, fills, strict=True):
        table = np.full((rows, D), fill, np.int64)
        table[key, rank] = col
        out.append(table)
    return out


def _levels(n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """Longest path (in arcs) into each of n states over the acyclic arcs src -> dst."""
    level = np.zeros(n, np.int64)
    for _ in range(src.size):  # at most (longest path) rounds change anything
        new = level.copy()
        np.maximum.at(new, dst, level[src] + 1)
        if np.array_equal(new, level):
            break
        level = new
    return level


def _build(batch, st, device) -> Layout:
    G = len(batch)
    node_off, arc_off = batch.node_offsets, batch.arc_offsets
    nodes = np.diff(node_off)
    Nmax = max(int(nodes.max()) if G else 0, 1)
    Ntot, A = int(node_off[-1]), int(arc_off[-1])
    graph_of_arc = np.repeat(np.arange(G), np.diff(arc_off))
    src = batch.src.astype(np.int64)
    dst = batch.dst.astype(np.int64)
    lab = batch.label.astype(np.int64)
    row_base = graph_of_arc * Nmax  # row of local state s of an arc's graph: base + s
    rows = G * Nmax

    emit = np.flatnonzero(lab >= 0)
    # by destination, then (label, source): the numba kernels' order, so ties break alike
    order = emit[np.lexsort((src[emit], lab[emit], row_base[emit] + dst[emit]))]
    in_src, in_lab, in_arc = _padded(
        row_base[order] + dst[order], rows, [src[order], lab[order], order], [0, 0, A]
    )
    order = emit[np.lexsort((dst[emit], lab[emit], row_base[emit] + src[emit]))]
    out_dst, out_lab, out_arc = _padded(
        row_base[order] + src[order], rows, [dst[order], lab[order], order], [0, 0, A]
    )

    eps = st.eps_arc  # topological order within each graph
    gn = row_base[eps]
    eps_in_src, eps_in_arc = _padded(*_by_key(gn + dst[eps], rows, src[eps], eps), [0, A])
    eps_fwd, eps_bwd = [], []
    if eps.size:
        gsrc, gdst = gn + src[eps], gn + dst[eps]
        level = _levels(rows, gsrc, gdst)
        rlevel = _levels(rows, gdst, gsrc)  # longest path from a state to an epsilon sink
        for k in range(1, int(level.max()) + 1):
            sel = level[gdst] == k
            eps_fwd.append(_padded(*_by_key(gdst[sel], rows, src[eps][sel], eps[sel]), [0, A]))
        for k in range(1, int(rlevel.max()) + 1):
            sel = rlevel[gsrc] == k
            eps_bwd.append(_padded(*_by_key(gsrc[sel], rows, dst[eps][sel], eps[sel]), [0, A]))

    node = np.full((G, Nmax), Ntot, np.int64)
    local = np.arange(Ntot) - np.repeat(node_off[:-1], nodes)
    node[np.repeat(np.arange(G), nodes), local] = np.arange(Ntot)

    def dev(x):  # a [G * Nmax, D] table -> [G, Nmax, D] on the device
        return to_device(x.reshape(G, Nmax, -1), device)

    return Layout(
        to_device(node, device),
        dev(in_src),
        dev(in_lab),
        dev(in_arc),
        dev(out_dst),
        dev(out_lab),
        dev(out_arc),
        tuple((dev(a), dev(b)) for a, b in eps_fwd),
        tuple((dev(a), dev(b)) for a, b in eps_bwd),
        dev(eps_in_src),
        dev(eps_in_arc),
        to_device(arc_off[:-1], device),
        dev(in_lab[:, :1]).reshape(G, Nmax) if st.state_labelled else None,
        A,
        Ntot,
    )


def _by_key(key: np.ndarray, rows: int, a: np.ndarray, b: np.ndarray) -> tuple:
    """(key, rows, [a, b]) with entries stably sorted by key, for :func:`_padded`."""
    o = np.argsort(key, kind="stable")
    return key[o], rows, [a[o], b[o]]


def layout(lat) -> Layout:
    """The lattice's graph layout on the emissions' device, cached on the graph batch."""
    device = lat.emissions.device
    key = ("torch_layout", str(device))
    cache = lat.graphs._cache
    if key not in cache:
        cache[key] = _build(lat.graphs, lat.structure, device)
    return cache[key]


class _Run(NamedTuple):
    """One call's tensors on the device, in the accumulation dtype."""

    lay: Layout
    em: torch.Tensor  # [B, T, V] the caller's emissions (cast frame by frame)
    lens: torch.Tensor  # long [B]
    w_pad: torch.Tensor  # [A + 1] arc energies, +inf appended for padding
    w_in: torch.Tensor  # [G, Nmax, D]
    w_out: torch.Tensor  # [G, Nmax, Do]
    sw: torch.Tensor  # [G, Nmax]
    fw: torch.Tensor  # [G, Nmax]
    g_of_b: torch.Tensor  # long [B] graph of each utterance
    acc: torch.dtype


def accumulate_dtype() -> torch.dtype:
    """float64 (default) or float32 from ``EBGTN_TORCH_ACCUMULATE``, read at each call."""
    name = os.environ.get("EBGTN_TORCH_ACCUMULATE", "float64")
    if name not in ("float64", "float32"):
        raise ValueError(f"EBGTN_TORCH_ACCUMULATE must be 'float64' or 'float32', got {name!r}")
    return torch.float64 if name == "float64" else torch.float32


def _run(lat, weights=None) -> _Run:
    lay = layout(lat)
    dev = lat.emissions.device
    acc = accumulate_dtype()
    g = lat.graphs
    w, sw, fw = weights if weights is not None else (g.weight, g.start_weight, g.final_weight)
    inf = torch.full((1,), INF, dtype=acc, device=dev)
    w_pad, sw_pad, fw_pad = (
        torch.cat([to_device(x.detach(), dev).to(acc), inf]) for x in (w, sw, fw)
    )
    B = lat.emissions.shape[0]
    G = lay.node.shape[0]
    lens = to_device(lat.lengths, dev)
    g_of_b = torch.zeros(B, dtype=torch.long, device=dev) if G == 1 else torch.arange(B, device=dev)
    return _Run(
        lay,
        lat.emissions.detach(),
        lens,
        w_pad,
        w_pad[lay.in_arc],
        w_pad[lay.out_arc],
        sw_pad[lay.node],
        fw_pad[lay.node],
        g_of_b,
        acc,
    )


def _gather(x: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
    """x [B, M] gathered at idx [G, Nmax, D] (G = 1 broadcasts) -> [B, Nmax, D]."""
    B = x.shape[0]
    flat = idx.reshape(idx.shape[0], -1)
    return torch.gather(x, 1, flat.expand(B, -1)).reshape(B, *idx.shape[1:])


def _softmin(x: torch.Tensor, beta: float | None, dim: int = -1) -> torch.Tensor:
    """-(1/beta) log sum exp(-beta x) over ``dim`` (+inf for no finite term); min for None."""
    m = x.amin(dim)
    if beta is None:
        return m
    # shifted by the smallest term (0 where there is none: +inf stays +inf through the log);
    # fewer kernels than torch.logsumexp, which also guards against -inf, absent here
    m = torch.where(m < INF, m, 0.0)
    z = (m.unsqueeze(dim) - x).exp_() if beta == 1.0 else ((m.unsqueeze(dim) - x) * beta).exp_()
    s = z.sum(dim).log_()
    return m - s if beta == 1.0 else m - s / beta


def _closure(r: _Run, a: torch.Tensor, beta) -> torch.Tensor:
    """Epsilon closure of state energies a [B, Nmax], level by level."""
    for src, arc in r.lay.eps_fwd:
        via = _gather(a, src) + r.w_pad[arc]
        a = _softmin(torch.cat([a[:, :, None], via], 2), beta)
    return a


def _closure_back(r: _Run, bv: torch.Tensor, beta) -> torch.Tensor:
    for dst, arc in r.lay.eps_bwd:
        via = _gather(bv, dst) + r.w_pad[arc]
        bv = _softmin(torch.cat([bv[:, :, None], via], 2), beta)
    return bv


def _frame(r: _Run, t: int) -> torch.Tensor:
    return r.em[:, t].to(r.acc)


def forward(r: _Run, beta) -> tuple[torch.Tensor, torch.Tensor]:
    """alpha [B, T+1, Nmax] after each closure and energies [B]: free energies at ``beta``, or
    minimum energies for ``beta=None``."""
    B, T, _ = r.em.shape
    Nmax = r.lay.node.shape[1]
    alpha = torch.empty((B, T + 1, Nmax), dtype=r.acc, device=r.em.device)
    a = _closure(r, r.sw.expand(B, -1), beta)
    alpha[:, 0] = a
    lay = r.lay
    for t in range(T):
        e = _frame(r, t)
        if lay.state_lab is not None:  # min / log-sum-exp first, then the state's emission
            new = _softmin(_gather(a, lay.in_src) + r.w_in, beta) + _gather(e, lay.state_lab)
        else:
            cand = _gather(a, lay.in_src) + r.w_in + _gather(e, lay.in_lab)
            new = _closure(r, _softmin(cand, beta), beta)
        a = torch.where((t < r.lens)[:, None], new, a)  # past its end an utterance stays put
        alpha[:, t + 1] = a
    energy = _softmin(a + r.fw, beta)
    return alpha, energy


def backward(r: _Run, beta: float, alpha, energy, gout, arc_grads: bool, out_dtype):
    """Posteriors times gout [B]: (emission grad [B, T, V] in ``out_dtype``, arc grad [A] or
    None, start grad [N], final grad [N]) in the accumulation dtype except the first."""
    B, T, V = r.em.shape
    lay = r.lay
    shared = lay.node.shape[0] == 1
    live = torch.isfinite(energy) & torch.isfinite(gout) & (gout != 0)
    go = torch.where(live, gout.to(r.acc), torch.zeros_like(energy))

    def cut(x, mask):
        """gout times the posteriors of a cut (every path crosses it once: a frame's emitting
        arcs, the starts, the finals) whose paths have energies x [B, ...] where ``mask``:
        normalised by their own sum relative to their own smallest energy, not by the
        forward's F (where beta * ulp(F) >= 1 that rounding is the whole exponent); and the
        free energy measured on the cut [B, 1] (+inf where it is empty)."""
        x = torch.where(mask, x, INF)
        low = x.flatten(1).min(1).values
        shift = torch.where(torch.isfinite(low), low, 0.0).reshape(-1, *[1] * (x.dim() - 1))
        terms = torch.where(mask & (x < INF), torch.exp((x - shift) * -beta), 0.0)
        z = terms.flatten(1).sum(1)
        c = torch.where(z > 0, go / torch.where(z > 0, z, 1.0), 0.0)
        free = torch.where(z > 0, low - torch.log(z) / beta, INF)
        return terms * c.reshape(shift.shape), free[:, None]

    def post(excess, mask, F):
        """gout * exp(-beta (excess - F)) where ``mask``; the where keeps inf * 0 out."""
        return torch.where(
            mask, torch.exp((excess - F[..., None]) * -beta) * go[:, None, None], 0.0
        )

    g_em = torch.zeros((B, T, V), dtype=out_dtype, device=r.em.device)
    g_in = torch.zeros_like(r.w_in.expand(B, -1, -1)) if arc_grads else None
    n_eps = len(lay.eps_bwd) > 0
    g_eps = torch.zeros_like(lay.eps_in_arc.expand(B, -1, -1), dtype=r.acc) if n_eps else None
    alive = live[:, None]
    aT = alpha[torch.arange(B, device=r.em.device), r.lens]
    g_fw, F = cut(aT + r.fw, alive)
    bv = _closure_back(r, r.fw.expand(B, -1), beta)

    def eps_grads(a, bv, mask, F):
        """An epsilon arc's posterior, with the free energy of the cut of its frame."""
        via = _gather(a, lay.eps_in_src) + r.w_pad[lay.eps_in_arc] + bv[:, :, None]
        return post(via, mask[:, :, None] & torch.isfinite(F)[:, :, None], F)

    if n_eps:
        g_eps += eps_grads(aT, bv, alive, F)
    for t in range(T - 1, -1, -1):
        act = (t < r.lens)[:, None] & alive
        a = alpha[:, t]
        e = _frame(r, t)
        ge = torch.zeros((B, V), dtype=r.acc, device=r.em.device)
        if lay.state_lab is not None:  # one emission per state: posteriors summed per state
            ebv = _gather(e, lay.state_lab) + bv
            p, F = cut(_gather(a, lay.in_src) + r.w_in + ebv[:, :, None], act[:, :, None])
            ge.scatter_add_(1, lay.state_lab.expand(B, -1), p.sum(2))
            nb = _softmin(_gather(ebv, lay.out_dst) + r.w_out, beta)
        else:
            cand = _gather(a, lay.in_src) + r.w_in + _gather(e, lay.in_lab) + bv[:, :, None]
            p, F = cut(cand, act[:, :, None])
            lab = lay.in_lab.reshape(lay.in_lab.shape[0], -1).expand(B, -1)
            ge.scatter_add_(1, lab, p.flatten(1))
            nb = _softmin(_gather(bv, lay.out_dst) + r.w_out + _gather(e, lay.out_lab), beta)
            nb = _closure_back(r, nb, beta)
        g_em[:, t] = ge
        if arc_grads:
            g_in += p
        bv = torch.where(act, nb, bv)
        if n_eps:
            g_eps += eps_grads(a, bv, act, F)
    g_sw = cut(r.sw + bv, alive)[0]
    return (g_em, *_weight_grads(r, g_in, g_eps, g_sw, g_fw, shared))


def _weight_grads(r: _Run, g_in, g_eps, g_sw, g_fw, shared: bool) -> tuple:
    """Per-utterance layout gradients -> (arc grad [A] or None, start grad [N], final [N])."""
    lay = r.lay
    A, N = lay.num_arcs, lay.num_nodes
    g_w = None
    if g_in is not None:
        g_w = torch.zeros(A + 1, dtype=r.acc, device=r.em.device)
        if shared:
            g_in = g_in.sum(0, keepdim=True)
        g_w.index_add_(0, lay.in_arc.flatten(), g_in.flatten())
        if g_eps is not None:
            g_w.index_add_(
                0, lay.eps_in_arc.flatten(), (g_eps.sum(0) if shared else g_eps).flatten()
            )
        g_w = g_w[:A]
    nodes = torch.zeros(N + 1, dtype=r.acc, device=r.em.device)
    g_s = nodes.index_add(0, lay.node.flatten(), (g_sw.sum(0) if shared else g_sw).flatten())[:N]
    g_f = nodes.index_add(0, lay.node.flatten(), (g_fw.sum(0) if shared else g_fw).flatten())[:N]
    return g_w, g_s, g_f


def backtrack(r: _Run, alpha, energy, gout, out_dtype):
    """A minimum-energy path per utterance, followed back from its best final state with the
    numba ``backtrack``'s tie-breaking (start, then epsilon arcs in kernel order, then emitting
    arcs by label and source: the first minimum). Returns (labels [B, T], local arcs [B, T],
    and with ``gout`` the gradients of :func:`backward`, else None)."""
    B, T, V = r.em.shape
    lay = r.lay
    dev = r.em.device
    bidx = torch.arange(B, device=dev)
    gb = r.g_of_b
    labels = torch.full((B, T), -1, dtype=torch.long, device=dev)
    arcs = torch.full((B, T), -1, dtype=torch.long, device=dev)
    aT = alpha[bidx, r.lens]
    cur = torch.argmin(aT + r.fw, 1)
    done = ~torch.isfinite(energy)
    grads = gout is not None
    if grads:
        go = torch.where(done, 0.0, gout.to(r.acc))
        g_em = torch.zeros((B, T, V), dtype=r.acc, device=dev)
        g_w = torch.zeros(lay.num_arcs + 1, dtype=r.acc, device=dev)
        g_s = torch.zeros(lay.num_nodes + 1, dtype=r.acc, device=dev)
        g_f = torch.zeros(lay.num_nodes + 1, dtype=r.acc, device=dev)
        g_f.index_add_(0, lay.node[gb, cur], go)
    De = lay.eps_in_src.shape[2]
    passes = len(lay.eps_fwd) + 1  # epsilon hops per frame <= levels
    inf_em = torch.full((B, lay.in_src.shape[2]), INF, dtype=r.acc, device=dev)
    for t in range(T, -1, -1):
        stepped = torch.zeros(B, dtype=torch.bool, device=dev)
        at = alpha[:, t]
        for _ in range(passes):
            start = r.sw[gb, cur] if t == 0 else torch.full_like(energy, INF)
            part = (t <= r.lens) & ~done & ~stepped
            es, ea = lay.eps_in_src[gb, cur], lay.eps_in_arc[gb, cur]
            c_eps = at.gather(1, es) + r.w_pad[ea]
            if t > 0:
                s, lb, ar = lay.in_src[gb, cur], lay.in_lab[gb, cur], lay.in_arc[gb, cur]
                c_em = alpha[:, t - 1].gather(1, s) + r.w_pad[ar] + _frame(r, t - 1).gather(1, lb)
            else:
                c_em = inf_em
            k = torch.argmin(torch.cat([start[:, None], c_eps, c_em], 1), 1)
            is_start = part & (k == 0)
            is_eps = part & (k >= 1) & (k <= De)
            is_em = part & (k > De)
            ke = (k - 1).clamp(0, De - 1)[:, None]
            if t > 0:
                km = (k - 1 - De).clamp(min=0)[:, None]
                lab_t, arc_t = lb.gather(1, km)[:, 0], ar.gather(1, km)[:, 0]
                labels[:, t - 1] = torch.where(is_em, lab_t, labels[:, t - 1])
                arcs[:, t - 1] = torch.where(is_em, arc_t - lay.arc_off[gb], arcs[:, t - 1])
                if grads:
                    v = torch.where(is_em, go, 0.0)
                    g_em[:, t - 1].scatter_add_(1, lab_t[:, None], v[:, None])
                    g_w.index_add_(0, arc_t, v)
                cur = torch.where(is_em, s.gather(1, km)[:, 0], cur)
            if grads:
                g_w.index_add_(0, ea.gather(1, ke)[:, 0], torch.where(is_eps, go, 0.0))
                g_s.index_add_(0, lay.node[gb, cur], torch.where(is_start, go, 0.0))
            cur = torch.where(is_eps, es.gather(1, ke)[:, 0], cur)
            done = done | is_start
            stepped = stepped | is_em
    if not grads:
        return labels, arcs, None
    N = lay.num_nodes
    return labels, arcs, (g_em.to(out_dtype), g_w[: lay.num_arcs], g_s[:N], g_f[:N])
