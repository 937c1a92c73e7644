"""Shared pieces of the iterative engines: the starting point, the anytime best-so-far record,
the colour classes that can be updated together, and the sweep loop."""

from __future__ import annotations

from collections.abc import Callable

import torch

from ..terms import EnergyTerms


def starting_point(terms: EnergyTerms, init: torch.Tensor | None) -> torch.Tensor:
    """``init`` [B, n] (or [B, *shape]), else each variable's lowest unary energy."""
    if init is None:
        return terms.unary.argmin(-1)
    y = torch.as_tensor(init).long()
    y = y.reshape(y.shape[0], -1) if y.dim() > 1 else y[None]
    return y.expand(terms.batch_size, terms.num_variables).clone()


def color_classes(terms: EnergyTerms) -> list[torch.Tensor]:
    """Index tensors of the variables of each colour (one class per variable if uncoloured)."""
    colors = terms.coloring
    if colors is None:
        return [torch.tensor([i]) for i in range(terms.num_variables)]
    return [torch.nonzero(colors == c).flatten() for c in torch.unique(colors).tolist()]


def finite(terms: EnergyTerms) -> EnergyTerms:
    """Replace +inf energies (labels outside a domain) by a large finite value, so that
    message arithmetic never meets inf - inf."""

    def clamp(t: torch.Tensor) -> torch.Tensor:
        if bool(torch.isfinite(t).all()):
            return t
        scale = (
            t[torch.isfinite(t)].abs().max() if bool(torch.isfinite(t).any()) else t.new_ones(())
        )
        return torch.nan_to_num(t, posinf=float(1e4 * (1.0 + scale)))

    return EnergyTerms(
        clamp(terms.unary), [(s, clamp(t)) for s, t in terms.cliques], terms.coloring
    )


class BestSoFar:
    """Per batch element, the lowest-energy assignment seen: iterative engines are never worse
    than their starting point."""

    def __init__(self, terms: EnergyTerms, y: torch.Tensor):
        self.terms = terms
        self.y = y.clone()
        self.energy = terms.energy(y)
        self.trace = [float(self.energy.mean())]

    def offer(self, y: torch.Tensor) -> None:
        e = self.terms.energy(y)
        better = e < self.energy
        self.y[better] = y[better]
        self.energy = torch.where(better, e, self.energy)

    def record(self) -> None:
        self.trace.append(float(self.energy.mean()))


def sweep_until_converged(
    sweep: Callable[[], tuple[torch.Tensor, torch.Tensor]], best: BestSoFar, max_sweeps: int
) -> tuple[torch.Tensor, int]:
    """Run ``sweep`` (one pass over the variables; returns the assignment [B, n] to offer to
    ``best`` and which batch elements have converged [B]) until every element has converged
    or ``max_sweeps`` ran. Returns (converged [B], sweeps run)."""
    converged = torch.zeros(best.y.shape[0], dtype=torch.bool)
    sweeps = 0
    while sweeps < max_sweeps:
        sweeps += 1
        y, done = sweep()
        best.offer(y)
        best.record()
        converged |= done
        if bool(converged.all()):
            break
    return converged, sweeps
