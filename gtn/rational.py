"""The rational operations: union, concatenation and closure (Kleene star / plus).

Each output arc's weight is a torch expression of the input weights (through arc maps), so
gradients flow back to every input. Energies add along paths; no operation creates a
duplicate path: each output path corresponds to exactly one tuple of input paths."""

from __future__ import annotations

import numpy as np
import torch

from ._batch import as_batch, cat_weights, offsets, pack
from .graph import EPSILON, INF, Graph, GraphError


def _graph_list(graphs: tuple) -> list[Graph]:
    if len(graphs) == 1 and not isinstance(graphs[0], Graph):
        graphs = tuple(graphs[0])
    out, _ = as_batch(list(graphs))
    return out


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
    gs = _graph_list(graphs)
    if not gs:
        return Graph(0, [], [], [])
    p = pack(gs)
    node_shift = np.repeat(p.node_offsets[:-1], np.diff(p.arc_offsets)).astype(np.int32)
    w, sw, fw = cat_weights(gs)
    isym, osym = _shared_symbols(gs)
    return Graph._trusted(
        int(p.node_offsets[-1]),
        p.src + node_shift,
        p.dst + node_shift,
        p.ilabel.copy(),
        p.olabel.copy(),
        w,
        sw,
        fw,
        isym,
        osym,
    )


def concat(*graphs: Graph) -> Graph:
    """The concatenation: paths of the first, then of the second, and so on.

    Every final state of graph k gets an epsilon arc to every start state of graph k+1 with energy
    final_weight + start_weight; only graph 0's starts and the last graph's finals remain. The
    concatenation of no graphs accepts only the empty sequence.
    """
    gs = _graph_list(graphs)
    if not gs:
        return Graph(1, [], [], [], start_weight=[0.0], final_weight=[0.0])
    u = union(gs)
    noff = offsets([g.num_nodes for g in gs])
    sw_all = u.start_weight
    fw_all = u.final_weight
    starts = [
        np.flatnonzero(np.isfinite(g.start_weight.detach().numpy())) + noff[i]
        for i, g in enumerate(gs)
    ]
    finals = [
        np.flatnonzero(np.isfinite(g.final_weight.detach().numpy())) + noff[i]
        for i, g in enumerate(gs)
    ]
    link_src, link_dst = [], []
    for k in range(len(gs) - 1):
        f, s = np.meshgrid(finals[k], starts[k + 1], indexing="ij")
        link_src.append(f.reshape(-1))
        link_dst.append(s.reshape(-1))
    ls = np.concatenate(link_src).astype(np.int64) if link_src else np.zeros(0, np.int64)
    ld = np.concatenate(link_dst).astype(np.int64) if link_dst else np.zeros(0, np.int64)
    link_w = fw_all[torch.from_numpy(ls)] + sw_all[torch.from_numpy(ld)]
    n = u.num_nodes
    keep_start = torch.full((n,), INF, dtype=u.dtype)
    keep_final = torch.full((n,), INF, dtype=u.dtype)
    first = slice(int(noff[0]), int(noff[1]))
    last = slice(int(noff[-2]), int(noff[-1]))
    keep_start = torch.cat([sw_all[first], keep_start[first.stop :]])
    keep_final = torch.cat([keep_final[: last.start], fw_all[last]])
    eps = np.full(ls.shape[0], EPSILON, np.int32)
    return Graph._trusted(
        n,
        np.concatenate([u.src, ls.astype(np.int32)]),
        np.concatenate([u.dst, ld.astype(np.int32)]),
        np.concatenate([u.ilabel, eps]),
        np.concatenate([u.olabel, eps]),
        torch.cat([u.weight, link_w]),
        keep_start,
        keep_final,
        u.isymbols,
        u.osymbols,
    )


def closure(g: Graph | list[Graph], plus: bool = False) -> Graph | list[Graph]:
    """Kleene star (zero or more repetitions) or, with ``plus=True``, Kleene plus (one or more).

    Every final state gets an epsilon arc back to every start state with energy
    final_weight + start_weight. The star adds one new state (start and final, energy 0) with
    epsilon arcs to the old starts, so the empty sequence has exactly one path.
    """
    gs, single = as_batch(g)
    out = [_closure_one(x, plus) for x in gs]
    return out[0] if single else out


def _closure_one(g: Graph, plus: bool) -> Graph:
    sw, fw = g.start_weight, g.final_weight
    starts = np.flatnonzero(np.isfinite(sw.detach().numpy()))
    finals = np.flatnonzero(np.isfinite(fw.detach().numpy()))
    f, s = np.meshgrid(finals, starts, indexing="ij")
    ls, ld = f.reshape(-1).astype(np.int64), s.reshape(-1).astype(np.int64)
    back_w = fw[torch.from_numpy(ls)] + sw[torch.from_numpy(ld)]
    src = [g.src, ls.astype(np.int32)]
    dst = [g.dst, ld.astype(np.int32)]
    weights = [g.weight, back_w]
    n = g.num_nodes
    n_new_eps = ls.shape[0]
    if plus:
        new_sw, new_fw = sw, fw
    else:
        if n == 0:
            raise GraphError(
                "closure of an empty graph (no states) is undefined; "
                "use concat() for the empty sequence"
            )
        src.append(np.full(starts.shape[0], n, np.int32))
        dst.append(starts.astype(np.int32))
        weights.append(sw[torch.from_numpy(starts)])
        n_new_eps += starts.shape[0]
        zero = sw.new_zeros(1)
        new_sw = torch.cat([torch.full_like(sw, INF), zero])
        new_fw = torch.cat([fw, zero])
        n += 1
    eps = np.full(n_new_eps, EPSILON, np.int32)
    return Graph._trusted(
        n,
        np.concatenate(src),
        np.concatenate(dst),
        np.concatenate([g.ilabel, eps]),
        np.concatenate([g.olabel, eps]),
        torch.cat(weights),
        new_sw,
        new_fw,
        g.isymbols,
        g.osymbols,
    )
