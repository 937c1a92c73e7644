"""Composition and intersection of weighted transducers, differentiable through arc maps.

A product arc's energy is the sum of
the energies of the a-arc and b-arc it pairs (an epsilon move on one side contributes only the
other side's arc); start and final energies likewise add.

Epsilon contract (OpenFst's default sequence filter): between two matched symbols, a's
output-epsilon moves are taken before b's input-epsilon moves, and an output epsilon of a
never matches an input epsilon of b directly. Each pair of agreeing paths (a-path, b-path),
i.e. a's output string equals b's input string, therefore yields exactly one output path, so
sums over paths (free energies) are not inflated by epsilon interleavings. Inputs may be cyclic.
The output is trimmed (every state lies on a start -> final path); states are numbered in
breadth-first discovery order from the start pairs.

Size budget. A product can have |arcs of a| x |arcs of b| arcs, so a few small inputs can ask
for gigabytes. The work and memory of a product are proportional to the arcs reachable from
its start pairs; the kernel counts them as it discovers states and stops as soon as they pass
``max_arcs`` (default :data:`MAX_ARCS`), before any buffer grows past that budget.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ._internal import compose_kernels as K
from ._internal.arc_map import gather
from ._internal.batch import as_batch, cat_weights, offsets, pack
from ._internal.pair_table import DENSE_LIMIT
from ._internal.threads import sync_threads
from .graph import INF, Graph, GraphError

Graphs = Graph | Sequence[Graph]

MAX_ARCS = 50_000_000
"""Default ``max_arcs`` of :func:`compose` / :func:`intersect`: a product with more reachable
arcs is refused (it would need several GB: about 40 bytes per arc with its arc maps and
weights). Pass ``max_arcs=`` to raise or lower it."""

# Products with at most this many (state, state, filter state) keys map them to ids through a
# dense array, larger ones through a hash table. Module-level so tests can force hashing.
_DENSE_LIMIT = DENSE_LIMIT


def compose(a: Graphs, b: Graphs, *, max_arcs: int = MAX_ARCS) -> Graph | list[Graph]:
    """The composition a o b: transduces x to z with energy E_a(x -> y) + E_b(y -> z), matching
    a's olabel with b's ilabel (see the module docstring for epsilons; inputs may be cyclic).

    Args:
        a, b: transducers, or equal-length lists of them (a single graph on one side is paired
            with every graph of the other list).
        max_arcs: the largest product to build, in arcs reachable from its start states (each
            product of a batch separately; start pairs count too). Default :data:`MAX_ARCS`.

    Returns:
        One graph, or a list of them. Its N states are trimmed product states (s_a, s_b, filter
        state); each of its M arcs pairs an a-arc and a b-arc (or one of them, on an epsilon
        move) and has energy ``a.weight[map_a] + b.weight[map_b]``, an absent side adding 0.
        Start / final energies [N] add likewise. These are torch expressions of the inputs'
        energies, so gradients flow to both. isymbols come from a, osymbols from b.

    Raises:
        GraphError: an input is not a Graph, lists differ in length, a's output symbol
            table differs from b's input symbol table, or a product has more than ``max_arcs``
            arcs (the message says which and how to raise the budget).

    >>> a = Graph.from_arrays(2, [0], [1], [0], [1], [0.5])
    >>> b = Graph.from_arrays(2, [0], [1], [1], [2], [0.25])
    >>> [(x.ilabel, x.olabel, x.weight) for x in compose(a, b).arcs()]
    [(0, 2, 0.75)]
    """
    return _product("compose", a, b, acceptor=False, max_arcs=max_arcs)


def intersect(a: Graphs, b: Graphs, *, max_arcs: int = MAX_ARCS) -> Graph | list[Graph]:
    """The intersection of two acceptors: the strings x accepted by both, with energy
    E_a(x) + E_b(x), one output path per pair of accepting paths. The output is an acceptor.

    Args, returns and errors as :func:`compose`; also raises GraphError if an input is not an
    acceptor.

    >>> a = Graph.from_arrays(3, [0, 1], [1, 2], [4, 7], weight=[1.0, 2.0])
    >>> b = Graph.from_arrays(2, [0, 0], [0, 1], [4, 7], weight=[0.5, 0.5])
    >>> [(x.ilabel, x.weight) for x in intersect(a, b).arcs()]
    [(4, 1.5), (7, 2.5)]
    """
    return _product("intersect", a, b, acceptor=True, max_arcs=max_arcs)


def _check(op: str, name: str, graphs: list[Graph], single: bool, acceptor: bool) -> None:
    for i, g in enumerate(graphs):
        where = name if single else f"{name}[{i}]"
        if acceptor and not g.is_acceptor():
            k = int(np.flatnonzero(g.ilabel != g.olabel)[0])
            raise GraphError(
                f"{op} needs acceptors, but {where} is a transducer: arc {k} has ilabel "
                f"{int(g.ilabel[k])} and olabel {int(g.olabel[k])} (use compose)"
            )


def _check_symbols(op: str, a: Graph, b: Graph) -> None:
    if a.osymbols is not None and b.isymbols is not None and a.osymbols != b.isymbols:
        raise GraphError(f"{op}: a's output symbols differ from b's input symbols")


def _finite(w: torch.Tensor) -> np.ndarray:
    return torch.isfinite(w.detach()).numpy()


def _check_budget(op: str, max_arcs) -> int:
    if isinstance(max_arcs, bool) or not isinstance(max_arcs, (int, np.integer)) or max_arcs < 0:
        raise GraphError(f"{op}: max_arcs must be a non-negative integer, got {max_arcs!r}")
    return int(max_arcs)


def _over_budget(op: str, where: str, found: int, max_arcs: int) -> GraphError:
    return GraphError(
        f"{op}: the product of {where} is too large: more than max_arcs={max_arcs:,} arcs "
        f"({found:,} found reachable from its start states before stopping); pass a larger "
        f"max_arcs= to {op} to build it (about 40 bytes per arc)"
    )


def _check_start_pairs(op: str, where: str, a: Graph, b: Graph, max_arcs: int) -> None:
    """The start pairs are states before any arc is explored: bound them first."""
    pairs = int(a.start_nodes.shape[0]) * int(b.start_nodes.shape[0])
    if pairs > max_arcs:
        raise GraphError(
            f"{op}: the product of {where} is too large: {pairs:,} start states (pairs of start "
            f"states), more than max_arcs={max_arcs:,}; pass a larger max_arcs= to {op} to "
            "build it"
        )


def _product(op: str, a, b, acceptor: bool, max_arcs: int):
    max_arcs = _check_budget(op, max_arcs)
    la, single_a = as_batch(a, op, "a")
    lb, single_b = as_batch(b, op, "b")
    _check(op, "a", la, single_a, acceptor)
    _check(op, "b", lb, single_b, acceptor)
    if single_a and single_b:
        return _one(op, la[0], lb[0], acceptor, max_arcs)
    if not single_a and not single_b and len(la) != len(lb):
        raise GraphError(f"{op}: a has {len(la)} graphs but b has {len(lb)}; lists must pair up")
    size = len(lb) if single_a else len(la)
    pair_a = np.zeros(size, np.int64) if single_a else np.arange(size, dtype=np.int64)
    pair_b = np.zeros(size, np.int64) if single_b else np.arange(size, dtype=np.int64)
    for k in range(size):
        _check_symbols(op, la[pair_a[k]], lb[pair_b[k]])
        where = f"a[{pair_a[k]}] and b[{pair_b[k]}]"
        _check_start_pairs(op, where, la[pair_a[k]], lb[pair_b[k]], max_arcs)
    if size == 0:
        return []
    if size == 1:
        where = f"a[{pair_a[0]}] and b[{pair_b[0]}]"
        return [_one(op, la[pair_a[0]], lb[pair_b[0]], acceptor, max_arcs, where)]
    return _batch(op, la, lb, pair_a, pair_b, acceptor, max_arcs)


def _one(
    op: str, a: Graph, b: Graph, acceptor: bool, max_arcs: int, where: str = "a and b"
) -> Graph:
    """One product: plan, then write into numpy arrays of the exact size."""
    _check_symbols(op, a, b)
    _check_start_pairs(op, where, a, b, max_arcs)
    plan, n, m = K.plan(_operand(a), _operand(b), _DENSE_LIMIT, max_arcs)
    if n == K.UNSETTLED:  # trimming needs a search over reversed arcs (compiled when needed)
        plan, n, m = K.settle(plan)
    if n < 0:
        raise _over_budget(op, where, m, max_arcs)
    arcs, nodes = _outputs(n, m)
    shift = np.array([0, 0, a.num_arcs, b.num_arcs, 0, 0, a.num_nodes, b.num_nodes])
    K.write(plan, shift, arcs, nodes)
    energies_a = (a.weight, a.start_weight, a.final_weight)
    energies_b = (b.weight, b.start_weight, b.final_weight)
    return _graph(a, b, energies_a, energies_b, arcs, nodes, acceptor)


def _operand(g: Graph) -> K.Operand:
    return K.Operand(
        g.num_nodes,
        g.src,
        g.dst,
        g.ilabel,
        g.olabel,
        _finite(g.start_weight),
        _finite(g.final_weight),
    )


def _packed(graphs: list[Graph], start_weight, final_weight) -> K.PackedOperands:
    p = pack(graphs)
    return K.PackedOperands(
        p.node_offsets,
        p.arc_offsets,
        p.src,
        p.dst,
        p.ilabel,
        p.olabel,
        _finite(start_weight),
        _finite(final_weight),
    )


def _outputs(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Empty int32 blocks: arcs [6, m] (rows src, dst, ilabel, olabel, map_a, map_b) and nodes
    [4, n] (rows start_a, start_b, final_a, final_b); allocated here so that large arrays get
    numpy's huge-page advice (first touches of fresh memory cost more than the kernel's own
    work on big products)."""
    return np.empty((6, m), np.int32), np.empty((4, n), np.int32)


