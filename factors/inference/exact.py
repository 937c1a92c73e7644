"""What the exact engines (chains as gtn lattices, trees by dynamic programming) share: the
pairwise tables summed per edge, and the marginals as the gradient of the free energy with
respect to the unary energies."""

from __future__ import annotations

import torch

from ..terms import EnergyTerms


def edge_tables(terms: EnergyTerms, clique_edges: list, num_edges: int) -> torch.Tensor:
    """All pairwise tables summed per edge: [B, E, K, K] (the edge's first label, its second).
    ``clique_edges``: per pairwise clique set, (edge [M], flip [M] bool: the clique's scope
    runs against the edge, so its table is transposed)."""
    b, k = terms.batch_size, terms.num_labels
    out = terms.unary.new_zeros(b, num_edges, k, k)
    for (scopes, table), (edge, flip) in zip(terms.cliques, clique_edges, strict=True):
        t = table.expand(b, scopes.shape[0], k, k)
        t = torch.where(flip[None, :, None, None], t.transpose(-1, -2), t)
        out = out.index_add(1, edge, t)
    return out


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
