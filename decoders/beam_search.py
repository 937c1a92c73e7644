"""Beam search: decode per-frame label energies with a decoding graph by token passing.

Emissions are energies [T, V] (e.g. -log_softmax of a network's scores). The
decoding graph is a transducer from labels 0..V-1 to output symbols (lexicon o grammar); its
input-epsilon arcs (word ends, back-offs) consume no frame and must be acyclic. The search
explores compose(emission_graph(emissions), graph) frame by frame without building it, keeping
tokens within ``beam`` of the frame's best and at most ``max_active`` per frame. A path's energy
is its graph energy plus the emission energies of the labels it consumes, so with an infinite
beam the best energy equals ``gtn.min_energy(gtn.compose(gtn.emission_graph(emissions), graph))``,
and with a finite one it is never lower. (An example is in :mod:`decoders`.)
"""

from __future__ import annotations

import math

import numpy as np
import torch

import gtn
from gtn.utils import renamed_keywords

from ._beam_kernels import DST_TOK, GRAPH_ARC, SRC, TOK_STATE, Options, beam_search
from .lattice import build_lattice
from .result import DecodeResult, path_result
from .search_layout import SearchGraph, search_graph


def check_emissions(emissions, sg: SearchGraph, where: str = "emissions") -> np.ndarray:
    """float64 [T, V] numpy copy of ``emissions``, checked against the decoding graph.

    Raises:
        GraphError: not 2-D, fewer columns than the graph's labels, or NaN / -inf energies
            (``where`` names the source in the message).
    """
    if isinstance(emissions, torch.Tensor):
        emissions = emissions.detach().cpu().double().numpy()
    e = np.ascontiguousarray(emissions, dtype=np.float64)
    if e.ndim != 2:
        raise gtn.GraphError(f"{where}: expected energies of shape [T, V], got {list(e.shape)}")
    if e.shape[1] < sg.num_labels:
        raise gtn.GraphError(
            f"{where}: {e.shape[1]} labels per frame, but the decoding graph uses input label "
            f"{sg.num_labels - 1} (it needs at least {sg.num_labels})"
        )
    bad = np.isnan(e) | (e == -np.inf)
    if bad.any():
        t, v = (int(x) for x in np.argwhere(bad)[0])
        raise gtn.GraphError(f"{where}: frame {t}, label {v} has energy {e[t, v]}")
    return e


@renamed_keywords(nbest="num_hypotheses")
def decode(
    emissions,
    graph: gtn.Graph | SearchGraph,
    *,
    beam: float = 16.0,
    max_active: int = 10_000,
    lattice_beam: float | None = None,
    num_hypotheses: int = 0,
    beta: float = 1.0,
    confidence: bool = True,
    lattice: bool = False,
) -> DecodeResult:
    """Decode one utterance.

    Args:
        emissions: [T, V] per-frame label energies (tensor or array).
        graph: the decoding graph (a ``gtn.Graph``; its CSR layout is cached on it).
        beam: keep tokens within this energy of the frame's best (``math.inf``: no beam).
        max_active: keep at most this many tokens per frame.
        lattice_beam: keep lattice paths within this energy of the best (default ``beam``).
        num_hypotheses: also find this many lowest-energy distinct outputs, the n-best list
            ``DecodeResult.hypotheses`` (0: none).
        beta: inverse temperature of the posteriors (confidence, hypotheses' posteriors).
        confidence: compute the best output's posterior under the pruned lattice.
        lattice: return the pruned lattice (:class:`decoders.Lattice`).

    Returns a :class:`DecodeResult`; when no path survives, ``found`` is False, the energy
    +inf and the output empty. Raises GraphError for unusable emissions or graphs, ValueError
    for options out of range (NaN beams, ``beta`` <= 0), both before the search runs.
    """
    _check_options(beam, max_active, lattice_beam, num_hypotheses, beta)
    sg = search_graph(graph)
    e = check_emissions(emissions, sg)
    record = bool(confidence or num_hypotheses > 0 or lattice)
    out = beam_search(e, sg.arrays, Options(float(beam), int(min(max_active, 2**62)), record))
    tok, ntok, frame_off, order, active, arcs, narc, best_tok, energy, path_arc, path_tok = out
    lat = None
    if record and best_tok >= 0:
        ends = (arcs.ends[row, :narc].copy() for row in (SRC, DST_TOK, GRAPH_ARC))
        lat = build_lattice(
            sg, tok.links[TOK_STATE, :ntok].copy(), frame_off, order[:ntok].copy(),
            (*ends, arcs.w[:narc].copy()), beam if lattice_beam is None else lattice_beam,
        )  # fmt: skip
    frames = np.searchsorted(frame_off, path_tok, side="right") - 1
    return path_result(
        sg.graph, path_arc, frames, energy, lat, lattice, active, num_hypotheses, beta, confidence
    )


def _check_options(beam, max_active, lattice_beam, num_hypotheses, beta) -> None:
    """ValueError naming the first unusable search option (before any search runs)."""
    if not beam > 0:  # also refuses NaN
        raise ValueError(f"beam must be > 0 (math.inf: no beam), got {beam}")
    if not max_active >= 1:
        raise ValueError(f"max_active must be >= 1, got {max_active}")
    if lattice_beam is not None and not lattice_beam >= 0:
        raise ValueError(f"lattice_beam must be >= 0 (math.inf: no pruning), got {lattice_beam}")
    if not num_hypotheses >= 0:
        raise ValueError(f"num_hypotheses must be >= 0, got {num_hypotheses}")
    if not (0 < beta < math.inf):
        raise ValueError(f"beta (inverse temperature) must be finite and > 0, got {beta}")


def decode_batch(
    emissions,
    graph: gtn.Graph | SearchGraph,
    lengths=None,
    **options,
) -> list[DecodeResult]:
    """Decode a batch [B, T, V] of emissions (utterance b uses its first ``lengths[b]`` frames,
    all T by default) with one decoding graph; ``options`` as for :func:`decode`."""
    if isinstance(emissions, torch.Tensor):
        emissions = emissions.detach().cpu().double().numpy()
    emissions = np.asarray(emissions, dtype=np.float64)
    if emissions.ndim != 3:
        raise gtn.GraphError(f"batch emissions must be [B, T, V], got {list(emissions.shape)}")
    b, t, _ = emissions.shape
    lengths = np.full(b, t) if lengths is None else np.asarray(lengths).reshape(-1)
    if lengths.shape[0] != b or (lengths < 0).any() or (lengths > t).any():
        raise gtn.GraphError(f"lengths must be {b} values in [0, {t}], got {lengths.tolist()}")
    sg = search_graph(graph)
    # One kernel call per utterance: each is long enough that Python's share is negligible.
    return [decode(emissions[i, : int(lengths[i])], sg, **options) for i in range(b)]
