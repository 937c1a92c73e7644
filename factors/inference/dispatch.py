"""One entry point for inference: the method is chosen by name, or by structure ("auto")."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from ..terms import EnergyTerms
from .belief_propagation import min_sum
from .chain import ChainEngine
from .conditional_modes import icm
from .gibbs_sampling import gibbs
from .graph_cuts import alpha_expansion, graph_cut
from .result import InferenceResult
from .tree import TreeEngine, TreeSchedule
from .variational import mean_field

if TYPE_CHECKING:
    from ..graph import FactorGraph

LOOPY = {
    "icm": icm,
    "gibbs": gibbs,
    "mean_field": mean_field,
    "min_sum": min_sum,
    "graph_cut": graph_cut,
    "alpha_expansion": alpha_expansion,
}
METHODS = ("auto", "exact", *LOOPY)


def exact(graph: FactorGraph, engine: str = "auto") -> ChainEngine | TreeEngine:
    """The exact engine for a chain or tree (cached on the graph until a factor is added):
    chains compile to a gtn lattice ("chain"), trees run the tree dynamic program ("tree",
    which also handles chains; "auto" picks by structure)."""
    if graph.structure == "loopy":
        raise ValueError(
            "exact inference needs a chain or a tree of unary/pairwise factors; this factor "
            "graph is loopy: use method='icm', 'gibbs', 'mean_field', 'min_sum', 'graph_cut' "
            "or 'alpha_expansion'"
        )
    if engine == "auto":
        engine = "chain" if graph.structure == "chain" and graph.num_variables > 1 else "tree"
    cache = graph._structure_cache
    key = f"exact-{engine}"
    if key not in cache:
        if engine not in ("chain", "tree"):
            raise ValueError(f"unknown exact engine {engine!r}; use 'auto', 'chain' or 'tree'")
        scopes = [f.scopes for f in graph.factors if f.arity == 2]
        if engine == "chain":
            cache[key] = ChainEngine(graph.chain_order(), scopes, graph.num_labels)
        else:
            cache[key] = TreeEngine(TreeSchedule.build(graph.interaction_graph(), scopes))
    return cache[key]


def infer(
    graph: FactorGraph, terms: EnergyTerms, method: str = "auto", **options
) -> InferenceResult:
    """Run ``method`` on ``terms``; "auto" is exact on chains and trees, loopy min-sum otherwise."""
    if method not in METHODS:
        raise ValueError(f"unknown inference method {method!r}; choose from {', '.join(METHODS)}")
    if method == "auto":
        method = "exact" if graph.structure != "loopy" else "min_sum"
    if method == "exact":
        y = exact(graph, options.get("engine", "auto")).argmin(terms)
        done = torch.ones(terms.batch_size, dtype=torch.bool)
        return InferenceResult(y, terms.energy(y), done, 1, "exact")
    result = LOOPY[method](terms, **options)
    result.energy = terms.energy(result.assignment)  # differentiable wrt the factors
    return result


def most_offending(
    graph: FactorGraph, terms: EnergyTerms, y: torch.Tensor, method: str = "auto", **options
) -> torch.Tensor:
    """argmin_{y' != y} of ``terms`` (already cost-augmented): exact on chains and trees;
    on loopy graphs the answer of ``method`` (default loopy min-sum), replaced, where it
    equals y, by the best single-variable change of y."""
    if method in ("auto", "exact") and graph.structure != "loopy":
        return exact(graph).most_offending(terms, y)
    with torch.no_grad():
        t = terms.detach()
        result = infer(graph, t, "min_sum" if method in ("auto", "exact") else method, **options)
        cand = result.assignment.clone()
        same = (cand == y).all(1)
        if bool(same.any()):
            cond = t.conditional(y)  # [B, n, K]; the differences are energy changes
            cond = cond.scatter(2, y[..., None], float("inf"))
            flat = cond.flatten(1).argmin(1)
            k = t.num_labels
            flipped = y.clone()
            flipped[torch.arange(len(y)), flat // k] = flat % k
            cand[same] = flipped[same]
    return cand
