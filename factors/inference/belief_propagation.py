"""Loopy min-sum belief propagation with damping (max-product in the energy domain).

Messages go from each clique to each of its variables, [B, M, r, K] per clique set, all updated
in parallel ("flooding"). On a tree this is exact; on loopy graphs it is the usual
approximation, so the engine keeps the best decoded assignment seen.
"""

from __future__ import annotations

import torch

from ..terms import EnergyTerms
from .loopy import BestSoFar, finite, starting_point, sweep_until_converged
from .result import InferenceResult


def _broadcast_at(m: torch.Tensor, axis: int, r: int) -> torch.Tensor:
    """[B, M, K] -> [B, M, 1, .., K (at label axis ``axis``), .., 1] over r label axes."""
    shape = [m.shape[0], m.shape[1]] + [1] * r
    shape[2 + axis] = m.shape[2]
    return m.reshape(shape)


def _beliefs(t: EnergyTerms, messages: list[torch.Tensor]) -> torch.Tensor:
    belief = t.unary.clone()
    for (scopes, _), msg in zip(t.cliques, messages, strict=True):
        for p in range(scopes.shape[1]):
            belief.index_add_(1, scopes[:, p], msg[:, :, p])
    return belief


def _clique_messages(
    scopes: torch.Tensor, table: torch.Tensor, to_factor: torch.Tensor
) -> torch.Tensor:
    """min over the other variables of table + their variable-to-clique messages: [B, M, r, K]."""
    b, m, r, k = to_factor.shape
    full = table.expand(b, m, *table.shape[2:])
    out = []
    for p in range(r):
        s = full
        for q in range(r):
            if q != p:
                s = s + _broadcast_at(to_factor[:, :, q], q, r)
        other_axes = tuple(2 + q for q in range(r) if q != p)
        msg = s.amin(dim=other_axes)
        out.append(msg - msg.amin(-1, keepdim=True))  # normalise: only differences matter
    return torch.stack(out, 2)


@torch.no_grad()
def min_sum(
    terms: EnergyTerms,
    init: torch.Tensor | None = None,
    max_iters: int = 50,
    damping: float = 0.5,
    tol: float = 1e-5,
) -> InferenceResult:
    """Loopy min-sum; each new message is ``damping * old + (1 - damping) * new``.

    Returns the best decoded assignment argmin(beliefs) seen, never worse than ``init``;
    ``converged`` where the largest message change fell below ``tol``.
    """
    t = finite(terms.detach())
    best = BestSoFar(t, starting_point(t, init))
    b, _, k = t.unary.shape
    messages = [t.unary.new_zeros(b, s.shape[0], s.shape[1], k) for s, _ in t.cliques]

    def iteration():
        belief = _beliefs(t, messages)
        delta = t.unary.new_zeros(b)
        for i, (scopes, table) in enumerate(t.cliques):
            old = messages[i]
            to_factor = (
                torch.stack([belief[:, scopes[:, p]] for p in range(scopes.shape[1])], 2) - old
            )
            new = damping * old + (1.0 - damping) * _clique_messages(scopes, table, to_factor)
            delta = torch.maximum(delta, (new - old).abs().flatten(1).amax(1))
            messages[i] = new
        return _beliefs(t, messages).argmin(-1), delta < tol

    converged, iters = sweep_until_converged(iteration, best, max_iters)
    return InferenceResult(best.y, best.energy, converged, iters, "min_sum", best.trace)
