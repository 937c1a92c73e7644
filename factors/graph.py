"""``FactorGraph``: variables plus factors; the energy is the sum of the factors' energies.

``energy(x, y)`` is E(W, Y, X) for a batch; inference looks for the y of lowest energy (the sign
convention and the Gibbs distribution are in :mod:`factors`).

networkx holds the structure. The *interaction graph* has one node per variable and an edge
between variables that share a factor; the graph is a ``"chain"`` or a ``"tree"`` when all
factors are unary or pairwise and the interaction graph is a path or a forest, and ``"loopy"``
otherwise (a factor over three or more variables is a clique, hence a loop).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

import networkx as nx
import torch
from torch import nn

from .factor import Factor
from .inference import dispatch
from .inference.result import InferenceResult
from .terms import EnergyTerms
from .variables import Variable, make_variables

Cost = str | torch.Tensor | None


def hamming_cost(y: torch.Tensor, num_labels: int, scale: float = 1.0) -> torch.Tensor:
    """Decomposable Hamming cost Δ(y, y') = scale · #{i: y'_i != y_i} as a table [B, n, K]."""
    onehot = torch.nn.functional.one_hot(y, num_labels)
    return scale * (1.0 - onehot.to(torch.get_default_dtype()))


class FactorGraph(nn.Module):
    """A factor graph over discrete variables.

    Args:
        variables: a count n (with ``num_labels``) or a list of :class:`Variable`.
        num_labels: K when ``variables`` is a count.
        factors: :class:`Factor` modules; each factor's ``num_labels`` must be the largest
            variable cardinality K (smaller domains are masked with +inf energy).
        shape: optional layout of the variables (e.g. ``(h, w)`` for a grid): assignments may
            then be given as [B, *shape] and are returned as [B, n] (row-major).

    >>> import torch
    >>> from factors import FactorGraph, Pairwise
    >>> g = FactorGraph(3, 2, [Pairwise([[0, 1], [1, 2]], 2, torch.tensor([[0., 1.], [1., 0.]]))])
    >>> g.structure, g.energy(None, torch.tensor([[0, 1, 1]])).tolist()
    ('chain', [1.0])
    """

    def __init__(
        self,
        variables: int | Sequence[Variable],
        num_labels: int | None = None,
        factors: Iterable[Factor] = (),
        shape: tuple[int, ...] | None = None,
    ):
        super().__init__()
        self.variables = make_variables(variables, num_labels)
        self.num_labels = max((v.num_labels for v in self.variables), default=1)
        self.factors = nn.ModuleList()
        self.shape = shape
        self.coloring: torch.Tensor | None = None  # builders with a known colouring set it
        cards = torch.tensor([v.num_labels for v in self.variables], dtype=torch.long)
        domain = torch.arange(self.num_labels)[None, :] >= cards[:, None]
        self.register_buffer(
            "domain_energy", torch.where(domain, float("inf"), 0.0), persistent=False
        )
        self._structure_cache: dict = {}
        for f in factors:
            self.add(f)

    # ------------------------------------------------------------------ construction
    @property
    def num_variables(self) -> int:
        return len(self.variables)

    def add(self, factor: Factor) -> FactorGraph:
        """Add a factor (returns self for chaining)."""
        if not isinstance(factor, Factor):
            raise TypeError(f"expected a factors.Factor, got {type(factor).__name__}")
        if factor.num_labels != self.num_labels:
            raise ValueError(
                f"{type(factor).__name__} has {factor.num_labels} labels; this graph's "
                f"factors need {self.num_labels} (the largest variable cardinality)"
            )
        if factor.scopes.numel() and int(factor.scopes.max()) >= self.num_variables:
            bad = int(factor.scopes.max())
            raise ValueError(
                f"{type(factor).__name__} refers to variable {bad}; the graph has "
                f"{self.num_variables} variables"
            )
        self.factors.append(factor)
        self._structure_cache.clear()
        return self

    # ------------------------------------------------------------------ structure
    def interaction_graph(self) -> nx.Graph:
        """networkx Graph: variables as nodes, an edge for each pair sharing a factor."""
        if "interaction" not in self._structure_cache:
            g = nx.Graph()
            g.add_nodes_from(range(self.num_variables))
            for f in self.factors:
                s = f.scopes.tolist()
                for p in range(f.arity):
                    for q in range(p + 1, f.arity):
                        g.add_edges_from((row[p], row[q]) for row in s if row[p] != row[q])
            self._structure_cache["interaction"] = g
        return self._structure_cache["interaction"]

    @property
    def structure(self) -> str:
        """``"chain"``, ``"tree"`` or ``"loopy"`` (see the module docstring)."""
        if "structure" not in self._structure_cache:
            g = self.interaction_graph()
            if any(f.arity > 2 for f in self.factors) or not nx.is_forest(g):
                kind = "loopy"
            elif nx.is_connected(g) and max((d for _, d in g.degree), default=0) <= 2:
                kind = "chain"
            else:
                kind = "tree"
            self._structure_cache["structure"] = kind
        return self._structure_cache["structure"]

    def chain_order(self) -> list[int]:
        """Variables in path order (the first one has the smaller index)."""
        if self.structure != "chain":
            raise ValueError(f"chain_order needs a chain; this factor graph is {self.structure}")
        g = self.interaction_graph()
        if self.num_variables == 1:
            return [0]
        ends = sorted(v for v, d in g.degree if d == 1)
        return list(nx.dfs_preorder_nodes(g, ends[0]))

    def variable_coloring(self) -> torch.Tensor:
        """[n] colours such that variables of one colour share no factor (greedy, networkx)."""
        if self.coloring is not None:
            return self.coloring
        if "coloring" not in self._structure_cache:
            colors = nx.greedy_color(self.interaction_graph(), strategy="largest_first")
            self._structure_cache["coloring"] = torch.tensor(
                [colors[i] for i in range(self.num_variables)], dtype=torch.long
            )
        return self._structure_cache["coloring"]

    # ------------------------------------------------------------------ energies
    def flatten(self, y: torch.Tensor) -> torch.Tensor:
        """Assignments [B, n] or [B, *shape] -> [B, n] (long)."""
        y = torch.as_tensor(y)
        if y.dim() == 1:
            y = y[None]
        y = y.reshape(y.shape[0], -1).long()
        if y.shape[1] != self.num_variables:
            raise ValueError(
                f"assignment has {y.shape[1]} labels; the graph has {self.num_variables} variables"
            )
        return y

    def terms(self, x, batch_size: int | None = None) -> EnergyTerms:
        """Evaluate every factor on x and collect the energy as tensors (see EnergyTerms).

        ``x`` may also be the EnergyTerms of an earlier call, returned as they are (a batch of
        one broadcast to ``batch_size``). Every method below accepts them in place of ``x``, so
        a loss evaluates the factors, and the networks inside them, once per step."""
        if isinstance(x, EnergyTerms):
            return self._given_terms(x, batch_size)
        tables = [(f, f.table(x)) for f in self.factors]
        b = max([batch_size or 1] + [int(t.shape[0]) for _, t in tables])
        n, k = self.num_variables, self.num_labels
        # Factors of mixed precision meet at the widest dtype.
        dtypes = [t.dtype for _, t in tables] or [torch.get_default_dtype()]
        dtype = functools.reduce(torch.promote_types, dtypes)
        tables = [(f, t.to(dtype)) for f, t in tables]
        unary = self.domain_energy.to(dtype)[None].expand(b, n, k)
        cliques = []
        for f, t in tables:
            if f.arity == 1:
                unary = unary.index_add(1, f.scopes[:, 0], t[..., :].expand(b, f.num_cliques, k))
            else:
                cliques.append((f.scopes, t))
        return EnergyTerms(unary, cliques, self.variable_coloring())

    def prepare(self, x, y: torch.Tensor) -> EnergyTerms:
        """The terms of x for a batch of answers y, so that a loss evaluates the factors (and
        the networks inside them) once per step (see :class:`~factors.EnergyModel`)."""
        return self.terms(x, self.flatten(y).shape[0])

    def _given_terms(self, terms: EnergyTerms, batch_size: int | None) -> EnergyTerms:
        shape = (terms.num_variables, terms.num_labels)
        if shape != (self.num_variables, self.num_labels):
            raise ValueError(
                f"terms are for {shape[0]} variables with {shape[1]} labels; the graph has "
                f"{self.num_variables} with {self.num_labels}"
            )
        if batch_size is None or terms.batch_size == batch_size:
            return terms
        if terms.batch_size != 1:
            raise ValueError(f"terms of a batch of {terms.batch_size} for {batch_size} answers")
        unary = terms.unary.expand(batch_size, *shape)
        return EnergyTerms(unary, terms.cliques, terms.coloring)

    def energy(self, x, y: torch.Tensor) -> torch.Tensor:
        """E(x, y) for assignments y [B, n] (or [B, *shape]) -> [B], differentiable."""
        y = self.flatten(y)
        return self.terms(x, y.shape[0]).energy(y)

    # ------------------------------------------------------------------ inference
    def infer(self, x, method: str = "auto", **options) -> InferenceResult:
        """Lowest-energy assignment. ``method``: "auto" (exact on chains and trees, loopy
        min-sum otherwise), "exact", "icm", "gibbs", "mean_field", "min_sum", "graph_cut"
        (binary submodular) or "alpha_expansion" (Potts / metric). Options go to the engine."""
        return dispatch.infer(self, self.terms(x), method, **options)

    def min_energy(self, x) -> torch.Tensor:
        """min_y E(x, y) -> [B] (exact; chains and trees), differentiable."""
        return dispatch.exact(self).min_energy(self.terms(x))

    def free_energy(self, x, beta: float = 1.0) -> torch.Tensor:
        """F = -(1/β) log Σ_y exp(-β E(x, y)) -> [B] (exact; chains and trees), differentiable."""
        return dispatch.exact(self).free_energy(self.terms(x), beta)

    def marginals(self, x, beta: float = 1.0) -> torch.Tensor:
        """P(y_i = k | x) under the Gibbs distribution -> [B, n, K] (exact; chains and trees).
        For loopy graphs use ``infer(x, "mean_field")`` and its ``marginals``."""
        return dispatch.exact(self).marginals(self.terms(x), beta)

    def most_offending(self, x, y: torch.Tensor, cost: Cost = None, **options) -> torch.Tensor:
        """The lowest-energy *incorrect* assignment ŷ != y, cost-augmented when ``cost`` is given:
        ŷ = argmin_{y' != y} E(x, y') - Δ(y, y'). ``cost`` is "hamming" or a table [B, n, K]
        (Δ(y, y') = Σ_i cost[b, i, y'_i]). Exact on chains and trees, approximate (loopy
        min-sum by default; ``method=`` chooses) on loopy graphs. Returns [B, n]."""
        y = self.flatten(y)
        terms = self.terms(x, y.shape[0])
        table = self.cost_table(y, cost)
        if table is not None:
            terms = terms.with_unary(-table)
        return dispatch.most_offending(self, terms, y, **options)

    def cost_table(self, y: torch.Tensor, cost: Cost) -> torch.Tensor | None:
        """The per-variable cost table [B, n, K] for ``cost`` (None stays None)."""
        if cost is None:
            return None
        if isinstance(cost, str):
            if cost != "hamming":
                raise ValueError(f"unknown cost {cost!r}; use 'hamming' or a [B, n, K] table")
            return hamming_cost(self.flatten(y), self.num_labels)
        return torch.as_tensor(cost)
