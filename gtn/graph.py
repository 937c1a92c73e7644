"""The weighted finite-state transducer value that every operation consumes and returns."""

from __future__ import annotations

import math
import operator
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import torch

from ._internal.arc_map import gather

EPSILON: int = -1
"""The epsilon label (consumes no symbol). Real labels are the integers 0..V-1."""

INF = float("inf")


class GtnError(Exception):
    """The base of gtn's own errors (:class:`GraphError`, :class:`~gtn.FormatError`,
    :class:`~gtn.GraphvizError`): ``except gtn.GtnError`` catches each of them, and a command
    line can print its one-line message instead of a traceback."""


class GraphError(GtnError, ValueError):
    """A malformed graph, or a graph unsuitable for an operation (e.g. cyclic where a DAG is
    needed). The message names the offending node or arc."""


class Arc(NamedTuple):
    """One arc of a graph, as ``Graph.arcs()`` lists them: its index, source and destination
    states, input and output labels (``gtn.EPSILON`` for none) and energy (lower is better)."""

    index: int
    src: int
    dst: int
    ilabel: int
    olabel: int
    weight: float


_INT32 = np.iinfo(np.int32)

_SAME = object()  # Graph._derive: "keep this graph's symbol table" (None removes it)


def _as_int32(name: str, values, length: int | None = None) -> np.ndarray:
    """values as a contiguous int32 array [length]. Ids are 32-bit: a value outside int32 (from
    an int64 array, a float, or a file) is an error naming ``name`` and the index, never a
    silent wrap (2**32 + 1 would become 1)."""
    try:
        arr = np.asarray(values)
    except (ValueError, TypeError):  # ragged: numpy's message names neither argument nor shape
        raise GraphError(f"{name} must be a flat sequence of integers, got a ragged one") from None
    if arr.ndim != 1:
        raise GraphError(f"{name} must be one-dimensional, got shape {tuple(arr.shape)}")
    if length is not None and arr.shape[0] != length:
        raise GraphError(f"{name} has {arr.shape[0]} entries but src has {length} (one per arc)")
    if arr.dtype == np.int32 or not arr.size:
        return np.ascontiguousarray(arr, dtype=np.int32)
    if arr.dtype.kind == "O":  # Python ints past int64 (10**20): checked as floats below
        try:
            arr = arr.astype(np.float64)
        except (ValueError, TypeError):
            pass
    if arr.dtype.kind not in "biuf":
        raise GraphError(f"{name} must hold integers, got dtype {arr.dtype}")
    if arr.dtype.kind == "f":
        bad = np.flatnonzero(~np.isfinite(arr) | (np.mod(arr, 1) != 0))
        if bad.size:
            i = int(bad[0])
            raise GraphError(f"{name} must hold integers, but {name}[{i}] is {arr[i]}")
    bad = np.flatnonzero((arr < _INT32.min) | (arr > _INT32.max))
    if bad.size:
        i = int(bad[0])
        raise GraphError(
            f"{name}[{i}] = {arr[i]:.0f} is out of range for 32-bit ids "
            f"[{_INT32.min}, {_INT32.max}]"
        )
    return np.ascontiguousarray(arr, dtype=np.int32)


def _weight_dtype(weight) -> torch.dtype | None:
    """The dtype energies take from a floating-point weight tensor (None: the default)."""
    if isinstance(weight, torch.Tensor) and weight.is_floating_point():
        return weight.dtype
    return None


def _float_tensor(name: str, values, dtype) -> torch.Tensor:
    """``values`` (a tensor, array or sequence of numbers) as a floating-point tensor: a tensor
    keeps its autograd history and floating dtype, anything else becomes ``dtype``."""
    if isinstance(values, torch.Tensor):
        return values if values.is_floating_point() else values.to(dtype)
    try:
        return torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=dtype)
    except (ValueError, TypeError):  # "could not convert string to float: 'x'", names nothing
        raise GraphError(f"{name} must be numbers (energies), got {values!r:.60}") from None


