"""Determinization of weighted acceptors, differentiable in every energy."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ._internal import weight_tape as tape_ops
from ._internal.arc_map import gather
from ._internal.batch import as_batch, unbatch
from ._internal.determinize_kernels import determinize_one
from .epsilon import epsilon_arcs, remove_epsilon
from .graph import INF, Graph, GraphError
from .semiring import TROPICAL, Semiring, as_semiring

MAX_STATES = 1_000_000


def determinize(
    graphs: Graph | Sequence[Graph],
    semiring: Semiring | str = TROPICAL,
    *,
    delta: float = 1e-6,
    max_states: int = MAX_STATES,
) -> Graph | list[Graph]:
    """Determinize a weighted acceptor (OpenFst's Determinize; Mohri's weighted subset
    construction with residual energies).

    The result has one start state, and no state has two outgoing arcs with the same label. Each
    string keeps its energy in ``semiring`` (lower is better): the minimum path energy under
    ``TROPICAL``, the free energy -(1/beta) log sum exp(-beta E) under ``log_semiring(beta)``.
    An output state is a subset of (input state, residual energy) pairs; an arc with label a
    leaving it has energy w' = (+) of residual + arc energy over the subset's a-arcs, and the
    residuals it leads to are measured from w'. Residuals are compared after quantising by
    ``delta`` (OpenFst's delta): two subsets whose residuals differ by less are merged, which
    may shift energies by up to about ``delta``.

    Contract:
        - Acceptors only: a transducer raises :class:`GraphError` naming an arc whose input and
          output labels differ.
        - Epsilon arcs are removed first with :func:`gtn.epsilon.remove_epsilon` in the same
          semiring (an epsilon cycle raises there).
        - Cyclic inputs are accepted, but a weighted cyclic acceptor need not have a
          deterministic equivalent (under ``TROPICAL`` it must have the twins property; under
          the log semiring ambiguous cycles usually have none). The construction is therefore
          capped: more than ``max_states`` output states raises :class:`GraphError`. The cap
          also stops the exponential blow-up that some acyclic inputs cause.
        - States are not trimmed: subsets that reach no final state are kept. Arcs of energy
          +inf are treated as absent.

    Gradients: output energies are exact functions of the input arc, start and final energies.
    Under ``TROPICAL`` each w' and residual uses one argmin contribution (the first in
    (destination, member state, arc) order on ties), so gradients are path indicators; under
    the log semiring they are softmin weights. The numba kernel records how each energy was
    formed and a custom autograd function replays it in float64 (first derivatives only).
    Merged subsets keep the residual expressions of the first one found.

    Returns:
        Deterministic acceptor(s) with N' states (state 0 is the start state), energies of
        shape [A'] and [N'] in the input dtype, and the input's symbol tables.

    Args:
        graphs: an acceptor or a list of them (one kernel call per graph, then one batched
            weight evaluation: this is not a training hot path).
        semiring: ``gtn.TROPICAL`` (default) or a log semiring.
        delta: quantisation step for comparing residual energies.
        max_states: the largest number of output states allowed per graph.

    >>> import gtn
    >>> g = gtn.Graph.from_arrays(4, [0, 0, 1, 2], [1, 2, 3, 3], [0, 0, 1, 1], weight=[1, 2, 0, 0])
    >>> d = determinize(g)
    >>> d.num_nodes, [(a.src, a.dst, a.ilabel, a.weight) for a in d.arcs()]
    (3, [(0, 1, 0, 1.0), (1, 2, 1, 0.0)])
    """
    gs, single = as_batch(graphs, "determinize")
    sr = as_semiring(semiring)
    if not delta > 0:
        raise ValueError(f"delta must be > 0, got {delta}")
    for b, g in enumerate(gs):
        if not g.is_acceptor():
            i = int(np.flatnonzero(g.ilabel != g.olabel)[0])
            where = f"graph {b}, " if len(gs) > 1 else ""
            raise GraphError(
                f"determinize needs an acceptor, but {where}arc {i} has ilabel "
                f"{int(g.ilabel[i])} != olabel {int(g.olabel[i])}"
            )
    gs = [_epsilon_free(g, b, len(gs), sr) for b, g in enumerate(gs)]

    def record(b: int, g: Graph, x: np.ndarray) -> tuple:
        return _subset_construction(g, x, b, len(gs), sr, delta, max_states)

    values, built = tape_ops.record_and_replay(gs, record, sr)
    out = []
    for g, ((n_out, arcs, start, final), at) in zip(gs, built, strict=True):
        start_weight = values.new_full((n_out,), INF)
        if n_out:
            start_weight = torch.cat([gather(values, at(start), INF), start_weight[1:]])
        out.append(
            g._derive(
                num_nodes=n_out,
                src=arcs[:, 0].astype(np.int32),
                dst=arcs[:, 1].astype(np.int32),
                ilabel=arcs[:, 2].astype(np.int32),
                weight=gather(values, at(arcs[:, 3]), INF),
                start_weight=start_weight,
                final_weight=gather(values, at(final), INF),
            )
        )
    return unbatch(out, single)


def _subset_construction(
    g: Graph, x: np.ndarray, b: int, batch_size: int, sr: Semiring, delta: float, cap: int
) -> tuple:
    """Run the kernel on one graph: ((n_states, arcs [A', 4], start, final), tape builder)."""
    status, n_out, *res = determinize_one(
        g.num_nodes, g.src, g.dst, g.ilabel, x, sr.code, sr.beta, float(delta), int(cap)
    )
    if status:
        where = f"graph {b} " if batch_size > 1 else ""
        raise GraphError(
            f"determinize: {where}needs more than max_states={cap} states; a cyclic "
            "input may lack the twins property (no deterministic equivalent), or an acyclic "
            "one blows up exponentially"
        )
    return (n_out, *res[:3]), res[3]


def _epsilon_free(g: Graph, b: int, batch_size: int, semiring: Semiring) -> Graph:
    if not epsilon_arcs(g).any():
        return g
    try:
        return remove_epsilon(g, semiring)
    except GraphError as err:
        if batch_size == 1:
            raise
        raise GraphError(f"graph {b}: {err}") from None
