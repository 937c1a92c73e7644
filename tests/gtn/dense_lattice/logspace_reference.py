"""Test-only reference for dense intersection: a plain-torch float64 log-space forward.

It shares no code with the numba kernels: the lattice of each utterance is walked frame by
frame with torch gathers and scatters, in float64 and in log space throughout (no rescaling,
no probability space), and every gradient (label posteriors, expected arc counts, the best
path's indicator) comes from torch autograd through that recursion.

Energies, lower is better. For utterance b with graph g and emissions em [T, V], a path's
energy is start weight + sum over frames (arc weight + em[t, label]) + final weight, epsilon
arcs (``gtn.EPSILON``) consuming no frame; epsilon arcs must be acyclic.

    free_energy = -(1/beta) log sum_paths exp(-beta E)        min_energy = min_paths E

An utterance with no complete path has energy +inf and gradient zero.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

import gtn

INF = float("inf")
F64 = torch.float64


def _as_graphs(graphs, B: int) -> list[gtn.Graph]:
    if isinstance(graphs, gtn.Graph):
        return [graphs] * B
    if hasattr(graphs, "graphs") and not isinstance(graphs, Sequence):  # a GraphBatch
        graphs = graphs.graphs()
    graphs = list(graphs)
    return graphs * B if len(graphs) == 1 and B != 1 else graphs


class _Packed:
    """All B utterances' graphs as one disjoint graph (node ids offset), so that each frame is a
    handful of torch operations whatever B is."""

    def __init__(self, graphs: list[gtn.Graph], lengths: np.ndarray):
        counts = [g.num_nodes for g in graphs]
        off = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.num_nodes = int(off[-1])
        self.node_utt = torch.from_numpy(np.repeat(np.arange(len(graphs)), counts))
        src, dst, lab, utt = [], [], [], []
        for b, g in enumerate(graphs):
            src.append(g.src.astype(np.int64) + off[b])
            dst.append(g.dst.astype(np.int64) + off[b])
            lab.append(g.ilabel.astype(np.int64))
            utt.append(np.full(g.num_arcs, b, np.int64))
        src, dst, lab, utt = (np.concatenate(x) if x else np.zeros(0, np.int64) for x in (
            src, dst, lab, utt))  # fmt: skip
        self.weight = torch.cat([g.weight.to(F64) for g in graphs])
        self.start = torch.cat([g.start_weight.to(F64) for g in graphs])
        self.final = torch.cat([g.final_weight.to(F64) for g in graphs])
        emit = lab != gtn.EPSILON
        t = torch.from_numpy
        self.e_src, self.e_dst = t(src[emit]), t(dst[emit])
        self.e_lab, self.e_utt = t(lab[emit]), t(utt[emit])
        self.e_idx = t(np.flatnonzero(emit))
        self.eps_levels = [
            (t(src[i]), t(dst[i]), t(i)) for i in _epsilon_levels(src, dst, ~emit, self.num_nodes)
        ]
        self.active_until = t(np.repeat(lengths, counts))  # a node's utterance length


def _epsilon_levels(src, dst, eps, n) -> list[np.ndarray]:
    """Epsilon arc indices grouped so that every arc's source is final before its group runs:
    the group of an arc is the longest epsilon path ending at its destination."""
    arcs = np.flatnonzero(eps)
    if arcs.size == 0:
        return []
    level = np.zeros(n, np.int64)
    for _ in range(n + 1):  # longest-path relaxation; a cycle never settles
        new = level.copy()
        np.maximum.at(new, dst[arcs], level[src[arcs]] + 1)
        if (new == level).all():
            break
        level = new
    else:
        raise ValueError("the epsilon arcs have a cycle")
    return [arcs[level[dst[arcs]] == k] for k in range(1, int(level.max()) + 1)]


def _reduce(x: torch.Tensor, idx: torch.Tensor, n: int, beta: float | None) -> torch.Tensor:
    """Per destination, -(1/beta) log sum exp(-beta x) (log semiring) or min x (beta None)."""
    m = torch.full((n,), INF, dtype=F64).scatter_reduce(0, idx, x, "amin", include_self=True)
    if beta is None:
        return m
    shift = m.detach()  # the log-sum-exp does not depend on the shift: no gradient through it
    shift = torch.where(torch.isfinite(shift), shift, torch.zeros_like(shift))
    z = torch.exp(-beta * (x - shift[idx]))  # <= 1: no overflow; +inf energies give 0
    s = torch.zeros(n, dtype=F64).index_add(0, idx, z)
    pos = s > 0
    return torch.where(pos, shift - torch.log(torch.where(pos, s, torch.ones_like(s))) / beta, INF)


def _closure(p: _Packed, alpha: torch.Tensor, beta) -> torch.Tensor:
    for src, dst, i in p.eps_levels:
        cand = alpha[src] + p.weight[i]
        idx = torch.cat([torch.arange(p.num_nodes), dst])
        alpha = _reduce(torch.cat([alpha, cand]), idx, p.num_nodes, beta)
    return alpha


def _energy(graphs, emissions: torch.Tensor, lengths, beta: float | None) -> torch.Tensor:
    B, T, _ = emissions.shape
    lens = np.full(B, T, np.int64) if lengths is None else np.asarray(lengths, np.int64)
    p = _Packed(_as_graphs(graphs, B), lens)
    em = emissions.to(F64)
    alpha = _closure(p, p.start, beta)
    for t in range(int(lens.max()) if B else 0):
        cand = alpha[p.e_src] + p.weight[p.e_idx] + em[p.e_utt, t, p.e_lab]
        new = _closure(p, _reduce(cand, p.e_dst, p.num_nodes, beta), beta)
        alpha = torch.where(t < p.active_until, new, alpha)
    return _reduce(alpha + p.final, p.node_utt, B, beta)


def free_energy(graphs, emissions: torch.Tensor, lengths=None, beta: float = 1.0) -> torch.Tensor:
    """[B] float64 free energies of ``graphs`` (one shared Graph, B graphs or a GraphBatch)
    intersected with ``emissions`` [B, T, V]; differentiable in emissions and graph weights."""
    return _energy(graphs, emissions, lengths, float(beta))


def min_energy(graphs, emissions: torch.Tensor, lengths=None) -> torch.Tensor:
    """[B] float64 minimum path energies (gradient: the best path's indicator, shared equally
    between tied paths)."""
    return _energy(graphs, emissions, lengths, None)


def label_posteriors(graphs, emissions: torch.Tensor, lengths=None, beta: float = 1.0):
    """[B, T, V] float64 label posteriors: the gradient of the summed free energy with respect
    to the emissions (zero for utterances with no path)."""
    em = emissions.detach().to(F64).requires_grad_(True)
    F = free_energy(graphs, em, lengths, beta)
    live = torch.isfinite(F)
    if not live.any():
        return torch.zeros_like(em)
    if not F.requires_grad:  # no frame: nothing depends on the emissions
        return torch.zeros_like(em)
    (g,) = torch.autograd.grad(F[live].sum(), em, allow_unused=True)
    return torch.zeros_like(em) if g is None else g


def chain_path_energy(emissions, tags, transitions, start, end, lengths) -> torch.Tensor:
    """[B] float64 energy of tag sequences under a linear-chain CRF, by plain indexing."""
    out = []
    for b in range(emissions.shape[0]):
        L = int(lengths[b])
        y = tags[b, :L].long()
        e = emissions[b, torch.arange(L), y].to(F64).sum()
        e = e + transitions[y[:-1], y[1:]].to(F64).sum() + start[y[0]].to(F64) + end[y[-1]]
        out.append(e.to(F64))
    return torch.stack(out)


def alignment_energy(graphs, emissions, lengths, arcs: torch.Tensor) -> torch.Tensor:
    """[B] float64 energy of the path given by its emitting arc per frame (``Alignment.arcs``),
    with the epsilon arcs between frames chosen at their best; +inf if the arcs do not chain
    from a start to a final state."""
    B, T, _ = emissions.shape
    gs = _as_graphs(graphs, B)
    out = []
    for b in range(B):
        g, L = gs[b], int(lengths[b])
        a = arcs[b, :L].long().tolist()
        w = g.weight.to(F64)
        eps = _epsilon_distances(g)
        sw, fw = g.start_weight.to(F64), g.final_weight.to(F64)
        if L == 0:
            e = (sw[:, None] + eps + fw[None, :]).min()
        else:
            e = (sw + eps[:, int(g.src[a[0]])]).min()
            for t, arc in enumerate(a):
                e = e + w[arc] + emissions[b, t, int(g.ilabel[arc])].to(F64)
                if t + 1 < L:
                    e = e + eps[int(g.dst[arc]), int(g.src[a[t + 1]])]
            e = e + (eps[int(g.dst[a[-1]])] + fw).min()
        out.append(e)
    return torch.stack(out)


def _epsilon_distances(g: gtn.Graph) -> torch.Tensor:
    """[N, N] float64 minimum energy over epsilon-only paths (0 on the diagonal)."""
    n = g.num_nodes
    d = torch.full((n, n), INF, dtype=F64)
    d.fill_diagonal_(0.0)
    w = g.weight.detach().to(F64)
    for i in np.flatnonzero(g.ilabel == gtn.EPSILON):
        s, t = int(g.src[i]), int(g.dst[i])
        d[s, t] = torch.minimum(d[s, t], w[i])
    for k in range(n):  # Floyd-Warshall
        d = torch.minimum(d, d[:, k : k + 1] + d[k : k + 1, :])
    return d
