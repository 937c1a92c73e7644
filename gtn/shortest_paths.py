"""The n lowest-energy paths of a DAG (n-best lists), as linear graphs.

Weights are energies (lower is better); a path's energy includes its start and final weight.
Each path comes back as a linear graph like ``gtn.scoring.best_path``: arc energies are
``g.weight[arc]`` (connected to autograd), the first state carries the start weight and the
last the final weight.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ._internal import nbest_kernels as K
from ._internal.batch import as_batch, cat_weights
from ._internal.linear import path_graph
from ._internal.plan import Plan, make_plan, use_threads
from .graph import EPSILON, Graph
from .scoring import _sorted_weights

Path = tuple[np.ndarray, int, int, float]  # (arc ids, first state, last state, energy)


def _kbest(graphs: list[Graph], k: int) -> list[list[Path]]:
    """The k best paths of each graph, in increasing energy (exact; ties in a fixed order)."""
    plan: Plan = make_plan(graphs, "nbest")
    w, sw, fw = _sorted_weights(plan, *cat_weights(graphs))
    b = plan.num_graphs
    paths = np.empty(k * plan.node_off[-1], np.int64)
    length, first, last = (np.empty(b * k, np.int64) for _ in range(3))
    energy = np.empty(b * k)
    found = np.empty(b, np.int64)
    use_threads(plan)
    K.kbest(
        k,
        plan.node_off,
        plan.arc_off,
        plan.node_order,
        plan.out_ptr,
        plan.arc_order,
        plan.sorted,
        plan.src,
        plan.dst,
        w,
        sw,
        fw,
        paths,
        length,
        first,
        last,
        energy,
        found,
    )
    out = []
    for i, g in enumerate(graphs):
        base = k * plan.node_off[i]
        out.append(
            [
                (
                    paths[base + p * g.num_nodes :][: length[i * k + p]].copy(),
                    int(first[i * k + p]),
                    int(last[i * k + p]),
                    float(energy[i * k + p]),
                )
                for p in range(found[i])
            ]
        )
    return out


def _output_string(g: Graph, arcs: np.ndarray) -> bytes:
    labels = g.olabel[arcs]
    return labels[labels != EPSILON].tobytes()


def _distinct(graphs: list[Graph], n: int) -> list[list[Path]]:
    """Enumerate paths in energy order, k doubling, until n distinct output strings are seen
    (or the paths run out); the first path of each string is its lowest-energy one."""
    result: list[list[Path] | None] = [None] * len(graphs)
    todo = list(range(len(graphs)))
    k = 2 * n
    while todo:
        lists = _kbest([graphs[i] for i in todo], k)
        still = []
        for i, paths in zip(todo, lists, strict=True):
            seen: dict[bytes, Path] = {}
            for path in paths:
                seen.setdefault(_output_string(graphs[i], path[0]), path)
                if len(seen) == n:
                    break
            if len(seen) == n or len(paths) < k:
                result[i] = list(seen.values())
            else:
                still.append(i)
        todo = still
        k *= 2
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
    come in a fixed, deterministic order. Raises GraphError if a graph is cyclic.
    """
    graphs, single = as_batch(g, "nbest")
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not graphs:
        return []
    if n == 0:
        out = [[] for _ in graphs]
    else:
        paths = _distinct(graphs, n) if distinct else _kbest(graphs, n)
        out = [
            [path_graph(graph, arcs, first, last) for arcs, first, last, _ in found]
            for graph, found in zip(graphs, paths, strict=True)
        ]
    return out[0] if single else out
