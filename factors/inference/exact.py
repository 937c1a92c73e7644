"""What the exact engines (chains as gtn lattices, trees by dynamic programming) share: the
marginals are the gradient of the free energy with respect to the unary energies."""

from __future__ import annotations

import torch

from ..terms import EnergyTerms


class ExactEngine:
    """Base of the exact engines; a subclass gives ``free_energy(terms, beta)`` -> [B]."""

    def free_energy(self, terms: EnergyTerms, beta: float = 1.0) -> torch.Tensor:
        raise NotImplementedError  # pragma: no cover - abstract

    def marginals(self, terms: EnergyTerms, beta: float = 1.0) -> torch.Tensor:
        """P(y_i = k) = dF/d unary[i, k], by autograd of the free energy: [B, n, K]
        (differentiable itself when grad is enabled)."""
        probe = torch.zeros_like(terms.unary, requires_grad=True)
        with torch.enable_grad():
            f = self.free_energy(terms.with_unary(probe), beta)
            (grad,) = torch.autograd.grad(f.sum(), probe, create_graph=torch.is_grad_enabled())
        return grad
