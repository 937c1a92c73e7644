"""Exact samples of paths from the Gibbs distribution of a DAG, as linear graphs.

P(path) = exp(-beta E(path)) / Z, with E the path energy (start + arcs + final; lower is more
likely) and Z = exp(-beta F), F the free energy. Each sample is a linear graph like
``gtn.scoring.best_path`` (arc energies gathered from ``g.weight``, connected to autograd).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ._internal import sample_kernels as K
from ._internal.batch import as_batch, cat_weights
from ._internal.paths import check_path_count, path_buffers, path_graphs, split_paths
from ._internal.plan import make_plan, use_threads
from .graph import Graph, integer
from .scoring import _sorted_weights, check_beta

Seed = torch.Generator | np.random.Generator | int | None


def _seed(generator: Seed) -> np.uint64:
    """One 62-bit seed from a torch or numpy generator, an int, or torch's global generator."""
    if isinstance(generator, np.random.Generator):
        return np.uint64(generator.integers(0, 2**62))
    if isinstance(generator, int | np.integer):
        return np.uint64(np.random.default_rng(int(generator)).integers(0, 2**62))
    return np.uint64(int(torch.randint(0, 2**62, (1,), generator=generator).item()))


def sample(g: Graph | Sequence[Graph], n: int, beta: float = 1.0, generator: Seed = None) -> list:
    """Draw ``n`` independent paths from P(path) ∝ exp(-beta E(path)).

    Args:
        g: a DAG (gives a list of n graphs) or a list of DAGs (a list of lists).
        n: number of samples per graph.
        beta: inverse temperature > 0.
        generator: a ``torch.Generator``, a ``numpy.random.Generator`` or an int seed; None
            draws the seed from torch's global generator (``torch.manual_seed`` applies).
            The same seed gives the same samples, whatever the number of threads.

    Exact: backward free energies, then ancestral sampling. A graph without a complete path
    gives an empty list. Raises GraphError if a graph is cyclic, ValueError if n is not an
    integer >= 0 or asks for more paths than one call returns (as :func:`gtn.nbest`).
    """
    graphs, single = as_batch(g, "sample")
    beta = check_beta(beta)
    n = integer("n", n, ValueError)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    check_path_count("sample", n, graphs)
    if not graphs:
        return []
    seed = _seed(generator)
    plan = make_plan(graphs, "sample")
    weights = _sorted_weights(plan, *cat_weights(graphs))
    buffers = path_buffers(plan, n)
    drawn = np.empty(plan.num_graphs, np.int64)
    use_threads(plan)
    K.sample(beta, seed, n, plan, weights, *buffers, drawn)
    out = path_graphs(graphs, split_paths(plan, buffers, n, drawn))
    return out[0] if single else out
