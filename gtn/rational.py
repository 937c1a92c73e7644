"""The rational operations: union, concatenation and closure (Kleene star / plus).

Each output arc's weight is a torch expression of the input weights (through arc maps), so
gradients flow back to every input. Energies add along paths; no operation creates a
duplicate path: each output path corresponds to exactly one tuple of input paths."""

from __future__ import annotations

import numpy as np
import torch

from ._internal.batch import as_batch, cat_weights, offsets, pack, unbatch
from .graph import EPSILON, INF, Graph, GraphError


def _graph_list(op: str, graphs: tuple) -> list[Graph]:
    """The graphs of ``op(a, b, c)`` or ``op([a, b, c])``."""
    one_list = len(graphs) == 1 and not isinstance(graphs[0], Graph)
    return as_batch(graphs[0] if one_list else graphs, op)[0]


def _shared_symbols(graphs: list[Graph]):
    isym = next((g.isymbols for g in graphs if g.isymbols is not None), None)
    osym = next((g.osymbols for g in graphs if g.osymbols is not None), None)
    return isym, osym


def union(*graphs: Graph) -> Graph:
    """The graph accepting the union of the inputs' paths: ``union(a, b, c)`` or ``union([a, b])``.

    A disjoint union: states are renumbered graph after graph and every input's start and final
    states stay start and final (gtn graphs may have several start states), so no epsilon arcs
    are added. Path multiset of the result = multiset union of the inputs' paths.
    """
    gs = _graph_list("union", graphs)
    if not gs:
        return Graph(0, [], [], [])
    p = pack(gs)
    node_shift = np.repeat(p.node_offsets[:-1], np.diff(p.arc_offsets)).astype(np.int32)
    w, sw, fw = cat_weights(gs)
    isym, osym = _shared_symbols(gs)
    return gs[0]._derive(
        num_nodes=int(p.node_offsets[-1]),
        src=p.src + node_shift,
        dst=p.dst + node_shift,
        ilabel=p.ilabel.copy(),
        olabel=p.olabel.copy(),
        weight=w,
        start_weight=sw,
        final_weight=fw,
        isymbols=isym,
        osymbols=osym,
    )


def _join(finals: np.ndarray, starts: np.ndarray, fw: torch.Tensor, sw: torch.Tensor, hub: int):
    """Epsilon arcs that let every final state in ``finals`` continue at every start state in
    ``starts``, each crossing costing final_weight + start_weight, in linear size.

    With one final or one start state the arcs go directly (energy fw + sw each); otherwise
    through the state ``hub`` (a new state the caller adds): final -> hub with the final
    weight, hub -> start with the start weight. Either way each (final, start) pair is joined
    by exactly one path. Returns (src, dst, weight, whether hub is used)."""
    if finals.shape[0] <= 1 or starts.shape[0] <= 1:
        f, s = np.meshgrid(finals, starts, indexing="ij")
        f, s = f.reshape(-1).astype(np.int64), s.reshape(-1).astype(np.int64)
        w = fw[torch.from_numpy(f)] + sw[torch.from_numpy(s)]
        return f.astype(np.int32), s.astype(np.int32), w, False
    src = np.concatenate([finals, np.full(starts.shape[0], hub)]).astype(np.int32)
    dst = np.concatenate([np.full(finals.shape[0], hub), starts]).astype(np.int32)
    w = torch.cat(
        [
            fw[torch.from_numpy(finals.astype(np.int64))],
            sw[torch.from_numpy(starts.astype(np.int64))],
        ]
    )
    return src, dst, w, True


def _finite_nodes(w: torch.Tensor) -> np.ndarray:
    return np.flatnonzero(torch.isfinite(w.detach()).numpy())


