"""The n lowest-energy paths of a DAG (n-best lists), as linear graphs.

A path's energy includes its start and final weight. Each path comes back as a linear graph like
``gtn.scoring.best_path``: arc energies are ``g.weight[arc]`` (connected to autograd), the first
state carries the start weight and the last the final weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._internal import nbest_kernels as K
from ._internal.batch import as_batch, cat_weights
from ._internal.paths import (
    MAX_PATH_SLOTS,
    Path,
    check_path_count,
    path_buffers,
    path_graphs,
    split_paths,
)
from ._internal.plan import make_plan, use_threads
from .graph import EPSILON, Graph, integer
from .scoring import _sorted_weights


def _kbest(graphs: list[Graph], k: int) -> list[list[tuple[Path, float]]]:
    """The k best paths of each graph with their energies, in increasing energy (exact; ties
    in a fixed order)."""
    plan = make_plan(graphs, "nbest")
    weights = _sorted_weights(plan, *cat_weights(graphs))
    buffers = path_buffers(plan, k)
    energy = np.empty(plan.num_graphs * k)
    found = np.empty(plan.num_graphs, np.int64)
    use_threads(plan)
    K.kbest(k, plan, weights, *buffers, energy, found)
    paths = split_paths(plan, buffers, k, found)
    return [
        [(path, float(energy[b * k + p])) for p, path in enumerate(found_b)]
        for b, found_b in enumerate(paths)
    ]


def _output_string(g: Graph, arcs: np.ndarray) -> bytes:
    labels = g.olabel[arcs]
    return labels[labels != EPSILON].tobytes()


def _distinct(graphs: list[Graph], n: int) -> list[list[tuple[Path, float]]]:
    """Enumerate paths in energy order, k doubling, until n distinct output strings are seen
    (or the paths run out); the first path of each string is its lowest-energy one."""
    result: list[list[Path] | None] = [None] * len(graphs)
    todo = list(range(len(graphs)))
    k = 2 * n
    while todo:
        lists = _kbest([graphs[i] for i in todo], k)
        still = []
        for i, paths in zip(todo, lists, strict=True):
            seen: dict[bytes, tuple[Path, float]] = {}
            for path in paths:
                seen.setdefault(_output_string(graphs[i], path[0][0]), path)
                if len(seen) == n:
                    break
            if len(seen) == n or len(paths) < k:
                result[i] = list(seen.values())
            else:
                still.append(i)
        todo = still
        k *= 2
        if todo and k * sum(graphs[i].num_nodes for i in todo) > MAX_PATH_SLOTS:
            raise ValueError(
                f"nbest: {n} distinct output sequences are not among the {k // 2:,} best paths, "
                "the most gtn enumerates for these graphs (MAX_PATH_SLOTS)"
            )
    return result


def nbest(g: Graph | Sequence[Graph], n: int, distinct: bool = False) -> list:
    """The ``n`` lowest-energy paths, in increasing energy, as linear graphs.

    Args:
        g: a DAG (gives a list of graphs) or a list of DAGs (gives a list of lists).
        n: how many paths; fewer come back when the graph has fewer complete paths.
        distinct: if True, return the best path of each of the ``n`` lowest-energy distinct
            output label sequences (epsilons removed) instead. Exact: paths are enumerated in
            energy order until n distinct sequences appear, so the cost grows with the number
            of paths that share a sequence.

    Exact on DAGs (k-best lists per state, O(A n^2) in the worst case); equal-energy paths
    come in a fixed, deterministic order. Raises GraphError if a graph is cyclic, ValueError if
    n is not an integer >= 0 or asks for more paths than one call returns
    (:data:`gtn._internal.paths.MAX_PATHS` in all, and n x states at most
    :data:`~gtn._internal.paths.MAX_PATH_SLOTS`).
    """
    graphs, single = as_batch(g, "nbest")
    n = integer("n", n, ValueError)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    check_path_count("nbest", n, graphs)
    if not graphs:
        return []
    if n == 0:
        out = [[] for _ in graphs]
    else:
        scored = _distinct(graphs, n) if distinct else _kbest(graphs, n)
        out = path_graphs(graphs, [[path for path, _ in found] for found in scored])
    return out[0] if single else out
