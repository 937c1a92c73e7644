"""Vectorised constructors for graphs that models use all the time.

All weights are energies (lower is better)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .graph import INF, Graph, GraphError


def _labels(name: str, seq) -> np.ndarray:
    arr = np.asarray(seq.detach().cpu().numpy() if isinstance(seq, torch.Tensor) else seq)
    if arr.ndim != 1:
        raise GraphError(f"{name} must be a 1-D sequence of labels, got shape {tuple(arr.shape)}")
    arr = arr.astype(np.int64)
    bad = np.flatnonzero(arr < -1)
    if bad.size:
        raise GraphError(f"{name}[{int(bad[0])}] = {int(arr[bad[0]])} is not a label")
    return arr.astype(np.int32)


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


def dense(emissions: torch.Tensor, *, isymbols=None) -> Graph:
    """The linear lattice of a [T, V] energy matrix: T+1 states, one arc per label per frame,
    arc (t, v) from state t to t+1 with energy ``emissions[t, v]`` (arc index t*V + v).

    The result is differentiable with respect to ``emissions``. For training on batches,
    ``gtn.dense`` intersects emissions with graphs without building this graph.
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


def complement(sequence: Sequence[int], alphabet: int | Sequence[int]) -> Graph:
    """A deterministic acceptor of every sequence over ``alphabet`` except ``sequence``; all
    energies 0. Composing a recogniser's graph with it leaves the incorrect answers only, whose
    best path is the most offending incorrect answer.

    Args:
        sequence: [L] the excluded label sequence.
        alphabet: V (labels 0..V-1) or an explicit list of labels.

    States 0..L follow the prefix of ``sequence``; state L+1 is an accepting sink reached by
    any deviation. Every state but L (the whole sequence matched) is final.
    """
    seq = _labels("sequence", sequence)
    alpha = (
        np.arange(alphabet, dtype=np.int32)
        if isinstance(alphabet, int | np.integer)
        else _labels("alphabet", alphabet)
    )
    alpha = np.unique(alpha)
    if alpha.size and alpha[0] < 0:
        raise GraphError("alphabet must not contain EPSILON")
    missing = np.setdiff1d(seq, alpha)
    if missing.size:
        raise GraphError(f"sequence label {int(missing[0])} is not in the alphabet")
    length, v = seq.shape[0], alpha.shape[0]
    sink = length + 1
    # From each prefix state i < L: seq[i] advances, every other label escapes to the sink.
    prefix_src = np.repeat(np.arange(length, dtype=np.int32), v)
    prefix_lab = np.tile(alpha, length)
    advance = prefix_lab == np.repeat(seq, v)
    prefix_dst = np.where(advance, prefix_src + 1, sink).astype(np.int32)
    # From state L and from the sink, every label goes to the sink.
    tail_src = np.repeat(np.array([length, sink], dtype=np.int32), v)
    tail_lab = np.tile(alpha, 2)
    src = np.concatenate([prefix_src, tail_src])
    dst = np.concatenate([prefix_dst, np.full(2 * v, sink, np.int32)])
    lab = np.concatenate([prefix_lab, tail_lab])
    finals = [i for i in range(length + 2) if i != length]
    dtype = torch.get_default_dtype()
    sw, fw = _start_final(length + 2, [0], finals, dtype)
    return Graph(length + 2, src, dst, lab, None, torch.zeros(src.shape[0], dtype=dtype), sw, fw)