def _as_weight(name: str, values, length: int, dtype, default: float) -> torch.Tensor:
    if values is None:
        return torch.full((length,), default, dtype=dtype or torch.get_default_dtype())
    w = _float_tensor(name, values, dtype or torch.get_default_dtype())
    if w.dim() != 1 or w.shape[0] != length:
        raise GraphError(f"{name} must have shape [{length}], got {list(w.shape)}")
    return w


class Graph:
    """An immutable weighted transducer.

    Attributes:
        num_nodes: number of states N; states are 0..N-1.
        src, dst: int32 arrays [A], source and destination state of each arc.
        ilabel, olabel: int32 arrays [A]; ``EPSILON`` (-1) or a label in 0..V-1.
        weight: float tensor [A] of arc energies (may require grad).
        start_weight, final_weight: float tensors [N]; +inf marks a non-start / non-final state.
        isymbols, osymbols: optional :class:`gtn.SymbolTable` naming the labels.

    An acceptor is a transducer whose ilabel equals its olabel on every arc. Build small graphs
    with :class:`gtn.GraphBuilder`, large ones with :meth:`Graph.from_arrays`.
    """

    __slots__ = (
        "num_nodes",
        "src",
        "dst",
        "ilabel",
        "olabel",
        "weight",
        "start_weight",
        "final_weight",
        "isymbols",
        "osymbols",
        "_cache",
    )

    def __init__(
        self,
        num_nodes: int,
        src,
        dst,
        ilabel,
        olabel=None,
        weight=None,
        start_weight=None,
        final_weight=None,
        isymbols=None,
        osymbols=None,
        *,
        validate: bool = True,
    ):
        if validate:
            num_nodes = _num_nodes(num_nodes)
            src = _as_int32("src", src)
            n_arcs = src.shape[0]
            dst = _as_int32("dst", dst, n_arcs)
            ilabel = _as_int32("ilabel", ilabel, n_arcs)
            olabel = ilabel if olabel is None else _as_int32("olabel", olabel, n_arcs)
            weight = _as_weight("weight", weight, n_arcs, _weight_dtype(weight), 0.0)
            dtype = weight.dtype
            start_weight = _as_weight("start_weight", start_weight, num_nodes, dtype, INF)
            final_weight = _as_weight("final_weight", final_weight, num_nodes, dtype, INF)
            if start_weight.dtype != dtype or final_weight.dtype != dtype:
                start_weight = start_weight.to(dtype)
                final_weight = final_weight.to(dtype)
        values = (num_nodes, src, dst, ilabel, olabel, weight, start_weight, final_weight)
        for name, value in zip(_FIELDS, (*values, isymbols, osymbols, {}), strict=True):
            object.__setattr__(self, name, value)
        if validate:
            self._validate()

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        num_nodes: int,
        src,
        dst,
        ilabel,
        olabel=None,
        weight=None,
        *,
        start=(0,),
        final=None,
        start_weight=None,
        final_weight=None,
        **symbols,
    ) -> Graph:
        """Vectorised constructor.

        Args:
            num_nodes: N.
            src, dst, ilabel, olabel: int arrays [A] (olabel defaults to ilabel: an acceptor).
            weight: energies [A] (tensor or array; default 0).
            start, final: state ids that are start / final (``final`` defaults to N-1).
            start_weight, final_weight: energies for those states (default 0 each), or full
                [N] vectors with +inf for states that are not start / final when ``start`` /
                ``final`` is None (``final=None`` with an [N] ``final_weight`` is that vector,
                not the default N-1).
            isymbols, osymbols: optional :class:`gtn.SymbolTable` keywords naming the labels
                (as :meth:`with_symbols`).
        """
        dtype = _weight_dtype(weight) or torch.get_default_dtype()
        num_nodes = _num_nodes(num_nodes)
        sw = _node_weights("start", num_nodes, start, start_weight, dtype)
        full_final = final_weight is not None and np.ndim(final_weight) == 1
        if final is None and num_nodes and not (full_final and len(final_weight) == num_nodes):
            final = [num_nodes - 1]
        fw = _node_weights("final", num_nodes, final, final_weight, dtype)
        return cls(num_nodes, src, dst, ilabel, olabel, weight, sw, fw, **symbols)

    def _derive(
        self,
        *,
        arc_map=None,
        num_nodes: int | None = None,
        src=None,
        dst=None,
        ilabel=None,
        olabel=None,
        weight: torch.Tensor | None = None,
        start_weight: torch.Tensor | None = None,
        final_weight: torch.Tensor | None = None,
        isymbols=_SAME,
        osymbols=_SAME,
    ) -> Graph:
        """The one constructor of operations' outputs (k2's ``fsa_from_unary_function_tensor``):
        a graph built from this one, trusted to be well formed (not validated).

        Args:
            arc_map: int [A'], or None. Output arc k copies arc ``arc_map[k]`` of this graph:
                src, dst, labels and energy (gathered differentiably; -1 gives energy 0 and
                needs src, dst and labels given). None: the arcs stay as they are.
            num_nodes: N' (default this graph's; give start_weight and final_weight with it).
            src, dst, ilabel, olabel: int32 [A'] to use instead of the mapped ones; an ilabel
                given without an olabel makes an acceptor.
            weight: energies [A'] instead of the mapped ones.
            start_weight, final_weight: energies [N'] (default this graph's).
            isymbols, osymbols: symbol tables (default this graph's; None removes them).

        See :mod:`gtn._internal.arc_map` for when arc maps, weight tapes or an autograd
        Function make an operation differentiable.
        """
        if arc_map is not None:
            arc_map = np.asarray(arc_map)
            src = self.src[arc_map] if src is None else src
            dst = self.dst[arc_map] if dst is None else dst
            if ilabel is None and olabel is None:
                ilabel = self.ilabel[arc_map]
                olabel = ilabel if self.ilabel is self.olabel else self.olabel[arc_map]
            weight = gather(self.weight, arc_map) if weight is None else weight
        if ilabel is None:
            ilabel, olabel = self.ilabel, self.olabel if olabel is None else olabel
        fields = {
            "num_nodes": self.num_nodes if num_nodes is None else int(num_nodes),
            "src": self.src if src is None else src,
            "dst": self.dst if dst is None else dst,
            "ilabel": ilabel,
            "olabel": ilabel if olabel is None else olabel,
            "weight": self.weight if weight is None else weight,
            "start_weight": self.start_weight if start_weight is None else start_weight,
            "final_weight": self.final_weight if final_weight is None else final_weight,
            "isymbols": self.isymbols if isymbols is _SAME else isymbols,
            "osymbols": self.osymbols if osymbols is _SAME else osymbols,
        }
        _check_sizes(fields)
        return Graph(**fields, validate=False)

    def _validate(self) -> None:
        n = self.num_nodes
        for name, arr in (("src", self.src), ("dst", self.dst)):
            bad = np.flatnonzero((arr < 0) | (arr >= n))
            if bad.size:
                i = int(bad[0])
                raise GraphError(f"arc {i}: {name} node {int(arr[i])} is out of range [0, {n})")
        for name, arr in (("ilabel", self.ilabel), ("olabel", self.olabel)):
            bad = np.flatnonzero(arr < EPSILON)
            if bad.size:
                i = int(bad[0])
                raise GraphError(
                    f"arc {i}: {name} {int(arr[i])} is negative; "
                    "labels are >= 0 or gtn.EPSILON (-1)"
                )
        for name, w, what in (
            ("weight", self.weight, "arc"),
            ("start_weight", self.start_weight, "node"),
            ("final_weight", self.final_weight, "node"),
        ):
            i = first_bad_energy(w)
            if i >= 0:
                raise GraphError(
                    f"{what} {i}: {name} is {float(w.detach()[i])}; energies must be finite or +inf"
                )
        if n > 0 and not bool(torch.isfinite(self.start_weight.detach()).any()):
            raise GraphError(f"graph with {n} nodes has no start state")

    # ------------------------------------------------------------------ properties
    @property
    def num_arcs(self) -> int:
        return int(self.src.shape[0])

    @property
    def dtype(self) -> torch.dtype:
        return self.weight.dtype

    @property
    def requires_grad(self) -> bool:
        return (
            self.weight.requires_grad
            or self.start_weight.requires_grad
            or self.final_weight.requires_grad
        )

    @property
    def start_nodes(self) -> np.ndarray:
        """int32 ids of start states (finite start weight)."""
        return np.flatnonzero(torch.isfinite(self.start_weight.detach()).numpy()).astype(np.int32)

    @property
    def final_nodes(self) -> np.ndarray:
        """int32 ids of final states (finite final weight)."""
        return np.flatnonzero(torch.isfinite(self.final_weight.detach()).numpy()).astype(np.int32)

    def is_acceptor(self) -> bool:
        return self.ilabel is self.olabel or bool(np.array_equal(self.ilabel, self.olabel))

    def num_labels(self) -> int:
        """1 + the largest label used (0 for a graph with only epsilons)."""
        m = -1
        if self.num_arcs:
            m = max(int(self.ilabel.max()), int(self.olabel.max()))
        return m + 1

    def arcs(self) -> Iterator[Arc]:
        """Iterate over arcs (for inspection; operations never loop in Python)."""
        w = self.weight.detach().tolist()
        for i in range(self.num_arcs):
            yield Arc(
                i,
                int(self.src[i]),
                int(self.dst[i]),
                int(self.ilabel[i]),
                int(self.olabel[i]),
                w[i],
            )

    # ------------------------------------------------------------------ derived values
    def with_weights(self, weight=None, start_weight=None, final_weight=None) -> Graph:
        """The same structure with new energies (shapes must match)."""
        return Graph(
            self.num_nodes,
            self.src,
            self.dst,
            self.ilabel,
            self.olabel,
            self.weight if weight is None else weight,
            self.start_weight if start_weight is None else start_weight,
            self.final_weight if final_weight is None else final_weight,
            self.isymbols,
            self.osymbols,
        )

    def with_symbols(self, isymbols=None, osymbols=None) -> Graph:
        return self._derive(
            isymbols=self.isymbols if isymbols is None else isymbols,
            osymbols=self.osymbols if osymbols is None else osymbols,
        )

    def detach(self) -> Graph:
        return self._derive(
            weight=self.weight.detach(),
            start_weight=self.start_weight.detach(),
            final_weight=self.final_weight.detach(),
        )

    def to(self, dtype: torch.dtype) -> Graph:
        """Cast all energies (differentiably) to ``dtype``."""
        return self._derive(
            weight=self.weight.to(dtype),
            start_weight=self.start_weight.to(dtype),
            final_weight=self.final_weight.to(dtype),
        )

    def requires_grad_(self, flag: bool = True) -> Graph:
        """Make the arc weights a leaf that requires grad (in place on the tensor; returns self)."""
        self.weight.requires_grad_(flag)
        return self

    def cached(self, key, compute):
        """Memoise a structure-only quantity (e.g. a topological order); safe because graphs
        are immutable."""
        c = self._cache
        if key not in c:
            c[key] = compute()
        return c[key]

    def __reduce__(self):
        # Pickle and deepcopy rebuild without re-validation.
        return (_unpickle, ({name: getattr(self, name) for name in _FIELDS[:-1]},))

    def __setattr__(self, name, value):
        raise AttributeError("gtn.Graph is immutable; use with_weights() or a builder")

    def __repr__(self) -> str:
        kind = "acceptor" if self.is_acceptor() else "transducer"
        return (
            f"gtn.Graph({kind}, nodes={self.num_nodes}, arcs={self.num_arcs}, "
            f"start={self.start_nodes.tolist()[:8]}, final={self.final_nodes.tolist()[:8]}, "
            f"dtype={self.dtype})"
        )

    def _repr_svg_(self) -> str | None:
        """Notebooks draw the graph: Graphviz's ``dot`` renders it when installed, else the
        pure-Python layered layout (:func:`gtn.drawing.layered_svg`); None for very large
        graphs (the text repr)."""
        from .drawing import repr_svg

        return repr_svg(self)


