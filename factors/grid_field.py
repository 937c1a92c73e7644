"""Pairwise grid models with tied tables at arbitrary offsets, and differentiable mean field.

An image-sized model with association energies U [B, H, W, K] and, for each offset d = (dr, dc),
a table V_d [K, K] shared by every pixel pair (i, i + d) inside the grid:

    E(y) = β_u Σ_i U[i, y_i] + Σ_d Σ_i V_d[y_i, y_{i+d}].

Offsets may be long ((0, 4) couples pixels four columns apart), which is what lets a pairwise
model fill in regions larger than a 3×3 neighbourhood. The generic :class:`~factors.FactorGraph`
engines handle these models too (one clique list per offset); this module adds the grid-shaped
computation — dilated 3×3 convolutions (or shifts) of the belief maps instead of gathers over
clique lists — which is two orders of magnitude faster and differentiable, so that a loss on
the mean-field beliefs can be backpropagated into the tables and the network that produced U
(mean field unrolled as a recurrent network; Domke 2013, Zheng et al. 2015).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

Offset = tuple[int, int]


def shift(x: torch.Tensor, offset: Offset) -> torch.Tensor:
    """s[:, r, c] = x[:, r + dr, c + dc] where that pixel exists, else 0. x: [B, H, W, K]."""
    dr, dc = offset
    h, w = x.shape[1], x.shape[2]
    if abs(dr) >= h or abs(dc) >= w:
        return torch.zeros_like(x)
    padded = F.pad(x, (0, 0, abs(dc), abs(dc), abs(dr), abs(dr)))
    r0, c0 = abs(dr) + dr, abs(dc) + dc
    return padded[:, r0 : r0 + h, c0 : c0 + w]


def check_pairwise(pairwise: Sequence[tuple[Offset, torch.Tensor]], k: int) -> None:
    """Clear errors for malformed (offset, table) lists."""
    for n, (offset, table) in enumerate(pairwise):
        if len(offset) != 2 or tuple(offset) == (0, 0):
            raise ValueError(f"pairwise term {n}: offset {offset!r} must be a nonzero (dr, dc)")
        if tuple(table.shape) != (k, k):
            raise ValueError(
                f"pairwise term {n} (offset {tuple(offset)}): table shape {tuple(table.shape)}, "
                f"expected ({k}, {k})"
            )


def _kernels(
    pairwise: Sequence[tuple[Offset, torch.Tensor]],
) -> list[tuple[int, torch.Tensor | None, list[tuple[Offset, torch.Tensor]]]]:
    """Group the pairwise terms for convolution: offsets whose components are in {-d, 0, d}
    become taps of one 3×3 kernel dilated by d ([K, K, 3, 3]: the pixel reads its neighbour at
    +o through V_o[a, ·] and at -o through V_o[·, a]); any other offset stays a shift."""
    taps: dict[int, list[tuple[Offset, torch.Tensor]]] = {}
    shifts = []
    for (dr, dc), table in pairwise:
        d = max(abs(dr), abs(dc))
        if dr in (-d, 0, d) and dc in (-d, 0, d):
            taps.setdefault(d, []).append(((dr // d, dc // d), table))
        else:
            shifts.append(((dr, dc), table))
    groups = []
    for d, terms in taps.items():
        k = terms[0][1].shape[0]
        cells = [[[] for _ in range(3)] for _ in range(3)]
        for (r, c), table in terms:
            cells[1 + r][1 + c].append(table)
            cells[1 - r][1 - c].append(table.T)
        zero = terms[0][1].new_zeros(k, k)
        grid = [[sum(cell) if cell else zero for cell in row] for row in cells]
        weight = torch.stack([torch.stack(row, -1) for row in grid], -2)  # [K, K, 3, 3]
        groups.append((d, weight, []))
    if shifts:
        groups.append((0, None, shifts))
    return groups


def _messages(q: torch.Tensor, groups) -> torch.Tensor:
    """Σ over pairwise terms of the expected neighbour energies, q [B, K, H, W] -> [B, K, H, W]."""
    out = torch.zeros_like(q)
    for d, weight, shifts in groups:
        if weight is not None:
            out = out + F.conv2d(q, weight, padding=d, dilation=d)
        for (dr, dc), table in shifts:
            qh = q.permute(0, 2, 3, 1)
            ahead = shift(qh, (dr, dc)) @ table.T  # Σ_b V[a, b] q_{i+d}(b)
            behind = shift(qh, (-dr, -dc)) @ table  # Σ_a' V[a', a] q_{i-d}(a')
            out = out + (ahead + behind).permute(0, 3, 1, 2)
    return out


def expected_conditional(
    unary: torch.Tensor, pairwise: Sequence[tuple[Offset, torch.Tensor]], q: torch.Tensor
) -> torch.Tensor:
    """E_q[E(y) | y_i = a] up to terms not involving y_i: [B, H, W, K].

    unary [B, H, W, K]; q [B, H, W, K] beliefs (rows sum to 1). For each offset the pixel sees
    its neighbour at +d through V_d[a, ·] and its neighbour at -d through V_d[·, a]; offsets
    that are the 8 directions at one distance are one dilated 3×3 convolution.
    """
    messages = _messages(q.permute(0, 3, 1, 2), _kernels(pairwise))
    return unary + messages.permute(0, 2, 3, 1)


def mean_field(
    unary: torch.Tensor,
    pairwise: Sequence[tuple[Offset, torch.Tensor]],
    sweeps: int = 10,
    damping: float = 0.5,
    beta: float = 1.0,
    q: torch.Tensor | None = None,
) -> torch.Tensor:
    """Parallel damped mean field, differentiable: beliefs q [B, H, W, K] after ``sweeps``.

    q starts at softmax(-β unary) (or the given ``q``); each sweep sets
    q ← damping · q + (1 - damping) · softmax(-β E_q[E | y_i]) at every pixel at once.
    Parallel updates are what makes the sweep a few convolutions; damping keeps them from
    oscillating between the two colours of the grid. A fixed point satisfies the mean-field
    equations of the free energy E_q[E] - H(q)/β, the same stationary points as the
    coordinate-wise :func:`factors.inference.variational.mean_field`.
    """
    if unary.dim() != 4:
        raise ValueError(f"unary energies must be [B, H, W, K], got shape {tuple(unary.shape)}")
    if not 0.0 <= damping < 1.0:
        raise ValueError(f"damping must be in [0, 1), got {damping}")
    check_pairwise(pairwise, unary.shape[-1])
    groups = _kernels(pairwise)
    u = unary.permute(0, 3, 1, 2)  # channels first for the convolutions
    q = torch.softmax(-beta * u, 1) if q is None else q.permute(0, 3, 1, 2)
    for _ in range(int(sweeps)):
        new = torch.softmax(-beta * (u + _messages(q, groups)), 1)
        q = damping * q + (1.0 - damping) * new if damping else new
    return q.permute(0, 2, 3, 1)


def energy(
    unary: torch.Tensor, pairwise: Sequence[tuple[Offset, torch.Tensor]], y: torch.Tensor
) -> torch.Tensor:
    """E(y) [B] of label maps y [B, H, W] (int64); differentiable wrt unary and the tables."""
    if y.shape != unary.shape[:3]:
        raise ValueError(
            f"label maps {tuple(y.shape)} do not match unary energies {tuple(unary.shape)}"
        )
    total = unary.gather(-1, y[..., None])[..., 0].sum((1, 2))
    h, w = y.shape[1:]
    for offset, table in pairwise:
        dr, dc = offset
        r0, r1 = max(0, -dr), h - max(0, dr)
        c0, c1 = max(0, -dc), w - max(0, dc)
        if r1 <= r0 or c1 <= c0:
            continue
        first = y[:, r0:r1, c0:c1]
        second = y[:, r0 + dr : r1 + dr, c0 + dc : c1 + dc]
        total = total + table[first, second].sum((1, 2))
    return total


def coloring(h: int, w: int, offsets: Sequence[Offset]) -> torch.Tensor:
    """A proper colouring of the h×w grid for these offsets: [h·w] colours, row-major, such that
    no two pixels one offset apart share a colour. Uses (r mod m, c mod m) with the smallest m
    for which no offset is ≡ (0, 0) mod m (m = 2 for the 8-neighbourhood: four colours)."""
    m = 2
    while any(dr % m == 0 and dc % m == 0 for dr, dc in offsets):
        m += 1
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
    return ((rows % m) * m + cols % m).flatten()
