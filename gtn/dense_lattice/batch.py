"""A ragged batch of acceptors over labels (arcs concatenated, plus offsets), like k2's FsaVec.

Vectorised topology builders return a :class:`GraphBatch` directly, so a training step never
builds one Python :class:`gtn.Graph` per utterance. Weights are energies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .._internal.batch import as_batch, cat_weights, pack
from ..graph import Graph, GraphError


class GraphBatch:
    """G acceptors as ragged arrays.

    Attributes:
        node_offsets, arc_offsets: int64 [G+1]; graph g owns nodes
            ``node_offsets[g]:node_offsets[g+1]`` and arcs ``arc_offsets[g]:arc_offsets[g+1]``.
        src, dst: int32 [A]; node ids local to their graph.
        label: int32 [A]; a label in 0..V-1 or ``gtn.EPSILON`` (-1).
        weight: tensor [A] of arc energies; start_weight, final_weight: tensors [N]
            (+inf = not a start / final state). All may require grad.
    """

    __slots__ = (
        "node_offsets",
        "arc_offsets",
        "src",
        "dst",
        "label",
        "weight",
        "start_weight",
        "final_weight",
        "_cache",
    )

    def __init__(
        self, node_offsets, arc_offsets, src, dst, label, weight, start_weight, final_weight
    ):
        self.node_offsets = np.ascontiguousarray(node_offsets, dtype=np.int64)
        self.arc_offsets = np.ascontiguousarray(arc_offsets, dtype=np.int64)
        self.src = np.ascontiguousarray(src, dtype=np.int32)
        self.dst = np.ascontiguousarray(dst, dtype=np.int32)
        self.label = np.ascontiguousarray(label, dtype=np.int32)
        self.weight = weight
        self.start_weight = start_weight
        self.final_weight = final_weight
        self._cache: dict = {}
        n, a = int(self.node_offsets[-1]), int(self.arc_offsets[-1])
        arcs = {x.shape[0] for x in (self.src, self.dst, self.label, weight)}
        if arcs != {a} or start_weight.shape[0] != n or final_weight.shape[0] != n:
            raise GraphError("GraphBatch arrays disagree with its offsets")

    @classmethod
    def from_graphs(cls, graphs: Graph | Sequence[Graph]) -> GraphBatch:
        """Pack graphs (one Graph = a batch of one). Weights stay differentiable."""
        graphs, _ = as_batch(graphs)
        if not graphs:
            raise GraphError("an empty list of graphs")
        for i, g in enumerate(graphs):
            if not g.is_acceptor():
                bad = int(np.flatnonzero(g.ilabel != g.olabel)[0])
                raise GraphError(
                    f"graph {i} is a transducer (arc {bad} has ilabel != olabel); "
                    "dense intersection needs an acceptor: project it first"
                )
        p = pack(graphs)
        return cls(p.node_offsets, p.arc_offsets, p.src, p.dst, p.ilabel, *cat_weights(graphs))

    def with_weights(
        self, weight: torch.Tensor, start_weight: torch.Tensor, final_weight: torch.Tensor
    ) -> GraphBatch:
        """Same structure (and cached kernel layout), new energies."""
        structure = (self.node_offsets, self.arc_offsets, self.src, self.dst, self.label)
        out = GraphBatch(*structure, weight, start_weight, final_weight)
        out._cache = self._cache
        return out

    def _cached(self, key: str, make):
        """``make()``, computed once per structure (``with_weights`` copies share the cache):
        the kernels' layouts of this batch."""
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def __len__(self) -> int:
        return self.node_offsets.shape[0] - 1

    @property
    def dtype(self) -> torch.dtype:
        return self.weight.dtype

    def graph(self, i: int) -> Graph:
        """Graph ``i`` as a :class:`gtn.Graph` (weights are differentiable slices)."""
        n0, n1 = int(self.node_offsets[i]), int(self.node_offsets[i + 1])
        a0, a1 = int(self.arc_offsets[i]), int(self.arc_offsets[i + 1])
        arcs = (x[a0:a1] for x in (self.src, self.dst, self.label, self.label, self.weight))
        return Graph(n1 - n0, *arcs, self.start_weight[n0:n1], self.final_weight[n0:n1])

    def graphs(self) -> list[Graph]:
        return [self.graph(i) for i in range(len(self))]

    def __repr__(self) -> str:
        return (
            f"gtn.dense_lattice.GraphBatch(graphs={len(self)}, nodes={int(self.node_offsets[-1])}, "
            f"arcs={int(self.arc_offsets[-1])}, dtype={self.dtype})"
        )
