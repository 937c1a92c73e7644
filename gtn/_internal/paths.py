"""Paths found by the path kernels (best path, n-best lists, samples): k per graph of a plan,
written into flat buffers, then cut into (arcs, first state, last state) per path."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..graph import Graph
from .linear import path_graph
from .plan import Plan

Path = tuple[np.ndarray, int, int]  # (arc ids in the graph's own order, first state, last state)

# Bounds on the paths one call finds (n per graph), so that a mistyped n is an error, not an
# attempt to allocate terabytes. Each path comes back as a gtn.Graph (about 2 KB and half a
# millisecond to build): a million of them is already minutes and gigabytes.
MAX_PATHS = 1_000_000
# The kernels hold each path in as many int64 slots as its graph has states (a path has fewer
# arcs), and n-best keeps ~3 such values per state and path: 2**28 slots is 2 GiB of buffers.
# A 1000-best list of a 250,000-state lattice fits.
MAX_PATH_SLOTS = 1 << 28


def check_path_count(op: str, n: int, graphs: list[Graph]) -> None:
    """ValueError naming ``n`` when ``op`` would find more paths than the bounds above."""
    paths = n * len(graphs)
    if paths > MAX_PATHS:
        raise ValueError(
            f"{op}: n = {n:,} paths per graph ({paths:,} in all) is more than {MAX_PATHS:,}, "
            "the most one call returns (each path is a gtn.Graph)"
        )
    states = sum(g.num_nodes for g in graphs)
    if n * states > MAX_PATH_SLOTS:
        raise ValueError(
            f"{op}: n = {n:,} paths of graphs with {states:,} states in all need "
            f"{n * states:,} buffer slots (a path has room for each state), more than "
            f"{MAX_PATH_SLOTS:,}"
        )


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
