"""Exact min-sum and log-sum-exp on tree-structured (pairwise, acyclic) factor graphs.

One dynamic program, written once for both semirings (as in torch-struct): messages flow
from the leaves to the roots level by level (all variables of one depth at once, batched
over B), so the cost is O(depth) torch ops of size [B, width, K, K]. Min-sum gives the minimum
energy and, by backtracking, the assignment; log-sum-exp with β gives the free energy, whose
gradient wrt the unary energies is the marginals.
"""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx
import torch

from ..terms import EnergyTerms
from .exact import ExactEngine, edge_tables

INF = float("inf")


@dataclass
class Level:
    child: torch.Tensor  # [w] variables at this depth
    parent: torch.Tensor  # [w] their parents
    edge: torch.Tensor  # [w] edge ids, tables oriented [parent label, child label]


@dataclass
class TreeSchedule:
    """Roots of each component, and the levels from the deepest up."""

    roots: torch.Tensor
    levels: list[Level]  # deepest first
    num_edges: int
    clique_edges: list[tuple[torch.Tensor, torch.Tensor]]  # per pairwise clique set: (edge, flip)

    @classmethod
    def build(cls, interaction: nx.Graph, clique_scopes: list[torch.Tensor]) -> TreeSchedule:
        roots, depth, parent = [], {}, {}
        for comp in sorted(nx.connected_components(interaction), key=min):
            root = min(comp)
            roots.append(root)
            depth[root] = 0
            for u, v in nx.bfs_edges(interaction, root):
                depth[v], parent[v] = depth[u] + 1, u
        edge_id = {v: e for e, v in enumerate(sorted(parent))}  # one edge per non-root node
        levels = []
        for d in range(max(depth.values(), default=0), 0, -1):
            nodes = sorted(v for v, dv in depth.items() if dv == d)
            levels.append(
                Level(
                    torch.tensor(nodes),
                    torch.tensor([parent[v] for v in nodes]),
                    torch.tensor([edge_id[v] for v in nodes]),
                )
            )
        clique_edges = []
        for scopes in clique_scopes:
            edges, flips = [], []
            for a, b in scopes.tolist():
                child = b if parent.get(b) == a else a
                edges.append(edge_id[child])
                flips.append(child == a)  # stored (a, b) = (child, parent): transpose
            clique_edges.append((torch.tensor(edges, dtype=torch.long), torch.tensor(flips)))
        return cls(torch.tensor(roots), levels, len(edge_id), clique_edges)


def reduce(values: torch.Tensor, beta: float | None) -> torch.Tensor:
    """Semiring sum over the last axis: min (beta None) or -(1/β) logsumexp(-β ·)."""
    if beta is None:
        return values.min(-1).values
    return -torch.logsumexp(-beta * values, -1) / beta


class TreeEngine(ExactEngine):
    """Exact inference on a forest of pairwise factors; every method is differentiable."""

    def __init__(self, schedule: TreeSchedule):
        self.schedule = schedule

    def edge_tables(self, terms: EnergyTerms) -> torch.Tensor:
        """All pairwise tables summed per tree edge: [B, E, K, K] (parent label, child label)."""
        return edge_tables(terms, self.schedule.clique_edges, self.schedule.num_edges)

    def upward(
        self, unary: torch.Tensor, edges: torch.Tensor, beta: float | None, keep_argmin: bool
    ):
        """Leaf-to-root messages. Returns (per-root semiring totals [B, roots], root beliefs,
        argmin tables per level)."""
        belief = unary
        argmins = []
        for lv in self.schedule.levels:
            scores = edges[:, lv.edge] + belief[:, lv.child, None, :]  # [B, w, Kp, Kc]
            if keep_argmin:
                best = scores.min(-1)
                msg = best.values
                argmins.append(best.indices)
            else:
                msg = reduce(scores, beta)
            belief = belief.index_add(1, lv.parent, msg)
        root_belief = belief[:, self.schedule.roots]
        return reduce(root_belief, beta), root_belief, argmins

    def free_energy(self, terms: EnergyTerms, beta: float = 1.0) -> torch.Tensor:
        totals, _, _ = self.upward(terms.unary, self.edge_tables(terms), float(beta), False)
        return totals.sum(1)

    def min_energy(self, terms: EnergyTerms) -> torch.Tensor:
        totals, _, _ = self.upward(terms.unary, self.edge_tables(terms), None, False)
        return totals.sum(1)

    def argmin(self, terms: EnergyTerms) -> torch.Tensor:
        """The minimum-energy assignment [B, n]."""
        with torch.no_grad():
            return self._argmin(terms.unary, self.edge_tables(terms))[0]

    def _argmin(
        self, unary: torch.Tensor, edges: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(assignment [B, n], min energy [B]) by min-sum and backtracking."""
        totals, root_belief, argmins = self.upward(unary, edges, None, True)
        y = torch.zeros(unary.shape[:2], dtype=torch.long)
        y[:, self.schedule.roots] = root_belief.argmin(-1)
        for lv, arg in zip(reversed(self.schedule.levels), reversed(argmins), strict=True):
            y[:, lv.child] = arg.gather(2, y[:, lv.parent, None]).squeeze(-1)
        return y, totals.sum(1)

    def most_offending(self, terms: EnergyTerms, y: torch.Tensor) -> torch.Tensor:
        """argmin over y' != y, exactly: y' first differs from y at some variable t. For each
        t, clamp variables < t to y, forbid y_t at t, leave the rest free; solve all n problems
        as one batch of B·n and keep the best. Returns [B, n]."""
        b, n, k = terms.unary.shape
        onehot = torch.nn.functional.one_hot(y, k).bool()  # [B, n, K]
        order = torch.arange(n)
        before = (order[None, :] < order[:, None])[None, :, :, None]  # [1, t, i, 1]: i < t
        at = (order[None, :] == order[:, None])[None, :, :, None]
        forbid = (before & ~onehot[:, None]) | (at & onehot[:, None])  # [B, t, n, K]
        unary = terms.unary.detach()[:, None].expand(b, n, n, k)
        unary = torch.where(forbid, INF, unary).reshape(b * n, n, k)
        edges = self.edge_tables(terms.detach())
        edges = edges[:, None].expand(b, n, *edges.shape[1:]).reshape(b * n, *edges.shape[1:])
        cand, energy = self._argmin(unary, edges)
        best = energy.reshape(b, n).argmin(1)
        if bool(torch.isinf(energy.reshape(b, n).min(1).values).any()):
            raise ValueError("no incorrect assignment has finite energy (a single answer exists)")
        return cand.reshape(b, n, n)[torch.arange(b), best]
