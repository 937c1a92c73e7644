"""Posterior probabilities of output sequences under a lattice: the confidence of an answer.

Under the Gibbs distribution P(path) ∝ exp(-beta E(path)) over the lattice's paths, the
posterior of an output sequence y is

    P(y) = exp(-beta (F(lattice restricted to y) - F(lattice)))

with F the free energy -(1/beta) log sum exp(-beta E). The restriction is the composition with
the linear acceptor of y (each path with output y counted exactly once); it is computed by a
dynamic program over (lattice state, position in y) pairs that some path reaches, without
building that composition (:mod:`decoders._posterior_kernels`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

import gtn
from gtn.utils import deprecated_aliases

from ._posterior_kernels import EVERYTHING, LatticeArrays, pair_pass, restricted_free_energy

# Given the lowest energy E_y of a path with output y, pairs whose every completion lies above
# E_y + NEGLIGIBLE / beta are dropped: each carries less than exp(-NEGLIGIBLE) of y's mass, so
# even 10^20 of them change P(y) by under 1e-23 relative, far below float64 resolution.
NEGLIGIBLE = 100.0


def free_energy_value(graph: gtn.Graph, beta: float) -> float:
    """F of an acyclic graph as a detached float (+inf when it has no complete path); the
    differentiable tensor is ``gtn.free_energy``."""
    if graph.num_nodes == 0:
        return math.inf
    return float(gtn.free_energy(graph.detach(), beta))


def restrict(graph: gtn.Graph, output: Sequence[int]) -> gtn.Graph:
    """The paths of ``graph`` whose output labels (epsilons removed) are ``output``."""
    return gtn.compose(graph.detach(), gtn.linear(list(output)))


def restricted_energy(
    graph: gtn.Graph, output: Sequence[int], beta: float = 1.0, *, energy: float | None = None
) -> float:
    """F(``graph`` restricted to ``output``) at inverse temperature ``beta`` (+inf: no path).

    Equals ``free_energy_value(restrict(graph, output), beta)`` without building the composition.
    ``energy``, the lowest energy of a path with this output if known, lets the computation
    drop state/position pairs whose mass is negligible (see NEGLIGIBLE), which bounds its
    memory on large lattices; without it every reachable pair is kept.

    Raises:
        GraphError: the graph is cyclic.
    """
    if graph.num_nodes == 0:
        return math.inf
    limit = math.inf if energy is None else float(energy) + NEGLIGIBLE / beta
    output = np.asarray(list(output), np.int64).reshape(-1)
    f, _, cycle = restricted_free_energy(lattice_arrays(graph), output, float(beta), limit)
    check_acyclic("posteriors", cycle)
    return float(f)


def lattice_free_energy(graph: gtn.Graph, beta: float) -> float:
    """F of an acyclic graph (+inf: no path) by the pair pass of :func:`restricted_energy` (so
    that a posterior is a ratio of two results of one computation, and a first decode compiles
    one kernel for both). Raises GraphError if the graph is cyclic."""
    if graph.num_nodes == 0:
        return math.inf
    total, _, cycle, _ = pair_pass(lattice_arrays(graph), EVERYTHING, float(beta), math.inf)
    check_acyclic("posteriors", cycle)
    return float(total)


def check_acyclic(what: str, cycle: int) -> None:
    """GraphError naming ``cycle``, a state on a cycle, unless it is -1 (none)."""
    if cycle >= 0:
        raise gtn.GraphError(f"{what} need an acyclic graph; state {cycle} is on a cycle")


def lattice_arrays(graph: gtn.Graph) -> LatticeArrays:
    """An acyclic graph's arrays as the pair kernels read them."""
    return LatticeArrays(
        graph.num_nodes,
        np.ascontiguousarray(graph.src),  # int32 as stored: no copies of the lattice's arcs
        np.ascontiguousarray(graph.dst),
        np.ascontiguousarray(graph.olabel),
        *(
            np.ascontiguousarray(x.detach().cpu().double().numpy())
            for x in (graph.weight, graph.start_weight, graph.final_weight)
        ),
    )


def output_posterior(
    graph: gtn.Graph,
    output: Sequence[int],
    beta: float = 1.0,
    *,
    total: float | None = None,
    energy: float | None = None,
) -> float:
    """P(output) in [0, 1] under ``graph`` (a lattice) at inverse temperature ``beta``.

    Args:
        graph: an acyclic transducer; its output side is matched against ``output``.
        output: output labels (no epsilons).
        total: F(graph) at this beta, if already known (saves one pass per call).
        energy: the lowest energy of a path with this output, if known: memory then follows
            the part of the lattice that matters (see :func:`restricted_energy`).

    Returns 0 when no path has this output or the graph has no path at all.

    >>> g = gtn.Graph.from_arrays(2, [0, 0], [1, 1], [0, 0], [3, 4], [0.0, 0.0])
    >>> round(output_posterior(g, [3]), 6)
    0.5
    """
    total = free_energy_value(graph, beta) if total is None else total
    if total == math.inf:
        return 0.0
    part = restricted_energy(graph, output, beta, energy=energy)  # +inf: exp gives 0
    return min(1.0, math.exp(-beta * (part - total)))


# Names renamed in this release keep working until the next one: each use warns with the new name.
__getattr__ = deprecated_aliases(
    "decoders.posteriors",
    {"free_energy": ("decoders.posteriors.free_energy_value", free_energy_value)},
)
