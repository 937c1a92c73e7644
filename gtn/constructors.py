"""Vectorised constructors for graphs that models use all the time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .composition import MAX_ARCS
from .graph import EPSILON, INF, Graph, GraphError, _as_int32


def _labels(name: str, seq) -> np.ndarray:
    """int32 labels [L]: integers (1.7 is no label, not label 1) from EPSILON up."""
    arr = seq.detach().cpu().numpy() if isinstance(seq, torch.Tensor) else seq
    try:
        shape = np.shape(arr)
    except ValueError:  # ragged: _as_int32 says so
        shape = (None,)
    if len(shape) != 1:
        raise GraphError(f"{name} must be a 1-D sequence of labels, got shape {shape}")
    arr = _as_int32(name, arr)
    bad = np.flatnonzero(arr < EPSILON)
    if bad.size:
        raise GraphError(f"{name}[{int(bad[0])}] = {int(arr[bad[0]])} is not a label")
    return arr


def _start_final(n: int, starts, finals, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    sw = torch.full((n,), INF, dtype=dtype)
    fw = torch.full((n,), INF, dtype=dtype)
    sw[list(starts)] = 0.0
    fw[list(finals)] = 0.0
    return sw, fw


def linear(
    labels: Sequence[int] | np.ndarray | torch.Tensor,
    weights: torch.Tensor | Sequence[float] | None = None,
    olabels: Sequence[int] | None = None,
    *,
    isymbols=None,
    osymbols=None,
) -> Graph:
    """The graph of one sequence: L+1 states in a line, arc i carries ``labels[i]``.

    Args:
        labels: [L] labels (an acceptor unless ``olabels`` is given).
        weights: [L] arc energies (default 0); a tensor keeps its autograd history.
        olabels: [L] output labels, making a transducer.

    >>> linear([2, 0, 1]).num_arcs
    3
    """
    il = _labels("labels", labels)
    ol = il if olabels is None else _labels("olabels", olabels)
    if ol.shape != il.shape:
        raise GraphError(f"olabels has {ol.shape[0]} labels but labels has {il.shape[0]}")
    n_arcs = il.shape[0]
    if weights is None:
        w = torch.zeros(n_arcs, dtype=torch.get_default_dtype())
    elif isinstance(weights, torch.Tensor):
        w = weights if weights.is_floating_point() else weights.to(torch.get_default_dtype())
    else:
        w = torch.as_tensor(np.asarray(weights, np.float64), dtype=torch.get_default_dtype())
    sw, fw = _start_final(n_arcs + 1, [0], [n_arcs], w.dtype)
    nodes = np.arange(n_arcs, dtype=np.int32)
    return Graph(n_arcs + 1, nodes, nodes + 1, il, ol, w, sw, fw, isymbols, osymbols)


def emission_graph(emissions: torch.Tensor, *, isymbols=None) -> Graph:
    """The linear lattice of one [T, V] energy matrix, as an explicit graph: T+1 states, one
    arc per label per frame, arc (t, v) from state t to t+1 with energy ``emissions[t, v]`` (arc
    index t*V + v; lower is better, e.g. ``-log_softmax(logits)``).

    The result is differentiable with respect to ``emissions`` and takes part in the whole
    algebra (compose, intersect, scoring). For training on batches, ``gtn.intersect_dense``
    intersects emissions [B, T, V] with label graphs without building this graph.

    >>> import torch, gtn
    >>> g = gtn.emission_graph(torch.tensor([[0.5, 2.0], [1.0, 0.25]]))  # T=2 frames, V=2 labels
    >>> g.num_nodes, g.num_arcs, gtn.min_energy(g).item()
    (3, 4, 0.75)
    """
    if not isinstance(emissions, torch.Tensor):
        emissions = torch.as_tensor(
            np.asarray(emissions, np.float64), dtype=torch.get_default_dtype()
        )
    if emissions.dim() != 2:
        raise GraphError(f"emissions must have shape [T, V], got {list(emissions.shape)}")
    t, v = emissions.shape
    src = np.repeat(np.arange(t, dtype=np.int32), v)
    labels = np.tile(np.arange(v, dtype=np.int32), t)
    dtype = emissions.dtype if emissions.is_floating_point() else torch.get_default_dtype()
    sw, fw = _start_final(t + 1, [0], [t], dtype)
    return Graph(
        t + 1,
        src,
        src + 1,
        labels,
        None,
        emissions.reshape(-1).to(dtype),
        sw,
        fw,
        isymbols,
        isymbols,
    )


def complement_set(
    sequences: Sequence[Sequence[int]], alphabet: int | Sequence[int], *, max_arcs: int = MAX_ARCS
) -> Graph:
    """A deterministic acceptor, all energies 0, of every sequence over ``alphabet`` except the
    ``sequences`` (the set version of :func:`complement`: the difference Σ* − sequences).

    Args:
        sequences: label sequences over ``alphabet`` (an empty one excludes the empty string).
        alphabet: V (labels 0..V-1) or an explicit list of labels.
        max_arcs: the most arcs (V per state) the graph may have, as :func:`gtn.compose`'s
            (default :data:`gtn.composition.MAX_ARCS`); a larger one is a GraphError.

    States form the trie of ``sequences`` (root 0) plus an accepting sink, the last state,
    reached by any deviation; every state but the ends of excluded sequences is final.

    >>> complement_set([(1,), (1, 2)], [1, 2]).num_nodes  # root, "1", "1 2" and the sink
    4
    """
    if isinstance(alphabet, int | np.integer):
        _check_arcs(int(alphabet), 2, max_arcs)  # the root and the sink at least
        alpha = np.arange(alphabet, dtype=np.int64)
    else:
        alpha = np.unique(_labels("alphabet", alphabet).astype(np.int64))
    if alpha.size and alpha[0] < 0:
        raise GraphError("alphabet must not contain EPSILON")
    children: list[dict[int, int]] = [{}]
    ends = set()
    for i, seq in enumerate(sequences):
        labels = _labels(f"sequences[{i}]", seq)
        missing = np.setdiff1d(labels, alpha)
        if missing.size:
            raise GraphError(f"sequences[{i}] label {int(missing[0])} is not in the alphabet")
        node = 0
        for label in labels.tolist():
            if label not in children[node]:
                children[node][label] = len(children)
                children.append({})
            node = children[node][label]
        ends.add(node)
    sink, v = len(children), alpha.shape[0]
    _check_arcs(v, sink + 1, max_arcs)
    src = np.repeat(np.arange(sink + 1, dtype=np.int32), v)
    lab = np.tile(alpha, sink + 1).astype(np.int32)
    dst = np.full(src.shape[0], sink, np.int32)
    for node, kids in enumerate(children):
        for label, child in kids.items():
            dst[node * v + int(np.searchsorted(alpha, label))] = child
    finals = [s for s in range(sink + 1) if s not in ends]
    dtype = torch.get_default_dtype()
    sw, fw = _start_final(sink + 1, [0], finals, dtype)
    return Graph(sink + 1, src, dst, lab, None, torch.zeros(src.shape[0], dtype=dtype), sw, fw)


def _check_arcs(labels: int, states: int, max_arcs: int) -> None:
    """GraphError before allocating a complement whose every state has an arc per label."""
    if labels * states > max_arcs:
        raise GraphError(
            f"complement of an alphabet of {labels:,} labels: {states:,} states with an arc per "
            f"label make {labels * states:,} arcs, more than max_arcs={max_arcs:,} (pass "
            "max_arcs= to allow it)"
        )


def complement(
    sequence: Sequence[int], alphabet: int | Sequence[int], *, max_arcs: int = MAX_ARCS
) -> Graph:
    """A deterministic acceptor of every sequence over ``alphabet`` except ``sequence``; all
    energies 0. Composing a recogniser's graph with it leaves the incorrect answers only, whose
    best path is the most offending incorrect answer.

    Args:
        sequence: [L] the excluded label sequence.
        alphabet: V (labels 0..V-1) or an explicit list of labels.
        max_arcs: as :func:`complement_set`'s.

    States 0..L follow the prefix of ``sequence``; state L+1 is an accepting sink reached by
    any deviation. Every state but L (the whole sequence matched) is final.
    """
    return complement_set([_labels("sequence", sequence)], alphabet, max_arcs=max_arcs)