def _graph(a, b, energies_a, energies_b, arcs, nodes, acceptor: bool) -> Graph:
    """The output graph: its energies are torch expressions of the inputs' (arc, start, final)
    energies through the maps."""
    (wa, swa, fwa), (wb, swb, fwb) = energies_a, energies_b
    src, dst, ilabel, olabel, map_a, map_b = arcs
    start_a, start_b, final_a, final_b = nodes
    weight = gather(wa, map_a, 0.0)
    other = gather(wb, map_b, 0.0)
    if weight.dtype == other.dtype:
        weight.add_(other)  # in place: one fewer fresh [M] tensor; index_select keeps no output
    else:
        weight = weight + other
    return a._derive(
        num_nodes=start_a.shape[0],
        src=src,
        dst=dst,
        ilabel=ilabel,
        olabel=ilabel if acceptor else olabel,
        weight=weight,
        start_weight=gather(swa, start_a, INF) + gather(swb, start_b, INF),
        final_weight=gather(fwa, final_a, INF) + gather(fwb, final_b, INF),
        osymbols=b.osymbols,
    )


def _batch(
    op: str, la: list[Graph], lb: list[Graph], pair_a, pair_b, acceptor: bool, max_arcs: int
) -> list[Graph]:
    """All products in one parallel kernel over the packed inputs. Output sizes are unknown in
    advance, so it runs twice: once to count, once to write at known offsets. Doing the work
    twice in parallel beats once sequentially whenever more than two threads are available,
    and single graphs (the latency path) skip it."""
    wa, swa, fwa = cat_weights(la)
    wb, swb, fwb = cat_weights(lb)
    pa, pb = _packed(la, swa, fwa), _packed(lb, swb, fwb)
    pairs = K.Pairs(pair_a, pair_b, _DENSE_LIMIT, max_arcs)
    size = pair_a.shape[0]
    num_nodes, num_arcs = np.empty(size, np.int64), np.empty(size, np.int64)
    sync_threads()
    K.batch_sizes(pairs, pa, pb, num_nodes, num_arcs)
    over = np.flatnonzero(num_nodes < 0)
    if over.size:
        k = int(over[0])
        where = f"a[{pair_a[k]}] and b[{pair_b[k]}]"
        raise _over_budget(op, where, int(num_arcs[k]), max_arcs)
    noff, aoff = offsets(num_nodes), offsets(num_arcs)
    arcs, nodes = _outputs(int(noff[-1]), int(aoff[-1]))
    K.batch_write(pairs, pa, pb, noff, aoff, arcs, nodes)
    whole = _graph(la[0], lb[0], (wa, swa, fwa), (wb, swb, fwb), arcs, nodes, acceptor)
    out = []
    for k in range(size):
        u0, u1, e0, e1 = noff[k], noff[k + 1], aoff[k], aoff[k + 1]
        labels = whole.ilabel[e0:e1]
        out.append(
            whole._derive(
                num_nodes=u1 - u0,
                src=whole.src[e0:e1],
                dst=whole.dst[e0:e1],
                ilabel=labels,
                olabel=labels if acceptor else whole.olabel[e0:e1],
                weight=whole.weight[e0:e1],
                start_weight=whole.start_weight[u0:u1],
                final_weight=whole.final_weight[u0:u1],
                isymbols=la[pair_a[k]].isymbols,
                osymbols=lb[pair_b[k]].osymbols,
            )
        )
    return out
