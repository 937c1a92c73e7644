"""Training criteria: each is dense intersection with a different graph.

Emissions are energies [B, T, V] (``-log_softmax(logits)``); every loss is an energy
difference, and ``reduction`` is 'none' ([B]), 'sum' or 'mean'.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..graph import Graph
from . import _torch_crf
from ._backend import backend
from ._crf import CrfNll, validate
from .batch import GraphBatch
from .intersection import intersect_dense
from .topologies import asg_graphs, ctc_graphs, integers, linear_chain_graphs, ragged_targets

Graphs = Graph | Sequence[Graph] | GraphBatch


def _reduce(loss: torch.Tensor, reduction: str) -> torch.Tensor:
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


def _check_reduction(reduction: str, batch_size: int) -> None:
    if reduction not in ("none", "sum", "mean") or (reduction == "mean" and batch_size == 0):
        raise ValueError(f"reduction must be 'none', 'sum' or 'mean' (B > 0), got {reduction!r}")


def _drop_inf(loss: torch.Tensor, zero_infinity: bool) -> torch.Tensor:
    return torch.where(torch.isinf(loss), torch.zeros_like(loss), loss) if zero_infinity else loss


def _validate_ctc(emissions, input_lengths, target_lengths, blank) -> None:
    """The checks torch's ctc_loss makes, with our layout ([B, T, V] energies) in the messages;
    targets are checked where the graphs are built (``ragged_targets``)."""
    if not isinstance(emissions, torch.Tensor):
        raise TypeError(
            "emissions must be a torch.Tensor [B, T, V] of energies (-log_softmax(logits)), "
            f"got {type(emissions).__name__}"
        )
    if emissions.dim() != 3:
        raise ValueError(
            f"emissions must have shape [B, T, V] (batch first), got {list(emissions.shape)}"
        )
    il = integers("input_lengths", input_lengths).reshape(-1)
    tl = integers("target_lengths", target_lengths).reshape(-1)
    B, T, V = emissions.shape
    for name, n in (("input_lengths", il.shape[0]), ("target_lengths", tl.shape[0])):
        if n != B:
            hint = (
                "; torch's ctc_loss takes [T, B, V] log-probabilities: pass "
                "-log_probs.transpose(0, 1)"
                if n == T
                else ""
            )
            raise ValueError(
                f"emissions must be [B, T, V] energies (batch first): shape "
                f"{list(emissions.shape)} has B={B} but {name} has {n} entries{hint}"
            )
    if isinstance(blank, bool) or not isinstance(blank, int | np.integer) or not 0 <= blank < V:
        raise ValueError(f"blank must be an integer in [0, V={V}), got {blank!r}")


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
    target length before averaging. Impossible alignments give +inf (0 with zero_infinity);
    zero frames with an empty target give 0. Targets and lengths must be integers (tensors,
    arrays or sequences), 0 <= blank < V.
    """
    _validate_ctc(emissions, input_lengths, target_lengths, blank)
    _check_reduction(reduction, emissions.shape[0])
    flat, lens = ragged_targets(targets, target_lengths)
    V = emissions.shape[2]
    if flat.size and flat.max() >= V:  # before anything is sized by the label
        i = int(np.argmax(flat))
        raise ValueError(
            f"target label {int(flat[i])} (position {i} of the concatenated targets) is out "
            f"of range for emissions with V={V} labels"
        )
    graphs = ctc_graphs(flat, lens, blank, emissions.dtype)
    loss = intersect_dense(graphs, emissions, input_lengths).free_energy()
    loss = _drop_inf(loss, zero_infinity)
    if reduction == "mean":  # each loss over its target length first, as torch's
        loss = loss / torch.as_tensor(target_lengths).to(loss.device, loss.dtype).clamp(min=1)
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
    better (+inf forbids; NaN and -inf are refused); tags integer [B, T] in [0, K) on valid
    frames; lengths [B] in [1, T] (default T). Differentiable in emissions and the three
    weights; a sequence through a +inf energy has energy +inf and zero gradient."""
    tags, lens = validate(emissions, tags, transitions, start, end, lengths)
    return _torch_crf.path_energy(emissions, tags, transitions, start, end, lens)


def _default_ends(transitions, start, end) -> tuple:
    """start / end energies of None become zeros [K]."""
    if isinstance(transitions, torch.Tensor) and transitions.dim() == 2:
        K = transitions.shape[-1]
        start = transitions.new_zeros(K) if start is None else start
        end = transitions.new_zeros(K) if end is None else end
    return start, end


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
    ``crf_nll(-em, tags, -trans, -start, -end) == -CRF(...)(em, tags)``. tags integer [B, T]
    in [0, K) on valid frames; lengths [B] in [1, T] (default T). +inf energies forbid a label
    or transition; NaN and -inf are refused. A tag sequence through a +inf energy has loss +inf
    and zero gradient (so has every utterance when all transitions are +inf and T > 1).
    ``reduction``: 'sum' (the default, as pytorch-crf's), 'mean' over the batch, or 'none'
    (the [B] losses).
    """
    start, end = _default_ends(transitions, start, end)
    tags, lens = validate(emissions, tags, transitions, start, end, lengths)
    _check_reduction(reduction, emissions.shape[0])
    B, K = emissions.shape[0], transitions.shape[0]
    # the lanes kernel where it is the faster (docs/results/speed.md), else the composition
    if backend(emissions) == "torch" or (B < 8 and K > 20):
        return _torch_crf.crf_nll(emissions, tags, transitions, start, end, lens, reduction)
    loss, rest = CrfNll.apply(emissions, tags, transitions, start, end, lens, reduction)
    if not rest.any():
        return loss
    idx = torch.from_numpy(np.flatnonzero(rest))  # what the lanes cannot vouch for: composed
    exact = _torch_crf.crf_nll(
        emissions[idx], tags[idx], transitions, start, end, lens[rest], "none"
    )
    if reduction == "none":
        return loss.index_put((idx,), exact)
    return loss + exact.sum() / (B if reduction == "mean" else 1)