def concat(*graphs: Graph) -> Graph:
    """The concatenation: paths of the first, then of the second, and so on.

    Between graph k and graph k+1, epsilon arcs lead from every final state of k to every
    start state of k+1 with energy final_weight + start_weight: directly when one side has a
    single state, else through one new state (finals -> new state with their final weights,
    new state -> starts with their start weights), so the result stays linear in the inputs'
    size. Only graph 0's starts and the last graph's finals remain. Path multiset of the
    result = all concatenations of one path of each input. The concatenation of no graphs
    accepts only the empty sequence.
    """
    gs = _graph_list("concat", graphs)
    if not gs:
        return Graph(1, [], [], [], start_weight=[0.0], final_weight=[0.0])
    u = union(gs)
    noff = offsets([g.num_nodes for g in gs])
    sw_all, fw_all = u.start_weight, u.final_weight
    n = u.num_nodes
    src, dst, weights = [u.src], [u.dst], [u.weight]
    for k in range(len(gs) - 1):
        finals = _finite_nodes(gs[k].final_weight) + noff[k]
        starts = _finite_nodes(gs[k + 1].start_weight) + noff[k + 1]
        s, d, w, used_hub = _join(finals, starts, fw_all, sw_all, n)
        n += used_hub
        src.append(s)
        dst.append(d)
        weights.append(w)
    first = slice(int(noff[0]), int(noff[1]))
    last = slice(int(noff[-2]), int(noff[-1]))
    keep_start = torch.full((n,), INF, dtype=u.dtype)
    keep_final = torch.full((n,), INF, dtype=u.dtype)
    keep_start = torch.cat([sw_all[first], keep_start[first.stop :]])
    keep_final = torch.cat([keep_final[: last.start], fw_all[last], keep_final[last.stop :]])
    num_eps = sum(x.shape[0] for x in src[1:])
    eps = np.full(num_eps, EPSILON, np.int32)
    return u._derive(
        num_nodes=n,
        src=np.concatenate(src),
        dst=np.concatenate(dst),
        ilabel=np.concatenate([u.ilabel, eps]),
        olabel=np.concatenate([u.olabel, eps]),
        weight=torch.cat(weights),
        start_weight=keep_start,
        final_weight=keep_final,
    )


def closure(g: Graph | list[Graph], plus: bool = False) -> Graph | list[Graph]:
    """Kleene star (zero or more repetitions) or, with ``plus=True``, Kleene plus (one or more).

    The textbook construction (OpenFst's Closure, generalised to gtn's several weighted start
    states), linear in size: a repetition ends at a final state of ``g`` and the next one
    begins at a start state, crossing with energy final_weight + start_weight along epsilon
    arcs.

    - Star: one new state N, the only start and final state (energy 0 each): N -> each start
      with its start weight, each final -> N with its final weight. The empty sequence has
      exactly one path (N alone), and k repetitions of paths of ``g`` exactly one path.
    - Plus: ``g``'s own start and final states stay; each final returns to each start through
      epsilon arcs (directly when ``g`` has one start or one final state, else through one new
      state, as :func:`concat` joins graphs).

    Path energies are those of the repeated paths of ``g``, summed; arc weights are torch
    expressions of ``g``'s energies, so gradients flow to its arc, start and final weights.
    Adds |starts| + |finals| arcs (star) or at most that many (plus).
    """
    gs, single = as_batch(g, "closure")
    return unbatch([_closure_one(x, plus) for x in gs], single)


def _closure_one(g: Graph, plus: bool) -> Graph:
    sw, fw = g.start_weight, g.final_weight
    starts, finals = _finite_nodes(sw), _finite_nodes(fw)
    n = g.num_nodes
    if plus:
        ls, ld, w, used_hub = _join(finals, starts, fw, sw, n)
        new_sw, new_fw = sw, fw
        if used_hub:
            new_sw = torch.cat([sw, sw.new_full((1,), INF)])
            new_fw = torch.cat([fw, fw.new_full((1,), INF)])
            n += 1
    else:
        if n == 0:
            raise GraphError(
                "closure of an empty graph (no states) is undefined; "
                "use concat() for the empty sequence"
            )
        ls = np.concatenate([np.full(starts.shape[0], n), finals]).astype(np.int32)
        ld = np.concatenate([starts, np.full(finals.shape[0], n)]).astype(np.int32)
        w = torch.cat(
            [
                sw[torch.from_numpy(starts.astype(np.int64))],
                fw[torch.from_numpy(finals.astype(np.int64))],
            ]
        )
        zero = sw.new_zeros(1)
        new_sw = torch.cat([torch.full_like(sw, INF), zero])
        new_fw = torch.cat([torch.full_like(fw, INF), zero])
        n += 1
    eps = np.full(ls.shape[0], EPSILON, np.int32)
    return g._derive(
        num_nodes=n,
        src=np.concatenate([g.src, ls]),
        dst=np.concatenate([g.dst, ld]),
        ilabel=np.concatenate([g.ilabel, eps]),
        olabel=np.concatenate([g.olabel, eps]),
        weight=torch.cat([g.weight, w]),
        start_weight=new_sw,
        final_weight=new_fw,
    )
