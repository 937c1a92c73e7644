"""What every inference engine returns."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class InferenceResult:
    """An assignment and its energy (lower is better).

    Attributes:
        assignment: [B, n] labels.
        energy: [B] energy of ``assignment``; differentiable wrt the factors when the energy
            terms were (exact inference keeps the graph, loopy engines recompute it).
        converged: [B] bool; exact engines always converge, iterative ones report whether
            their stopping test passed before ``iterations`` ran out.
        iterations: sweeps (or expansion cycles) run.
        method: the engine that produced the result.
        trace: mean energy of the best assignment so far after each sweep (iterative engines).
        marginals: [B, n, K] beliefs, for engines that compute them (mean field).
    """

    assignment: torch.Tensor
    energy: torch.Tensor
    converged: torch.Tensor
    iterations: int
    method: str
    trace: list[float] = field(default_factory=list)
    marginals: torch.Tensor | None = None