_FIELDS = Graph.__slots__  # the last, _cache, is rebuilt empty rather than pickled


def _unpickle(fields: dict) -> Graph:
    return Graph(**fields, validate=False)


def _check_sizes(fields: dict) -> None:
    """An operation's output arrays agree in size (cheap: shapes only; catches a node count
    changed without new node energies)."""
    arcs = fields["src"].shape[0]
    for name in ("dst", "ilabel", "olabel", "weight"):
        if fields[name].shape[0] != arcs:
            raise GraphError(f"internal: {name} has {fields[name].shape[0]} entries, src {arcs}")
    for name in ("start_weight", "final_weight"):
        if fields[name].shape[0] != fields["num_nodes"]:
            raise GraphError(
                f"internal: {name} has {fields[name].shape[0]} entries for "
                f"{fields['num_nodes']} nodes"
            )


def integer(name: str, value, error: type[Exception] = GraphError) -> int:
    """``value`` as an int: a Python or numpy integer (or 0-d integer array or tensor), or a
    float with an integral value. Anything else is ``error`` naming ``name``: int() would make
    2.7 into 2 and reject "abc" or None with a message that names no argument."""
    try:
        return operator.index(value)
    except TypeError:
        pass
    if isinstance(value, float | np.floating) and math.isfinite(value) and value == int(value):
        return int(value)
    raise error(f"{name} must be an integer, got {value!r:.60}")


