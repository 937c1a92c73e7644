"""Training criteria: each is dense intersection with a different graph.

Emissions are energies [B, T, V] (``-log_softmax(logits)``); every loss is an energy
difference, lower is better, and ``reduction`` is 'none' ([B]), 'sum' or 'mean'.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..graph import Graph
from ._crf import CrfNll
from ._path import PathEnergy
from .batch import GraphBatch
from .intersect import intersect
from .topologies import asg_graphs, ctc_graphs, linear_chain

Graphs = Graph | Sequence[Graph] | GraphBatch


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return loss
    if reduction == "sum":
        return loss.sum()
    if reduction == "mean":
        return loss.mean()
    raise ValueError(f"reduction must be 'none', 'sum' or 'mean', got {reduction!r}")


def _drop_inf(loss: torch.Tensor, zero_infinity: bool) -> torch.Tensor:
    return torch.where(torch.isinf(loss), torch.zeros_like(loss), loss) if zero_infinity else loss


def ctc_loss(
    emissions: torch.Tensor,
    targets: torch.Tensor,
    input_lengths,
    target_lengths,
    blank: int = 0,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> torch.Tensor:
    """Connectionist temporal classification: the free energy of the transcript's CTC graph.

    Equal to ``torch.nn.functional.ctc_loss(-emissions.transpose(0, 1), ...)``: emissions are
    [B, T, C] energies, targets padded [B, S] or concatenated, 'mean' divides each loss by its
    target length before averaging. Impossible alignments give +inf (0 with zero_infinity).
    """
    graphs = ctc_graphs(targets, target_lengths, blank, emissions.dtype)
    loss = intersect(graphs, emissions, input_lengths).free_energy()
    loss = _drop_inf(loss, zero_infinity)
    if reduction == "mean":
        lens = torch.as_tensor(target_lengths).to(loss.dtype).clamp(min=1)
        return (loss / lens).mean()
    return _reduce(loss, reduction)


def path_energy(
    emissions: torch.Tensor,
    tags: torch.Tensor,
    transitions: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
    lengths=None,
) -> torch.Tensor:
    """[B] energy of given tag sequences [B, T] under a linear-chain CRF (padding ignored).

    emissions [B, T, K], transitions [K, K] (from i to j), start/end [K]: energies, lower is
    better; lengths [B] >= 1 (default T). Differentiable in emissions and the three weights."""
    B, T, _ = emissions.shape
    lens = (
        np.full(B, T, np.int64)
        if lengths is None
        else np.asarray(torch.as_tensor(lengths).detach().cpu(), dtype=np.int64)
    )
    return PathEnergy.apply(emissions, tags, transitions, start, end, lens)


def crf_nll(
    emissions: torch.Tensor,
    tags: torch.Tensor,
    transitions: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
    lengths=None,
    reduction: str = "sum",
) -> torch.Tensor:
    """Linear-chain CRF negative log-likelihood E(tags) - F(all tag sequences).

    emissions [B, T, K], transitions [K, K] (from label i to j), start/end [K] are energies;
    a pytorch-crf model with scores (em, trans, start, end) is ours with all of them negated:
    ``crf_nll(-em, tags, -trans, -start, -end) == -CRF(...)(em, tags)``. Lengths >= 1.
    """
    K = transitions.shape[-1]
    start = transitions.new_zeros(K) if start is None else start
    end = transitions.new_zeros(K) if end is None else end
    return CrfNll.apply(emissions, tags, transitions, start, end, lengths, reduction)


def crf_decode(
    emissions: torch.Tensor,
    transitions: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
    lengths=None,
) -> torch.Tensor:
    """Minimum-energy tag sequences, long [B, T] with -1 on padding frames (Viterbi)."""
    with torch.no_grad():
        return (
            intersect(linear_chain(transitions, start, end), emissions, lengths)
            .best_alignment()
            .labels
        )


def mmi_loss(
    emissions: torch.Tensor,
    numerator: Graphs,
    denominator: Graphs,
    lengths=None,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> torch.Tensor:
    """Maximum mutual information / NLL: F(numerator) - F(denominator) per utterance.

    numerator: the transcript through the topology (one graph per utterance); denominator:
    the grammar through the topology (one graph per utterance, or one shared graph)."""
    # in float64: two large free energies differ by a small loss
    num = intersect(numerator, emissions, lengths).free_energy(dtype=torch.float64)
    den = intersect(denominator, emissions, lengths).free_energy(dtype=torch.float64)
    loss = num - den
    loss = torch.where(torch.isinf(num), num, loss)  # inf - inf: no numerator path
    return _reduce(_drop_inf(loss, zero_infinity), reduction).to(emissions.dtype)


def asg_loss(
    emissions: torch.Tensor,
    targets: torch.Tensor,
    target_lengths,
    transitions: torch.Tensor,
    input_lengths=None,
    reduction: str = "mean",
    zero_infinity: bool = False,
) -> torch.Tensor:
    """Auto segmentation criterion: F(transcript, labels may repeat) - F(all sequences).

    transitions [K, K] energies (from i to j), shared by numerator and denominator; no blank.
    """
    num = asg_graphs(targets, target_lengths, transitions)
    den = linear_chain(transitions)
    return mmi_loss(emissions, num, den, input_lengths, reduction, zero_infinity)


__all__ = ["asg_loss", "crf_decode", "crf_nll", "ctc_loss", "mmi_loss", "path_energy"]
