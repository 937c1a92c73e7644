"""Reference answers by brute-force enumeration of every assignment (small graphs only)."""

from __future__ import annotations

import itertools

import torch

from factors import FactorGraph


def all_assignments(n: int, k: int) -> torch.Tensor:
    """[K^n, n] every labelling, in lexicographic order."""
    return torch.tensor(list(itertools.product(range(k), repeat=n)), dtype=torch.long)


def all_energies(graph: FactorGraph, x, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(assignments [A, n], energies [B, A]) by evaluating E(x, y) for every y."""
    ys = all_assignments(graph.num_variables, graph.num_labels)
    terms = graph.terms(x, batch)
    energies = torch.stack([terms.energy(y.expand(terms.batch_size, -1)) for y in ys], 1)
    return ys, energies


def free_energy(energies: torch.Tensor, beta: float) -> torch.Tensor:
    return -torch.logsumexp(-beta * energies, 1) / beta


def marginals(ys: torch.Tensor, energies: torch.Tensor, beta: float, k: int) -> torch.Tensor:
    p = torch.softmax(-beta * energies, 1)  # [B, A]
    onehot = torch.nn.functional.one_hot(ys, k).to(p.dtype)  # [A, n, K]
    return torch.einsum("ba,ank->bnk", p, onehot)