def crf_decode(
    emissions: torch.Tensor,
    transitions: torch.Tensor,
    start: torch.Tensor,
    end: torch.Tensor,
    lengths=None,
) -> torch.Tensor:
    """Minimum-energy tag sequences, long [B, T] with -1 on padding frames (Viterbi).

    Inputs as :func:`crf_nll` (start / end may be None); lengths [B] in [1, T]."""
    start, end = _default_ends(transitions, start, end)
    _, lengths = validate(emissions, None, transitions, start, end, lengths)
    with torch.no_grad():
        return (
            intersect_dense(linear_chain_graphs(transitions, start, end), emissions, lengths)
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

    emissions [B, T, V] energies (lower is better); numerator: the transcript through the
    topology (one graph per utterance, its arc labels index V); denominator: the grammar through
    the topology (one graph per utterance, or one shared graph); lengths [B] in [0, T] (default
    T). ``reduction``: 'mean' over the batch (not divided by transcript length, unlike
    :func:`ctc_loss`), 'sum', or 'none' (the [B] losses).

    An utterance whose numerator has no path has loss +inf (0 with zero_infinity), as CTC.
    One whose denominator has no path while its numerator has one raises ValueError: the
    denominator must contain every numerator path, so the graphs are wrong (the loss would be
    -inf, and training would follow it)."""
    # in float64: two large free energies differ by a small loss
    num = intersect_dense(numerator, emissions, lengths).free_energy(dtype=torch.float64)
    den = intersect_dense(denominator, emissions, lengths).free_energy(dtype=torch.float64)
    _check_denominator(num, den)
    _check_reduction(reduction, len(num))
    loss = num - den
    loss = torch.where(torch.isinf(num), num, loss)  # inf - inf: no numerator path
    return _reduce(_drop_inf(loss, zero_infinity), reduction).to(emissions.dtype)


def _check_denominator(num: torch.Tensor, den: torch.Tensor) -> None:
    """ValueError for an utterance whose denominator has no path while its numerator has one
    (on a GPU: one bool read back from the device)."""
    missing = torch.isinf(den.detach()) & torch.isfinite(num.detach())
    if bool(missing.any()):
        b = int(torch.nonzero(missing)[0, 0])
        raise ValueError(
            f"mmi_loss: utterance {b}'s denominator has no path (free energy +inf) but its "
            f"numerator has one (free energy {float(num[b]):.6g}); the denominator graph must "
            "contain the numerator's paths"
        )


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

    emissions [B, T, K] energies; targets padded [B, S] or concatenated, in [0, K);
    target_lengths [B]; transitions [K, K] energies (from i to j), shared by numerator and
    denominator; no blank; input_lengths [B] (default T). Reduction and infinities as
    :func:`mmi_loss`.
    """
    num = asg_graphs(targets, target_lengths, transitions)
    den = linear_chain_graphs(transitions)
    return mmi_loss(emissions, num, den, input_lengths, reduction, zero_infinity)


__all__ = ["asg_loss", "crf_decode", "crf_nll", "ctc_loss", "mmi_loss", "path_energy"]
