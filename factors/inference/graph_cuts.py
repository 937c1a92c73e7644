"""Graph cuts through networkx max-flow / min-cut (Boykov–Kolmogorov).

* ``graph_cut``: exact minimum of a binary energy with submodular pairwise terms,
  E(0,0) + E(1,1) <= E(0,1) + E(1,0) (Kolmogorov & Zabih 2004).
* ``alpha_expansion``: multi-label energies whose pairwise terms are a metric (Potts is one):
  each move lets any set of variables switch to label α, and is itself a binary submodular
  cut. The local optimum is within 2·max(V)/min(V≠0) of the global one (2 for Potts) when the
  unary energies are non-negative (Boykov, Veksler & Zabih 2001).

networkx runs in Python: expect seconds on 256×256 grids.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch
from networkx.algorithms.flow import boykov_kolmogorov

from ..terms import EnergyTerms
from .loopy import BestSoFar, finite, starting_point
from .result import InferenceResult


def min_cut(
    unary: np.ndarray, i: np.ndarray, j: np.ndarray, pair: np.ndarray, tol: float = 1e-9
) -> np.ndarray:
    """Exact argmin of Σ_v unary[v, x_v] + Σ_e pair[e, x_i, x_j] over binary x.

    Args:
        unary: [n, 2]; i, j: [E] variable pairs; pair: [E, 2, 2] submodular tables.
    Returns x [n] in {0, 1}.
    """
    n = unary.shape[0]
    a, b, c, d = pair[:, 0, 0], pair[:, 0, 1], pair[:, 1, 0], pair[:, 1, 1]
    w = b + c - a - d
    bad = np.flatnonzero(w < -tol * (1.0 + np.abs(pair).reshape(len(w), -1).max(1)))
    if bad.size:
        e = int(bad[0])
        raise ValueError(
            f"pairwise term {e} on variables ({int(i[e])}, {int(j[e])}) is not submodular: "
            f"E(0,0) + E(1,1) = {a[e] + d[e]:.6g} > E(0,1) + E(1,0) = {b[e] + c[e]:.6g}"
        )
    # E = A + (C - A) x_i + (D - C) x_j + (B + C - A - D)(1 - x_i) x_j; x = 1 is the sink side.
    theta = unary[:, 1] - unary[:, 0]
    theta = theta + np.bincount(i, c - a, minlength=n) + np.bincount(j, d - c, minlength=n)
    source, sink = n, n + 1
    g = nx.DiGraph()
    g.add_nodes_from(range(n + 2))
    pos = np.flatnonzero(theta > 0)
    neg = np.flatnonzero(theta < 0)
    g.add_weighted_edges_from(
        zip([source] * pos.size, pos.tolist(), theta[pos].tolist(), strict=True), weight="capacity"
    )
    g.add_weighted_edges_from(
        zip(neg.tolist(), [sink] * neg.size, (-theta[neg]).tolist(), strict=True), weight="capacity"
    )
    keep = w > 0
    key, inverse = np.unique(i[keep].astype(np.int64) * n + j[keep], return_inverse=True)
    cap = np.bincount(inverse, w[keep], minlength=key.size)
    g.add_weighted_edges_from(
        zip((key // n).tolist(), (key % n).tolist(), cap.tolist(), strict=True), weight="capacity"
    )
    _, (source_side, _) = nx.minimum_cut(g, source, sink, flow_func=boykov_kolmogorov)
    x = np.ones(n, dtype=np.int64)
    x[[v for v in source_side if v < n]] = 0
    return x


def _pairwise_only(t: EnergyTerms, what: str) -> None:
    for scopes, _ in t.cliques:
        if scopes.shape[1] != 2:
            raise ValueError(
                f"{what} handles unary and pairwise factors only, found arity {scopes.shape[1]}"
            )


@torch.no_grad()
def graph_cut(terms: EnergyTerms) -> InferenceResult:
    """Exact minimum of a binary (K = 2) energy with submodular pairwise factors."""
    t = finite(terms.detach())
    if t.num_labels != 2:
        raise ValueError(
            f"graph_cut needs binary variables (K = 2), got K = {t.num_labels}; use alpha_expansion"
        )
    _pairwise_only(t, "graph_cut")
    y = torch.zeros(t.batch_size, t.num_variables, dtype=torch.long)
    for b in range(t.batch_size):
        i, j, pair = _pairs(t, b)
        y[b] = torch.from_numpy(min_cut(t.unary[b].double().numpy(), i, j, pair))
    ones = torch.ones(t.batch_size, dtype=torch.bool)
    return InferenceResult(y, t.energy(y), ones, 1, "graph_cut")


def _pairs(t: EnergyTerms, b: int, labels=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All pairwise cliques of batch element b as (i, j, tables [E, 2, 2]). With ``labels``
    (current y [n], α) the tables are those of the expansion move instead."""
    ii, jj, tables = [], [], []
    for scopes, table in t.cliques:
        m, k = scopes.shape[0], t.num_labels
        full = table[min(b, table.shape[0] - 1)].expand(m, k, k)
        if labels is None:
            first = second = torch.arange(2).expand(m, 2)
        else:
            y, alpha = labels
            al = torch.full((m,), alpha)
            first = torch.stack([y[scopes[:, 0]], al], 1)  # [M, 2]: keep y_i, or switch to α
            second = torch.stack([y[scopes[:, 1]], al], 1)
        tab = full[torch.arange(m)[:, None, None], first[:, :, None], second[:, None, :]]
        ii.append(scopes[:, 0].numpy())
        jj.append(scopes[:, 1].numpy())
        tables.append(tab.double().numpy())
    if not tables:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 2, 2))
    return np.concatenate(ii), np.concatenate(jj), np.concatenate(tables)


@torch.no_grad()
def alpha_expansion(
    terms: EnergyTerms, init: torch.Tensor | None = None, max_cycles: int = 10
) -> InferenceResult:
    """α-expansion over all labels, cycle after cycle until no expansion lowers the energy.

    Pairwise factors must be metric on every expansion move (checked; Potts with a
    non-negative strength is). Returns the local optimum; ``converged`` where a full cycle
    made no change.
    """
    t = finite(terms.detach())
    _pairwise_only(t, "alpha_expansion")
    y = starting_point(t, init)
    best = BestSoFar(t, y)
    converged = torch.zeros(t.batch_size, dtype=torch.bool)
    cycles = 0
    for b in range(t.batch_size):
        yb = best.y[b].clone()
        eb = best.energy[b]
        sub = EnergyTerms(
            t.unary[b : b + 1], [(s, tb[min(b, tb.shape[0] - 1)][None]) for s, tb in t.cliques]
        )
        for cycle in range(1, max_cycles + 1):
            cycles = max(cycles, cycle)
            improved = False
            for alpha in range(t.num_labels):
                un = torch.stack([t.unary[b].gather(1, yb[:, None])[:, 0], t.unary[b, :, alpha]], 1)
                i, j, pair = _pairs(sub, 0, (yb, alpha))
                x = torch.from_numpy(min_cut(un.double().numpy(), i, j, pair)).bool()
                cand = torch.where(x, alpha, yb)
                ec = sub.energy(cand[None])[0]
                if ec < eb - 1e-9 * max(1.0, abs(float(eb))):
                    yb, eb, improved = cand, ec, True
            if not improved:
                converged[b] = True
                break
        best.offer(torch.where(torch.arange(t.batch_size)[:, None] == b, yb, best.y))
    best.record()
    return InferenceResult(best.y, best.energy, converged, cycles, "alpha_expansion", best.trace)
