"""Scoring a DAG: free energy, minimum energy, best path and arc posteriors.

- ``free_energy(g, beta)`` = -(1/beta) log sum_paths exp(-beta E(path)) (log semiring);
  its gradient is the posterior of each arc (and of each start / final weight).
- ``min_energy(g)`` = min_paths E(path) (tropical semiring); its gradient is the best path's
  indicator.

Every function takes one ``Graph`` or a list of graphs; a list is packed and scored by one
numba kernel running in parallel over the graphs. A graph without a complete path (including
the graph with no states) has energy +inf and zero gradient. So has any graph whose energy is
infinite in the returned dtype: a sum of weights beyond its range (float32 3e38 + 3e38) is +inf,
one below it (float64 -1e308 - 1e308) is -inf, both for ``free_energy`` and ``min_energy``,
with zero gradient. Cyclic graphs raise GraphError. beta must lie in [1e-300, inf) (MIN_BETA):
below, free energies of order log(#paths) / beta leave float64.

Differentiability: each score is a ``torch.autograd.Function`` whose forward and backward are
numba dynamic programs (the backward of the free energy is the forward-backward posterior).
Use this mechanism for a new *score*; an operation that outputs a graph passes gradients
through arc maps or a weight tape instead (see ``gtn._internal.arc_map``).

>>> import gtn
>>> g = gtn.Graph.from_arrays(2, [0, 0], [1, 1], [0, 1], weight=[1.0, 2.0])
>>> round(float(min_energy(g)), 4), round(float(free_energy(g)), 4)
(1.0, 0.6867)
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from ._internal import scoring_kernels as K
from ._internal.batch import as_batch, cat_weights
from ._internal.linear import empty_graph, path_graph
from ._internal.paths import Path, path_buffers, split_paths
from ._internal.plan import Plan, Weights, from_sorted, make_plan, to_sorted, use_threads
from .graph import Graph

GraphOrList = Graph | Sequence[Graph]


def _numpy(t: torch.Tensor) -> np.ndarray:
    """A float64 numpy copy (or view) of a tensor. The kernels accumulate in float64 anyway;
    one dtype means one compilation of each kernel instead of one per input dtype."""
    # numpy's cast, not torch's: torch's parallel cast wakes its thread pool, which then
    # competes with numba's for the cores
    return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.float64)


def _cast(t: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A float64 CPU gradient in ``dtype``, cast by numpy (see :func:`_numpy`)."""
    if t.dtype == dtype:
        return t
    return torch.from_numpy(t.numpy().astype(torch.empty(0, dtype=dtype).numpy().dtype))


# Free energies lie up to log(#paths) / beta below the path energies, and the log-space kernels
# shift their sums by 300 / beta: below this, both leave float64 (+-inf, or NaN from 0 * inf).
MIN_BETA = 1e-300


def check_beta(beta: float) -> float:
    """beta as a float; ValueError unless MIN_BETA <= beta < inf (shared by every scoring
    operation, graphs and dense lattices alike)."""
    beta = float(beta)
    if not 0.0 < beta < math.inf:
        raise ValueError(f"beta (inverse temperature) must be positive and finite, got {beta}")
    if beta < MIN_BETA:
        raise ValueError(
            f"beta = {beta} is below {MIN_BETA}: free energies of order log(#paths) / beta "
            "and the kernels' shifts of 300 / beta would leave float64"
        )
    return beta


def _sorted_weights(plan: Plan, weight, start_weight, final_weight) -> Weights:
    """The plan's energies as numpy float64 (arcs in sorted order)."""
    return Weights(to_sorted(plan, _numpy(weight)), _numpy(start_weight), _numpy(final_weight))


def _grad_dtype(weight: torch.Tensor) -> torch.dtype:
    """Gradients and posteriors are float32 for float32 energies, else float64."""
    return torch.float32 if weight.dtype == torch.float32 else torch.float64


def _log_forward(plan: Plan, weights: Weights, beta: float) -> tuple[tuple, np.ndarray]:
    """(the forward values the backward reads: alpha, shift, scale [sum N]; free energy [B]),
    float64."""
    alpha, shift, scale = (np.empty(plan.node_off[-1]) for _ in range(3))
    free = np.empty(plan.num_graphs)
    use_threads(plan)
    K.log_forward(beta, plan, weights, alpha, shift, scale, free)
    return (alpha, shift, scale), free


