"""A small mutable builder for hand-made graphs; `build()` returns an immutable Graph."""

from __future__ import annotations

import torch

from .graph import EPSILON, INF, Graph, GraphError
from .symbols import SymbolTable


def _node_weight(flag, kind: str) -> float:
    # True -> weight 0; False/None -> not a start/final state; a number -> that energy.
    if flag is None or flag is False:
        return INF
    if flag is True:
        return 0.0
    try:
        return float(flag)
    except (TypeError, ValueError):
        raise GraphError(f"{kind} must be True, False or an energy, got {flag!r}") from None


class GraphBuilder:
    """Build a graph node by node and arc by arc.

    >>> b = GraphBuilder()
    >>> s, t = b.add_node(start=True), b.add_node(final=True)
    >>> b.add_arc(s, t, 0, weight=1.5)
    0
    >>> b.build().num_arcs
    1

    Labels may be ints, ``EPSILON``, or strings looked up in the given symbol tables.
    """

    def __init__(self, isymbols: SymbolTable | None = None, osymbols: SymbolTable | None = None):
        self.isymbols = isymbols
        self.osymbols = osymbols if osymbols is not None else None
        self._start: list[float] = []
        self._final: list[float] = []
        self._src: list[int] = []
        self._dst: list[int] = []
        self._ilabel: list[int] = []
        self._olabel: list[int] = []
        self._weight: list[float] = []

    @property
    def num_nodes(self) -> int:
        return len(self._start)

    def add_node(self, start=False, final=False) -> int:
        """Add a state; ``start``/``final`` are True, False or an energy. Returns its id."""
        self._start.append(_node_weight(start, "start"))
        self._final.append(_node_weight(final, "final"))
        return len(self._start) - 1

    def set_final(self, node: int, final=True) -> None:
        self._final[node] = _node_weight(final, "final")

    def set_start(self, node: int, start=True) -> None:
        self._start[node] = _node_weight(start, "start")

    def _label(self, label, table: SymbolTable | None, side: str) -> int:
        if isinstance(label, str):
            if table is None:
                raise GraphError(f"string {side} label {label!r} needs a symbol table")
            return table.id(label)
        return int(label)

    def add_arc(self, src: int, dst: int, ilabel, olabel=None, weight: float = 0.0) -> int:
        """Add an arc; ``olabel`` defaults to ``ilabel`` (acceptor arc). Returns its index."""
        n = len(self._start)
        for name, node in (("src", src), ("dst", dst)):
            if not 0 <= node < n:
                raise GraphError(
                    f"arc {len(self._src)}: {name} node {node} does not exist (have {n} nodes)"
                )
        il = self._label(ilabel, self.isymbols, "input")
        ol = il if olabel is None else self._label(olabel, self.osymbols or self.isymbols, "output")
        self._src.append(int(src))
        self._dst.append(int(dst))
        self._ilabel.append(il)
        self._olabel.append(ol)
        self._weight.append(float(weight))
        return len(self._src) - 1

    def build(self, dtype: torch.dtype | None = None, requires_grad: bool = False) -> Graph:
        dtype = dtype or torch.get_default_dtype()
        w = torch.tensor(self._weight, dtype=dtype, requires_grad=requires_grad)
        osym = self.osymbols if self.osymbols is not None else self.isymbols
        return Graph(
            len(self._start),
            self._src,
            self._dst,
            self._ilabel,
            self._olabel,
            w,
            torch.tensor(self._start, dtype=dtype),
            torch.tensor(self._final, dtype=dtype),
            self.isymbols,
            osym,
        )


__all__ = ["GraphBuilder", "EPSILON"]
