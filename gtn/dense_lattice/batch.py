"""A ragged batch of acceptors over labels (arcs concatenated, plus offsets), like k2's FsaVec.

Vectorised topology builders return a :class:`GraphBatch` directly, so a training step never
builds one Python :class:`gtn.Graph` per utterance. Weights are energies.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .._internal.batch import as_batch, cat_weights, pack
from ..graph import EPSILON, Graph, GraphError, _as_int32, first_bad_energy

_STRUCTURE = ("node_offsets", "arc_offsets", "src", "dst", "label")


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
        """Every argument is checked (the kernels index with them unchecked): GraphError naming
        the argument, and the graph and arc or node where there is one."""
        self.node_offsets = _offsets("node_offsets", node_offsets)
        self.arc_offsets = _offsets("arc_offsets", arc_offsets)
        self.src, self.dst, self.label = (
            _as_int32(name, x) for name, x in (("src", src), ("dst", dst), ("label", label))
        )
        self._check_structure()
        self._cache: dict = {}
        self._set_weights(weight, start_weight, final_weight)

    def _check_structure(self) -> None:
        node_off, arc_off = self.node_offsets, self.arc_offsets
        if node_off.shape != arc_off.shape:
            raise GraphError(
                f"node_offsets has {node_off.shape[0]} entries but arc_offsets has "
                f"{arc_off.shape[0]}; both are [G+1]"
            )
        A = int(arc_off[-1])
        for name in ("src", "dst", "label"):
            if getattr(self, name).shape[0] != A:
                raise GraphError(
                    f"{name} has {getattr(self, name).shape[0]} entries but arc_offsets end at {A}"
                )
        graph = np.repeat(np.arange(len(self)), np.diff(arc_off))  # [A] each arc's graph
        nodes = np.diff(node_off)[graph]  # [A] states of the arc's graph
        for name, bad in (
            ("src", (self.src < 0) | (self.src >= nodes)),
            ("dst", (self.dst < 0) | (self.dst >= nodes)),
            ("label", self.label < EPSILON),
        ):
            if bad.any():
                a = int(np.argmax(bad))
                g = int(graph[a])
                value = int(getattr(self, name)[a])
                problem = (
                    f"is negative; labels are >= 0 or gtn.EPSILON ({EPSILON})"
                    if name == "label"
                    else f"is outside the graph's states [0, {int(nodes[a])})"
                )
                raise GraphError(f"graph {g}, arc {a - int(arc_off[g])}: {name} {value} {problem}")

    def _set_weights(self, weight, start_weight, final_weight) -> None:
        """Energies of shape [A], [N], [N], finite or +inf (as :class:`gtn.Graph`'s)."""
        for name, w, off, what in (
            ("weight", weight, self.arc_offsets, "arc"),
            ("start_weight", start_weight, self.node_offsets, "node"),
            ("final_weight", final_weight, self.node_offsets, "node"),
        ):
            if not isinstance(w, torch.Tensor) or not w.is_floating_point():
                got = w.dtype if isinstance(w, torch.Tensor) else type(w).__name__
                raise GraphError(f"{name} must be a floating-point tensor, got {got}")
            if w.shape != (int(off[-1]),):
                raise GraphError(f"{name} must have shape [{int(off[-1])}], got {list(w.shape)}")
            i = first_bad_energy(w)
            if i >= 0:
                g = int(np.searchsorted(off, i, side="right") - 1)
                raise GraphError(
                    f"graph {g}, {what} {i - int(off[g])}: {name} is {float(w[i])}; energies "
                    "must be finite or +inf"
                )
        self.weight = weight
        self.start_weight = start_weight
        self.final_weight = final_weight

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
        """Same structure (checked once, and its cached kernel layout), new energies."""
        out = object.__new__(GraphBatch)
        for name in _STRUCTURE:
            setattr(out, name, getattr(self, name))
        out._cache = self._cache
        out._set_weights(weight, start_weight, final_weight)
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


def _offsets(name: str, values) -> np.ndarray:
    """int64 [G+1] offsets: integers from 0, never decreasing (graph g owns the entries from
    ``values[g]`` to ``values[g+1]``)."""
    off = np.asarray(values)
    if off.ndim != 1 or not off.size or off.dtype.kind not in "iu":
        raise GraphError(
            f"{name} must be [G+1] integers, got shape {list(off.shape)} of dtype {off.dtype}"
        )
    off = np.ascontiguousarray(off, dtype=np.int64)
    if off[0] != 0:
        raise GraphError(f"{name}[0] = {int(off[0])}; graph 0 starts at 0")
    down = np.flatnonzero(off[1:] < off[:-1])
    if down.size:
        g = int(down[0])
        raise GraphError(
            f"{name} decrease at graph {g}: {int(off[g])} then {int(off[g + 1])} (a graph's "
            "size cannot be negative)"
        )
    return off


def check_energies(name: str, value) -> None:
    """GraphError naming the first NaN or -inf of ``value``, a tensor of any shape or a number
    (``name[i, j] is nan; ...``)."""
    if not isinstance(value, torch.Tensor):
        value = torch.tensor(float(value), dtype=torch.float64)
    i = first_bad_energy(value)
    if i >= 0:
        at = np.unravel_index(i, tuple(value.shape))
        where = f"[{', '.join(str(int(k)) for k in at)}]" if at else ""
        raise GraphError(
            f"{name}{where} is {float(value.detach().reshape(-1)[i])}; energies must be "
            "finite or +inf"
        )