def _log_backward(
    plan: Plan, weights: Weights, beta, forward, free, gout, dtype: torch.dtype
) -> tuple[torch.Tensor, ...]:
    """gout[b] times the posteriors of arcs (the graphs' own order), start and final states,
    as tensors of ``dtype``."""
    grads = tuple(torch.empty(a.shape[0], dtype=torch.float64) for a in weights)
    garc, gsw, gfw = (g.numpy() for g in grads)
    garc_sorted = garc if plan.all_sorted else np.empty_like(garc)
    use_threads(plan)
    K.log_backward(beta, gout, free, plan, weights, *forward, garc_sorted, gsw, gfw)
    from_sorted(plan, garc_sorted, garc)
    return tuple(_cast(g, dtype) for g in grads)


def _grad_numpy(grad: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(grad.detach().cpu().numpy(), dtype=np.float64).reshape(-1)


def _overflow_to_minus_inf(plan: Plan, arrays: Weights, free: np.ndarray) -> np.ndarray:
    """Free energies, with -inf where a path's energy overflows float64 below -1.8e308: the
    log-space forward cannot shift by -inf and reports +inf there, the tropical forward gives
    the true -inf (F <= min E). Checked only when a result is not finite and the weights could
    overflow at all."""
    if np.isfinite(free).all():
        return free
    # no path is lower than the sum of every negative weight: if that is finite, none overflows
    with np.errstate(over="ignore"):
        lowest = sum(float(np.minimum(a, 0).sum(dtype=np.float64)) for a in arrays)
    if lowest > -math.inf:
        return free
    energy = _viterbi(plan, arrays)[0]
    return np.where(energy == -math.inf, -math.inf, free)


def _finite_only(out: torch.Tensor, values: np.ndarray) -> np.ndarray:
    """``values`` with +inf wherever the returned energy is infinite (no path, or beyond the
    dtype's range): the backward kernels then give those graphs zero gradient."""
    return np.where(torch.isfinite(out).numpy(), values, math.inf)


class _FreeEnergy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, start_weight, final_weight, plan: Plan, beta: float):
        arrays = _sorted_weights(plan, weight, start_weight, final_weight)
        alpha, free = _log_forward(plan, arrays, beta)
        free = _overflow_to_minus_inf(plan, arrays, free)
        out = torch.from_numpy(free).to(weight.dtype)
        ctx.state = (plan, arrays, beta, alpha, _finite_only(out, free), _grad_dtype(weight))
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        plan, arrays, beta, alpha, free, dtype = ctx.state
        grads = _log_backward(plan, arrays, beta, alpha, free, _grad_numpy(grad), dtype)
        return (*grads, None, None)


