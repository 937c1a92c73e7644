"""Posterior probabilities of output sequences under a lattice: the confidence of an answer.

Under the Gibbs distribution P(path) ∝ exp(-beta E(path)) over the lattice's paths (energies,
lower is better), the posterior of an output sequence y is

    P(y) = exp(-beta (F(lattice restricted to y) - F(lattice)))

with F the free energy -(1/beta) log sum exp(-beta E). The restriction is a composition with
the linear acceptor of y, so each path with output y is counted exactly once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import gtn


def free_energy(graph: gtn.Graph, beta: float) -> float:
    """F of an acyclic graph (+inf when it has no complete path)."""
    if graph.num_nodes == 0:
        return math.inf
    return float(gtn.free_energy(graph.detach(), beta))


def restrict(graph: gtn.Graph, output: Sequence[int]) -> gtn.Graph:
    """The paths of ``graph`` whose output labels (epsilons removed) are ``output``."""
    return gtn.compose(graph.detach(), gtn.linear(list(output)))


def output_posterior(
    graph: gtn.Graph, output: Sequence[int], beta: float = 1.0, *, total: float | None = None
) -> float:
    """P(output) in [0, 1] under ``graph`` (a lattice) at inverse temperature ``beta``.

    Args:
        graph: an acyclic transducer; its output side is matched against ``output``.
        output: output labels (no epsilons).
        total: F(graph) at this beta, if already known (saves one pass per call).

    Returns 0 when no path has this output or the graph has no path at all.

    >>> g = gtn.Graph.from_arrays(2, [0, 0], [1, 1], [0, 0], [3, 4], [0.0, 0.0])
    >>> round(output_posterior(g, [3]), 6)
    0.5
    """
    total = free_energy(graph, beta) if total is None else total
    if total == math.inf:
        return 0.0
    part = free_energy(restrict(graph, output), beta)
    if part == math.inf:
        return 0.0
    return min(1.0, math.exp(-beta * (part - total)))
