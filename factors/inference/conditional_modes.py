"""Iterated conditional modes (Besag 1986): each variable in turn takes its lowest-energy label
given its neighbours. Variables of one colour share no factor, so a colour class moves at once;
the energy never increases."""

from __future__ import annotations

import torch

from ..terms import EnergyTerms
from .loopy import BestSoFar, color_classes, starting_point, sweep_until_converged
from .result import InferenceResult


@torch.no_grad()
def icm(
    terms: EnergyTerms, init: torch.Tensor | None = None, max_sweeps: int = 100
) -> InferenceResult:
    """ICM from ``init`` (default: each variable's best unary label).

    Returns the local minimum (no single-variable change lowers the energy) with ``converged``
    True where a sweep changed nothing before ``max_sweeps``.
    """
    t = terms.detach()
    y = starting_point(t, init)
    best = BestSoFar(t, y)

    def sweep():
        changed = torch.zeros(t.batch_size, dtype=torch.bool)
        for idx in color_classes(t):
            cond = t.conditional(y, idx)
            current = cond.gather(2, y[:, idx, None]).squeeze(-1)
            low = cond.min(-1)
            # Move only on a strict improvement, so ties cannot cycle.
            better = low.values < current - 1e-9 * current.abs().clamp_min(1.0)
            y[:, idx] = torch.where(better, low.indices, y[:, idx])
            changed |= better.any(1)
        return y, ~changed

    converged, sweeps = sweep_until_converged(sweep, best, max_sweeps)
    return InferenceResult(best.y, best.energy, converged, sweeps, "icm", best.trace)