def _num_nodes(num_nodes) -> int:
    """num_nodes as an int in [0, 2**31 - 1]: states are int32 ids."""
    n = integer("num_nodes", num_nodes)
    if n < 0:
        raise GraphError(f"num_nodes must be >= 0, got {n}")
    if n > _INT32.max:
        raise GraphError(f"num_nodes = {n} is out of range: state ids are 32-bit (<= {_INT32.max})")
    return n


def _node_weights(kind: str, n: int, nodes, weights, dtype) -> torch.Tensor:
    if nodes is None:
        if weights is None:
            raise GraphError(f"give {kind} nodes or a full {kind}_weight vector")
        return _float_tensor(f"{kind}_weight", weights, dtype)
    # integers only: start=[0.7] would have been state 0, start=[10**20] an OverflowError
    nodes = _as_int32(kind, np.atleast_1d(nodes)).astype(np.int64)
    bad = np.flatnonzero((nodes < 0) | (nodes >= n))
    if bad.size:
        raise GraphError(f"{kind} node {int(nodes[bad[0]])} is out of range [0, {n})")
    full = torch.full((n,), INF, dtype=dtype)
    if weights is None:
        full[torch.from_numpy(nodes)] = 0.0
        return full
    w = _float_tensor(f"{kind}_weight", weights, dtype)
    if w.dim() > 1 or w.numel() not in (1, nodes.shape[0]):  # one energy, or one per node
        raise GraphError(
            f"{kind}_weight has shape {list(w.shape)}; give one energy or one per {kind} node "
            f"({nodes.shape[0]})"
        )
    w = torch.broadcast_to(w.to(dtype), (nodes.shape[0],))
    # index_put keeps autograd to user-supplied weights
    return full.index_put((torch.from_numpy(nodes),), w)


_NUMPY_FLOATS = (torch.float16, torch.float32, torch.float64)  # .numpy() reads these


def first_bad_energy(t: torch.Tensor) -> int:
    """The flat index of the first NaN or -inf in ``t``, or -1: energies are finite or +inf.
    numpy on the CPU (see ``dense_lattice.intersection._check_values``); elsewhere one bool
    read back."""
    td = t.detach()
    a = td.numpy() if td.device.type == "cpu" and td.dtype in _NUMPY_FLOATS else td
    if not td.numel() or bool((a > -INF).all()):
        return -1
    return int(torch.nonzero(~(td.reshape(-1) > -INF))[0, 0])
