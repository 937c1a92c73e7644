"""Paths found by the path kernels (best path, n-best lists, samples): k per graph of a plan,
written into flat buffers, then cut into (arcs, first state, last state) per path."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..graph import Graph
from .linear import path_graph
from .plan import Plan

Path = tuple[np.ndarray, int, int]  # (arc ids in the graph's own order, first state, last state)


class PathBuffers(NamedTuple):
    """Room for k paths per graph. Graph b's p-th path has arcs
    arcs[k * node_off[b] + p * N_b :][: length[b * k + p]] (a path has fewer arcs than its
    graph has states), from state first[b * k + p] to last[b * k + p]."""

    arcs: np.ndarray  # int64 [k * sum N]
    length: np.ndarray  # int64 [B * k]
    first: np.ndarray  # int64 [B * k]
    last: np.ndarray  # int64 [B * k]


def path_buffers(plan: Plan, k: int) -> PathBuffers:
    b = plan.num_graphs
    return PathBuffers(
        np.empty(k * plan.node_off[-1], np.int64), *(np.empty(b * k, np.int64) for _ in range(3))
    )


def split_paths(plan: Plan, buffers: PathBuffers, k: int, counts) -> list[list[Path]]:
    """The first counts[b] paths of each graph b (views into the buffers)."""
    arcs, length, first, last = buffers
    out = []
    for b in range(plan.num_graphs):
        base, n = k * plan.node_off[b], plan.node_off[b + 1] - plan.node_off[b]
        out.append(
            [
                (
                    arcs[base + p * n :][: length[b * k + p]],
                    int(first[b * k + p]),
                    int(last[b * k + p]),
                )
                for p in range(counts[b])
            ]
        )
    return out


def path_graphs(graphs: list[Graph], paths: list[list[Path]]) -> list[list[Graph]]:
    """Each graph's paths as linear graphs (see ``linear.path_graph``)."""
    return [
        [path_graph(graph, arcs, first, last) for arcs, first, last in found]
        for graph, found in zip(graphs, paths, strict=True)
    ]
