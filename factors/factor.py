"""Factors: ``torch.nn.Module``s that return energy tables.

A factor covers M cliques ("scopes") of the same arity r at once, all sharing one module: the
scopes are a LongTensor [M, r] of variable indices, and ``forward(x)`` returns the energy table
of every clique, shape ``[B, M, K, ..., K]`` (r label axes). The batch axis and the clique axis
may be 1 and are then broadcast, so a tied table costs nothing to store. Subclass
:class:`Factor` to write new ones (for example a contrast-sensitive Potts term that reads x).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from .terms import size_of

Scopes = torch.Tensor | Sequence[Sequence[int]] | Sequence[int]


def _as_scopes(scopes: Scopes, arity: int | None) -> torch.Tensor:
    s = torch.as_tensor(scopes, dtype=torch.long)
    if s.dim() == 1:
        s = s[:, None] if arity in (None, 1) else s[None, :]
    if s.dim() != 2 or (arity is not None and s.shape[1] != arity):
        want = f"[M, {arity}]" if arity else "[M, r]"
        raise ValueError(f"scopes must have shape {want}, got {list(s.shape)}")
    if s.numel() and int(s.min()) < 0:
        raise ValueError("scopes hold variable indices, which must be >= 0")
    return s.contiguous()


class Factor(nn.Module):
    """Base class: ``scopes`` [M, r] and ``num_labels`` K; ``forward(x)`` -> [B|1, M|1, K^r]."""

    def __init__(self, scopes: Scopes, num_labels: int, arity: int | None = None):
        super().__init__()
        self.register_buffer("scopes", _as_scopes(scopes, arity), persistent=False)
        self.num_labels = int(num_labels)

    arity = size_of("scopes", 1, "r, the number of variables of each clique")
    num_cliques = size_of("scopes", 0, "M, the number of cliques")

    def forward(self, x) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def _hold(self, name: str, value: torch.Tensor, learnable: bool) -> None:
        """Keep ``value`` as a parameter ``name``, or as a buffer when it is fixed."""
        if learnable:
            setattr(self, name, nn.Parameter(value))
        else:
            self.register_buffer(name, value)

    def table(self, x) -> torch.Tensor:
        """``forward(x)`` checked to be [B|1, M|1, K, ..., K]."""
        t = self(x)
        want = (self.num_labels,) * self.arity
        label_axes_ok = t.dim() == 2 + self.arity and tuple(t.shape[2:]) == want
        if not label_axes_ok or t.shape[1] not in (1, self.num_cliques):
            raise ValueError(
                f"{type(self).__name__} returned a table of shape {list(t.shape)}; expected "
                f"[B, {self.num_cliques} or 1, {', '.join(map(str, want))}]"
            )
        return t


class Unary(Factor):
    """Unary energies from any network: ``network(x)`` -> [B, M, K] energies for the M
    variables in ``variables`` (in that order). Scores become energies by negation, so a
    classifier's logits are usually wrapped as ``-log_softmax``.
    """

    def __init__(
        self, network: Callable[..., torch.Tensor], variables: Sequence[int], num_labels: int
    ):
        super().__init__(list(variables), num_labels, arity=1)
        self.network = network

    def forward(self, x) -> torch.Tensor:
        return self.network(x)


class UnaryTable(Factor):
    """A learnable unary table that ignores x: [M, K] energies (e.g. CRF start/end energies)."""

    def __init__(self, variables: Sequence[int], num_labels: int, init: torch.Tensor | None = None):
        super().__init__(list(variables), num_labels, arity=1)
        m = self.num_cliques
        t = (
            torch.zeros(m, num_labels)
            if init is None
            else torch.as_tensor(init).reshape(m, num_labels)
        )
        self.weight = nn.Parameter(t.clone())

    def forward(self, x) -> torch.Tensor:
        return self.weight[None]


class TableFactor(Factor):
    """A factor whose energies are one table ``weight`` (zeros when ``table`` is None):
    learned (a parameter), or fixed (a buffer) with ``learnable=False``. A subclass names its
    ``kind`` and the table shapes it accepts (the first is the default)."""

    kind = "table"

    def __init__(
        self,
        scopes: Scopes,
        num_labels: int,
        table: torch.Tensor | None = None,
        learnable: bool = True,
        arity: int | None = None,
    ):
        super().__init__(scopes, num_labels, arity)
        shapes = self.table_shapes()
        t = torch.zeros(shapes[0]) if table is None else torch.as_tensor(table).clone()
        if tuple(t.shape) not in shapes:
            allowed = " or ".join(str(list(shape)) for shape in shapes)
            raise ValueError(f"{self.kind} table must be {allowed}, got {list(t.shape)}")
        self._hold("weight", t, learnable)

    def table_shapes(self) -> list[tuple[int, ...]]:  # pragma: no cover - abstract
        raise NotImplementedError


class Pairwise(TableFactor):
    """A full pairwise table E(y_i, y_j): [K, K] tied across its M cliques (i, j), or
    [M, K, K] with one table per clique.

    ``learnable=False`` keeps the table fixed (a buffer, not a parameter).
    """

    kind = "pairwise"

    def __init__(self, scopes: Scopes, num_labels: int, table=None, learnable: bool = True):
        super().__init__(scopes, num_labels, table, learnable, arity=2)

    def table_shapes(self) -> list[tuple[int, ...]]:
        k = self.num_labels
        return [(k, k), (self.num_cliques, k, k)]

    def forward(self, x) -> torch.Tensor:
        return self.weight[None] if self.weight.dim() == 3 else self.weight[None, None]


class Potts(Factor):
    """Potts energy: ``strength * [y_i != y_j]`` with a (learnable) scalar strength.

    A positive strength rewards agreement; Potts is a metric, so α-expansion applies.
    """

    def __init__(
        self, scopes: Scopes, num_labels: int, strength: float = 1.0, learnable: bool = True
    ):
        super().__init__(scopes, num_labels, arity=2)
        self._hold("strength", torch.tensor(float(strength)), learnable)
        k = self.num_labels
        self.register_buffer("disagree", 1.0 - torch.eye(k), persistent=False)

    def forward(self, x) -> torch.Tensor:
        return (self.strength * self.disagree.to(self.strength.dtype))[None, None]


class Patch(TableFactor):
    """A higher-order factor over small cliques, e.g. 2×2 patches of a grid: a learnable table
    [K, K, K, K] of "interaction energies", tied across cliques. Scopes list the variables in
    a fixed order (top-left, top-right, bottom-left, bottom-right for grid patches).
    """

    kind = "patch"

    def table_shapes(self) -> list[tuple[int, ...]]:
        return [(self.num_labels,) * self.arity]

    def forward(self, x) -> torch.Tensor:
        return self.weight[None, None]
