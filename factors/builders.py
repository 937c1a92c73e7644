"""Convenience builders: ``chain`` (sequence labelling) and ``grid`` (image labelling).

Unary networks return energies, so wrap scores as ``-scores``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .factor import Factor, Pairwise, Patch, Potts, Unary, UnaryTable
from .graph import FactorGraph

PairwiseSpec = str | torch.Tensor | Callable[[torch.Tensor, int], Factor] | None


class _Reshape(nn.Module):
    """Runs a network and reshapes its [B, *shape, K] output to [B, n, K]."""

    def __init__(self, network: Callable[..., torch.Tensor], n: int, k: int):
        super().__init__()
        self.network, self.n, self.k = network, n, k

    def forward(self, x) -> torch.Tensor:
        out = self.network(x)
        return out.reshape(out.shape[0], self.n, self.k)


def _pairwise(spec: PairwiseSpec, scopes: torch.Tensor, k: int) -> Factor | None:
    if spec is None:
        return None
    if isinstance(spec, torch.Tensor):
        return Pairwise(scopes, k, spec, learnable=False)
    if spec == "full":
        return Pairwise(scopes, k)
    if spec == "potts":
        return Potts(scopes, k)
    if callable(spec):
        return spec(scopes, k)
    raise ValueError(
        f"pairwise must be 'full', 'potts', a fixed [K, K] table, a factory or None; got {spec!r}"
    )


def chain(
    n: int,
    num_labels: int,
    unary: Callable[..., torch.Tensor] | None = None,
    pairwise: PairwiseSpec = "full",
    boundary: bool = False,
) -> FactorGraph:
    """A linear chain y_0 - y_1 - ... - y_{n-1}.

    Args:
        unary: a network x -> [B, n, K] energies (e.g. ``-emission_scores``).
        pairwise: "full" (a learnable [K, K] transition table tied along the chain), "potts",
            a fixed [K, K] tensor, a factory ``(scopes [n-1, 2], K) -> Factor``, or None.
        boundary: add learnable start and end energies on y_0 and y_{n-1} (as in a CRF).

    With linear unary factors and ``boundary=True`` this is Lafferty's linear-chain CRF.
    """
    g = FactorGraph(n, num_labels, shape=(n,))
    if unary is not None:
        g.add(Unary(unary, range(n), num_labels))
    idx = torch.arange(n)
    pair = _pairwise(pairwise, torch.stack([idx[:-1], idx[1:]], 1), num_labels)
    if pair is not None and n > 1:
        g.add(pair)
    if boundary:
        g.add(UnaryTable([0], num_labels))
        g.add(UnaryTable([n - 1], num_labels))
    return g


def grid_scopes(h: int, w: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Row-major variable ids of a h×w grid: horizontal pairs [h(w-1), 2], vertical pairs
    [(h-1)w, 2] and 2×2 patches [(h-1)(w-1), 4] (top-left, top-right, bottom-left, bottom-right)."""
    idx = torch.arange(h * w).reshape(h, w)
    horizontal = torch.stack([idx[:, :-1].flatten(), idx[:, 1:].flatten()], 1)
    vertical = torch.stack([idx[:-1, :].flatten(), idx[1:, :].flatten()], 1)
    corners = (idx[:-1, :-1], idx[:-1, 1:], idx[1:, :-1], idx[1:, 1:])
    patches = torch.stack([c.flatten() for c in corners], 1)
    return horizontal, vertical, patches


def grid(
    h: int,
    w: int,
    num_labels: int,
    unary: Callable[..., torch.Tensor] | None = None,
    pairwise: PairwiseSpec = "potts",
    patch: str | torch.Tensor | bool | None = None,
) -> FactorGraph:
    """A 4-connected h×w grid, variables in row-major order (assignments [B, h, w] or [B, h·w]).

    Args:
        unary: a network x -> [B, h, w, K] (or [B, h·w, K]) energies, e.g. a convolutional
            labeller's ``-log_softmax``.
        pairwise: as in :func:`chain`; one factor covers every horizontal and vertical edge.
        patch: 2×2 interaction energies: True / "learnable" for a learnable [K, K, K, K] table,
            or a fixed tensor.

    Every energy is a gather over the clique index tensors (tensor ops, no loops over pixels).
    Variables are coloured so that ICM / Gibbs / mean field update whole colour classes: a
    checkerboard (2 colours), or 4 colours (row and column parity) when patches are present.
    """
    n, k = h * w, num_labels
    g = FactorGraph(n, k, shape=(h, w))
    if unary is not None:
        g.add(Unary(_Reshape(unary, n, k), range(n), k))
    horizontal, vertical, patches = grid_scopes(h, w)
    pair = _pairwise(pairwise, torch.cat([horizontal, vertical]), k)
    if pair is not None and n > 1:
        g.add(pair)
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    if patch is not None and patch is not False and h > 1 and w > 1:
        table = patch if isinstance(patch, torch.Tensor) else None
        g.add(Patch(patches, k, table, learnable=table is None))
        g.coloring = ((rows % 2) * 2 + cols % 2).flatten()
    else:
        g.coloring = ((rows + cols) % 2).flatten()
    return g
