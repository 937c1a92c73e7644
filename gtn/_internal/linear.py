"""Paths of a graph as linear graphs that stay connected to the graph's autograd history.

A path is given by its arcs (local ids, in order) and its first and last state. The linear
graph has one state more than the path has arcs; arc i keeps the labels of the i-th path arc
and its energy ``graph.weight[arc]``; the first state carries the path's start weight and the
last state its final weight, so the linear graph's total energy is the path's energy.
"""

from __future__ import annotations

import numpy as np
import torch

from ..graph import INF, Graph


def _node_energy(values: torch.Tensor, node: int, length: int, at_end: bool) -> torch.Tensor:
    """A [length] vector, +inf except values[node] at the first (or last) position."""
    one = values[node : node + 1]
    rest = values.new_full((length - 1,), INF)
    return torch.cat([rest, one] if at_end else [one, rest])


def path_graph(graph: Graph, arcs: np.ndarray, first: int, last: int) -> Graph:
    """The linear graph of one path of ``graph`` (see the module docstring)."""
    arcs = np.ascontiguousarray(arcs, dtype=np.int64)
    n = arcs.shape[0] + 1
    return graph._derive(
        arc_map=arcs,
        num_nodes=n,
        src=np.arange(n - 1, dtype=np.int32),
        dst=np.arange(1, n, dtype=np.int32),
        start_weight=_node_energy(graph.start_weight, first, n, at_end=False),
        final_weight=_node_energy(graph.final_weight, last, n, at_end=True),
    )


def empty_graph(graph: Graph) -> Graph:
    """The graph with no states (what a graph without a complete path has as its best path)."""
    none = graph.weight[:0]
    return graph._derive(
        arc_map=np.empty(0, np.int64), num_nodes=0, start_weight=none, final_weight=none
    )
