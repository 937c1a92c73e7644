"""The energy of a factor graph for one batch of inputs, compiled to tensors.

Every inference engine consumes an :class:`EnergyTerms`: the unary energies summed into one
[B, n, K] tensor, and the higher-order cliques as (scopes [M, r], table [B|1, M|1, K^r]) pairs.
+inf marks a label outside a variable's domain.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

import torch

Clique = tuple[torch.Tensor, torch.Tensor]


def size_of(tensor: str, axis: int, doc: str) -> property:
    """A read-only property: the size (int) of the attribute ``tensor`` along ``axis``."""
    return property(lambda self: int(getattr(self, tensor).shape[axis]), doc=doc)


def _index(b0: int, m0: int, batch: int, cliques: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Broadcast the table's batch / clique axes of size 1 by indexing row 0 repeatedly.
    bi = torch.arange(batch)[:, None] if b0 > 1 else torch.zeros(1, 1, dtype=torch.long)
    mi = torch.arange(cliques)[None, :] if m0 > 1 else torch.zeros(1, 1, dtype=torch.long)
    return bi, mi


def _flat_index(labels: torch.Tensor, k: int) -> torch.Tensor:
    """Row-major flat index of label tuples: labels [..., r] -> [...]."""
    r = labels.shape[-1]
    strides = k ** torch.arange(r - 1, -1, -1, dtype=torch.long)
    return (labels * strides).sum(-1)


def lookup(table: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Energies of labelled cliques: table [B|1, M|1, K^r], labels [B, M, r] -> [B, M]."""
    b0, m0 = table.shape[:2]
    k = table.shape[-1]
    bi, mi = _index(b0, m0, labels.shape[0], labels.shape[1])
    return table.reshape(b0, m0, -1)[bi, mi, _flat_index(labels, k)]


def lookup_axis(table: torch.Tensor, labels: torch.Tensor, axis: int) -> torch.Tensor:
    """Energies of every label of position ``axis`` with the other positions fixed to
    ``labels``: table [B|1, M|1, K^r], labels [B, M, r] -> [B, M, K]."""
    b0, m0 = table.shape[:2]
    k = table.shape[-1]
    r = table.dim() - 2
    moved = table.movedim(2 + axis, -1).reshape(b0, m0, k ** (r - 1), k)
    others = [q for q in range(r) if q != axis]
    bi, mi = _index(b0, m0, labels.shape[0], labels.shape[1])
    return moved[bi, mi, _flat_index(labels[..., others], k)]


@dataclass
class EnergyTerms:
    """E(y) = sum_i unary[b, i, y_i] + sum_cliques table[b, m, y_scope].

    Attributes:
        unary: [B, n, K] energies.
        cliques: (scopes [M, r], table [B|1, M|1, K, ..., K]) for arities r >= 2.
        coloring: [n] colour of each variable; variables of one colour share no clique, so
            they can be updated together by ICM, Gibbs sampling and mean field.
    """

    unary: torch.Tensor
    cliques: list[Clique] = field(default_factory=list)
    coloring: torch.Tensor | None = None

    batch_size = size_of("unary", 0, "B")
    num_variables = size_of("unary", 1, "n")
    num_labels = size_of("unary", 2, "K")

    def detach(self) -> EnergyTerms:
        return EnergyTerms(
            self.unary.detach(), [(s, t.detach()) for s, t in self.cliques], self.coloring
        )

    def with_unary(self, extra: torch.Tensor) -> EnergyTerms:
        """The same energy plus ``extra`` [B|1, n, K] (e.g. minus a Hamming cost)."""
        return EnergyTerms(self.unary + extra, self.cliques, self.coloring)

    def energy(self, y: torch.Tensor) -> torch.Tensor:
        """y: [B, n] labels -> [B] energies (differentiable wrt the tables)."""
        e = self.unary.gather(2, y[..., None]).squeeze(-1).sum(1)
        for scopes, table in self.cliques:
            e = e + lookup(table, y[:, scopes]).sum(1)
        return e

    def _touching(self, variables: torch.Tensor | None):
        """Per clique group and position p: (cliques whose p-th variable is in ``variables``,
        that variable's row in the output). ``variables`` None means all, in order."""
        n = self.num_variables
        row = torch.arange(n)
        if variables is not None:
            row = torch.full((n,), -1, dtype=torch.long)
            row[variables] = torch.arange(variables.shape[0])
        for scopes, table in self.cliques:
            for p in range(scopes.shape[1]):
                if variables is None:
                    yield scopes, table, p, row[scopes[:, p]]
                    continue
                sel = torch.nonzero(row[scopes[:, p]] >= 0).flatten()
                if sel.numel():
                    part = table[:, sel] if table.shape[1] > 1 else table
                    yield scopes[sel], part, p, row[scopes[sel, p]]

    def conditional(self, y: torch.Tensor, variables: torch.Tensor | None = None) -> torch.Tensor:
        """Energy of each variable taking each label, the others fixed to y: [B, n, K], or
        [B, len(variables), K] for the given variables only (one colour class of a sweep
        costs its own share of the cliques, not all of them).

        Differences along the label axis equal differences of the total energy E(y)."""
        out = (self.unary if variables is None else self.unary[:, variables]).clone()
        for scopes, table, p, rows in self._touching(variables):
            out.index_add_(1, rows, lookup_axis(table, y[:, scopes], p))
        return out

    def expected_conditional(
        self, q: torch.Tensor, variables: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean-field conditional: unary + E_{q(others)}[clique energy], q [B, n, K] -> [B, n, K]
        (or [B, len(variables), K] for the given variables only).

        Unreachable labels (q = 0 where the energy is +inf) contribute nothing."""
        out = (self.unary if variables is None else self.unary[:, variables]).clone()
        letters = string.ascii_lowercase[:20]
        for scopes, table, p, rows in self._touching(variables):
            r = scopes.shape[1]
            axes = letters[:r]
            others = [axes[s] for s in range(r) if s != p]
            operands = [q[:, scopes[:, s]] for s in range(r) if s != p]  # each [B, M, K]
            finite = torch.nan_to_num(table, posinf=0.0)
            if finite.shape[0] == 1 and finite.shape[1] == 1:
                eq = f"{axes}," + ",".join(f"yz{a}" for a in others) + f"->yz{axes[p]}"
                val = torch.einsum(eq, finite[0, 0], *operands)
            else:
                t = finite.expand(q.shape[0], scopes.shape[0], *finite.shape[2:])
                eq = f"yz{axes}," + ",".join(f"yz{a}" for a in others) + f"->yz{axes[p]}"
                val = torch.einsum(eq, t, *operands)
            out.index_add_(1, rows, val)
        return out
