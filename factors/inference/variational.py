"""Naive mean field: a factorised q(y) = Π_i q_i(y_i) minimising the variational free energy
E_q[E] - H(q)/β. Updating one colour class at a time is coordinate descent, so that free
energy never increases."""

from __future__ import annotations

import torch

from ..terms import EnergyTerms
from .loopy import BestSoFar, color_classes, finite, starting_point, sweep_until_converged
from .result import InferenceResult


@torch.no_grad()
def mean_field(
    terms: EnergyTerms,
    init: torch.Tensor | None = None,
    beta: float = 1.0,
    max_sweeps: int = 50,
    damping: float = 0.0,
    tol: float = 1e-4,
) -> InferenceResult:
    """Mean-field inference; q starts at softmax(-β unary).

    Returns the best decoded assignment argmax q seen (never worse than ``init``), the
    beliefs q as ``marginals`` [B, n, K], and ``converged`` where max |Δq| < tol.
    """
    t = finite(terms.detach())
    best = BestSoFar(t, starting_point(t, init))
    q = torch.softmax(-beta * t.unary, -1)

    def sweep():
        delta = torch.zeros(t.batch_size, dtype=q.dtype)
        for idx in color_classes(t):
            new = torch.softmax(-beta * t.expected_conditional(q, idx), -1)
            new = damping * q[:, idx] + (1.0 - damping) * new
            delta = torch.maximum(delta, (new - q[:, idx]).abs().amax((1, 2)))
            q[:, idx] = new
        return q.argmax(-1), delta < tol

    converged, sweeps = sweep_until_converged(sweep, best, max_sweeps)
    result = InferenceResult(
        best.y, terms.energy(best.y), converged, sweeps, "mean_field", best.trace
    )
    result.marginals = q
    return result
