"""Exact inference on chains by compiling the factor graph to a ``gtn`` lattice.

A chain y_0 - ... - y_{n-1} is a linear-chain CRF: its assignments are the paths of a lattice,
so min-sum is ``min_energy`` (Viterbi) and log-sum-exp is ``free_energy`` (the forward
algorithm), both differentiable through gtn's autograd into every factor.

* Tied transitions (every pairwise table the same along the chain, as in a CRF): the fast
  path, ``gtn.intersect_dense`` of the unary energies [B, n, K] (the emissions) with a
  (K+1)-state transition graph, never building the n·K² lattice.
* Position-dependent transitions: an explicit lattice per batch element (``lattices``),
  scored by ``gtn.free_energy`` / ``gtn.min_energy`` over the list in one numba call.
* The most offending incorrect answer: the best path of the lattice intersected with
  ``gtn.complement(y)``, the acceptor of every sequence except y.
"""

from __future__ import annotations

import numpy as np
import torch

import gtn
from gtn import intersect
from gtn.graph import Graph

from ..terms import EnergyTerms
from .exact import ExactEngine, edge_tables


class ChainEngine(ExactEngine):
    """Exact engine for a chain whose variables, in path order, are ``order``."""

    def __init__(self, order: list[int], clique_scopes: list[torch.Tensor], num_labels: int):
        self.order = torch.tensor(order, dtype=torch.long)
        self.n, self.k = len(order), num_labels
        pos = torch.empty(self.n, dtype=torch.long)
        pos[self.order] = torch.arange(self.n)
        # Each pairwise clique lands on chain edge min(pos); flip if stored (later, earlier).
        self.clique_edges = []
        self.tied = True
        for scopes in clique_scopes:
            pa, pb = pos[scopes[:, 0]], pos[scopes[:, 1]]
            edge, flip = torch.minimum(pa, pb), pa > pb
            self.clique_edges.append((edge, flip))
            covers_once = torch.bincount(edge, minlength=self.n - 1).eq(1).all()
            self.tied &= bool(covers_once) and bool((flip == flip[0]).all())
        self._structure = self._lattice_structure()

    # ------------------------------------------------------------------ compile
    def emissions(self, terms: EnergyTerms) -> torch.Tensor:
        """Unary energies in chain order: [B, n, K]."""
        return terms.unary[:, self.order]

    def transitions(self, terms: EnergyTerms) -> torch.Tensor:
        """Pairwise tables per chain edge, [B, n-1, K, K] (earlier label, later label)."""
        return edge_tables(terms, self.clique_edges, max(self.n - 1, 0))

    def _tied_transition(self, terms: EnergyTerms) -> torch.Tensor:
        """The one [B|1, K, K] table shared by all edges (only when ``tied`` and every table
        is clique-independent)."""
        b0 = max([int(t.shape[0]) for _, t in terms.cliques] or [1])
        out = terms.unary.new_zeros(b0, self.k, self.k)
        for (_, table), (_, flip) in zip(terms.cliques, self.clique_edges, strict=True):
            t = table[:, 0]
            out = out + (t.transpose(-1, -2) if bool(flip[0]) else t)
        return out

    def _transition_graph(self, table: torch.Tensor) -> Graph:
        """K+1 states: 0 is the start, k+1 means "the last label was k"; reading label k'
        from state k+1 costs table[k, k']."""
        k = self.k
        labels = np.arange(k, dtype=np.int32)
        src = np.concatenate([np.zeros(k, np.int32), np.repeat(labels + 1, k)])
        dst = np.concatenate([labels + 1, np.tile(labels + 1, k)])
        lab = np.concatenate([labels, np.tile(labels, k)])
        weight = torch.cat([table.new_zeros(k), table.reshape(-1)])
        return Graph.from_arrays(k + 1, src, dst, lab, weight=weight, final=labels + 1)

    def _dense(self, terms: EnergyTerms):
        if not (self.tied and self.n > 1 and all(t.shape[1] == 1 for _, t in terms.cliques)):
            return None
        table = self._tied_transition(terms)
        graphs = [self._transition_graph(t) for t in table]
        return gtn.intersect_dense(graphs[0] if len(graphs) == 1 else graphs, self.emissions(terms))

    def _lattice_structure(self):
        """Arrays of the explicit lattice: state 0, then state 1 + t·K + k for y_t = k."""
        n, k = self.n, self.k
        labels = np.arange(k, dtype=np.int32)
        src = [np.zeros(k, np.int32)]
        dst = [1 + labels]
        lab = [labels]
        for t in range(1, n):
            src.append(np.repeat(1 + (t - 1) * k + labels, k))
            dst.append(np.tile(1 + t * k + labels, k))
            lab.append(np.tile(labels, k))
        return np.concatenate(src), np.concatenate(dst), np.concatenate(lab)

    def lattices(self, terms: EnergyTerms) -> list[Graph]:
        """One explicit lattice per batch element; arc energies are torch expressions of the
        factors' tables (unary of the arc's label + transition into it)."""
        em = self.emissions(terms)
        tr = self.transitions(terms) + em[:, 1:, None, :]
        weight = torch.cat([em[:, 0], tr.flatten(1)], 1)  # [B, A] in the arrays' arc order
        src, dst, lab = self._structure
        num = 1 + self.n * self.k
        final = np.arange(num - self.k, num)  # the states of the last variable's labels
        return [Graph.from_arrays(num, src, dst, lab, weight=w, final=final) for w in weight]

    # ------------------------------------------------------------------ the engine contract
    def free_energy(self, terms: EnergyTerms, beta: float = 1.0) -> torch.Tensor:
        lattice = self._dense(terms)
        if lattice is not None:
            return lattice.free_energy(beta)
        return gtn.free_energy(self.lattices(terms), beta)

    def min_energy(self, terms: EnergyTerms) -> torch.Tensor:
        lattice = self._dense(terms)
        if lattice is not None:
            return lattice.min_energy()
        return gtn.min_energy(self.lattices(terms))

    def argmin(self, terms: EnergyTerms) -> torch.Tensor:
        """Viterbi assignment [B, n] (variables in index order)."""
        with torch.no_grad():
            lattice = self._dense(terms.detach())
            if lattice is not None:
                labels = lattice.best_alignment().labels
            else:
                labels = self._path_labels(self.lattices(terms.detach()))
        return self._in_index_order(labels)

    def most_offending(self, terms: EnergyTerms, y: torch.Tensor) -> torch.Tensor:
        """Best path of lattice ∩ complement(y): the lowest-energy assignment != y, [B, n]."""
        with torch.no_grad():
            lattices = self.lattices(terms.detach())
            wrong = [gtn.complement(row[self.order].tolist(), self.k) for row in y]
            return self._in_index_order(self._path_labels(intersect(lattices, wrong)))

    def _in_index_order(self, labels: torch.Tensor) -> torch.Tensor:
        """Labels [B, n] in chain order -> in variable index order."""
        y = torch.empty_like(labels)
        y[:, self.order] = labels
        return y

    def _path_labels(self, graphs: list[Graph]) -> torch.Tensor:
        paths = gtn.best_path_arcs(graphs)
        if any(len(p) != self.n for p in paths):
            raise ValueError("no complete path: every assignment has infinite energy")
        return torch.tensor(
            np.stack([g.ilabel[p] for g, p in zip(graphs, paths, strict=True)]), dtype=torch.long
        )