def _viterbi(plan: Plan, weights: Weights) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(energy [B], back-pointers [sum N] (sorted arcs), best final state [B])."""
    alpha = np.empty(plan.node_off[-1])
    back = np.empty(plan.node_off[-1], np.int64)
    energy = np.empty(plan.num_graphs)
    last = np.empty(plan.num_graphs, np.int64)
    use_threads(plan)
    K.viterbi_forward(plan, weights, alpha, back, energy, last)
    return energy, back, last


class _MinEnergy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, start_weight, final_weight, plan: Plan):
        arrays = _sorted_weights(plan, weight, start_weight, final_weight)
        energy, back, last = _viterbi(plan, arrays)
        out = torch.from_numpy(energy).to(weight.dtype)
        live = np.isfinite(_finite_only(out, energy))
        ctx.state = (plan, [a.shape[0] for a in arrays], _grad_dtype(weight), back, last, live)
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        plan, sizes, dtype, back, last, live = ctx.state
        grads = tuple(torch.zeros(n, dtype=torch.float64) for n in sizes)
        use_threads(plan)
        gout = np.where(live, _grad_numpy(grad), 0.0)
        K.viterbi_backward(gout, plan, back, last, *(g.numpy() for g in grads))
        return (*(_cast(g, dtype) for g in grads), None)


def _empty_result() -> torch.Tensor:
    return torch.empty(0, dtype=torch.get_default_dtype())


def free_energy(g: GraphOrList, beta: float = 1.0) -> torch.Tensor:
    """Free energy F = -(1/beta) log sum_paths exp(-beta E(path)) of a DAG.

    Args:
        g: a Graph (gives a 0-d tensor) or a list of B graphs (gives shape [B]).
        beta: inverse temperature, 1e-300 <= beta < inf; F tends to ``min_energy`` as beta
            grows. At any beta the posteriors are a distribution over paths; they are accurate
            to about beta * |F| * 1e-16 (see docs/concepts/numerics.md).

    Returns F in the graphs' dtype (+inf for a graph without a complete path). Differentiable
    wrt ``weight``, ``start_weight`` and ``final_weight``: dF/dw is the posterior probability
    of each arc (start / final state) under P(path) ∝ exp(-beta E(path)); zero when F = +inf.
    Forward and backward run in numba (float64 accumulation); no double backward.
    Raises GraphError if a graph is cyclic.
    """
    graphs, single = as_batch(g, "free_energy")
    beta = check_beta(beta)
    if not graphs:
        return _empty_result()
    plan = make_plan(graphs, "free_energy")
    out = _FreeEnergy.apply(*cat_weights(graphs), plan, beta)
    return out[0] if single else out


def min_energy(g: GraphOrList) -> torch.Tensor:
    """Minimum path energy (Viterbi, min-sum) of a DAG.

    Args:
        g: a Graph (gives a 0-d tensor) or a list of B graphs (gives shape [B]).

    Returns the energy of the best path (+inf when there is none). The gradient wrt
    ``weight``, ``start_weight`` and ``final_weight`` is the indicator of the best path, the one
    ``best_path`` returns. Ties are broken deterministically: the final state with the lowest
    id; at each state, starting there beats arriving by an arc, and among equally good arcs the
    lowest arc index wins. Raises GraphError if a graph is cyclic.
    """
    graphs, single = as_batch(g, "min_energy")
    if not graphs:
        return _empty_result()
    plan = make_plan(graphs, "min_energy")
    out = _MinEnergy.apply(*cat_weights(graphs), plan)
    return out[0] if single else out


def _best_paths(graphs: list[Graph], what: str) -> list[Path]:
    """Each graph's best path; its first and last state are -1 when it has none."""
    plan = make_plan(graphs, what)
    _, back, last = _viterbi(plan, _sorted_weights(plan, *cat_weights(graphs)))
    buffers = path_buffers(plan, 1)._replace(last=last)
    K.viterbi_paths(plan, back, *buffers)
    return [found[0] for found in split_paths(plan, buffers, 1, np.ones(plan.num_graphs, np.int64))]


def best_path_arcs(g: GraphOrList) -> np.ndarray | list[np.ndarray]:
    """Arc indices (int64, in path order) of the best path, as chosen by ``min_energy``
    (same tie-breaking); an empty array when there is no complete path. A list for a list."""
    graphs, single = as_batch(g, "best_path_arcs")
    if not graphs:
        return []
    out = [arcs.copy() for arcs, _, _ in _best_paths(graphs, "best_path_arcs")]
    return out[0] if single else out


def best_path(g: GraphOrList) -> Graph | list[Graph]:
    """The lowest-energy path as a linear graph (the one ``min_energy`` differentiates).

    Its arcs keep the input arcs' labels and their energies ``g.weight[arc]`` (still connected
    to autograd); its first state has the path's start weight, its last state the final weight,
    so its total energy equals ``min_energy(g)``. A graph without a complete path gives the
    empty graph (0 states). A list of graphs gives a list.
    """
    graphs, single = as_batch(g, "best_path")
    if not graphs:
        return []
    out = [
        empty_graph(graph) if last < 0 else path_graph(graph, arcs, first, last)
        for graph, (arcs, first, last) in zip(graphs, _best_paths(graphs, "best_path"), strict=True)
    ]
    return out[0] if single else out


def arc_posteriors(g: GraphOrList, beta: float = 1.0) -> torch.Tensor | list[torch.Tensor]:
    """Posterior probability [A] of each arc: the probability that a path drawn from
    P(path) ∝ exp(-beta E(path)) uses it (all zero when there is no complete path).

    Computed by the numba forward-backward, not by autograd: the result is detached (use the
    gradient of ``free_energy`` to differentiate through it). A list of tensors for a list.
    """
    graphs, single = as_batch(g, "arc_posteriors")
    beta = check_beta(beta)
    if not graphs:
        return []
    plan = make_plan(graphs, "arc_posteriors")
    weights = cat_weights(graphs)
    arrays = _sorted_weights(plan, *weights)
    alpha, free = _log_forward(plan, arrays, beta)
    ones = np.ones(plan.num_graphs)
    posteriors = _log_backward(plan, arrays, beta, alpha, free, ones, _grad_dtype(weights[0]))[0]
    out = list(torch.split(posteriors, np.diff(plan.arc_off).tolist()))
    return out[0] if single else out
