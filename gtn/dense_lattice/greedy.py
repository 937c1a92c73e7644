"""Greedy (best-path) CTC decoding: the lowest-energy label of each frame, repeats merged and
blanks dropped. For CTC this is the single best alignment; the best *transcript*, summed over
its alignments, needs a search (``decoders``)."""

from __future__ import annotations

import torch

from .intersection import _check_lengths


def _validate(emissions: torch.Tensor, lengths, blank: int) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(emissions, torch.Tensor) or emissions.dim() != 3:
        shape = list(emissions.shape) if isinstance(emissions, torch.Tensor) else None
        raise ValueError(f"emissions must be a [B, T, V] tensor, got {shape or type(emissions)}")
    B, T, V = emissions.shape
    if not emissions.is_floating_point():
        raise ValueError(f"emissions must be floating point energies, got {emissions.dtype}")
    if isinstance(blank, bool) or not isinstance(blank, int) or not 0 <= blank < V:
        raise ValueError(f"blank = {blank!r} is not a column of emissions [B, T, V={V}]")
    lengths = torch.from_numpy(_check_lengths(lengths, B, T))
    valid = torch.arange(T)[None, :] < lengths[:, None]  # [B, T]
    nan = torch.nonzero(torch.isnan(emissions).any(-1) & valid)
    if nan.numel():
        b, t = (int(v) for v in nan[0])
        raise ValueError(f"emissions[{b}, {t}] has NaN")
    return lengths, valid


def ctc_greedy_decode(emissions: torch.Tensor, lengths=None, blank: int = 0) -> list[list[int]]:
    """Best-path CTC decoding of a batch: per frame the label of lowest energy, then repeats
    merged and blanks dropped.

    Args:
        emissions: [B, T, V] energies (lower is better, e.g. ``-log_softmax(logits)``; with
            log-probabilities, pass their negatives). Ties go to the lowest label.
        lengths: [B] valid frames per utterance (default: all T).
        blank: the blank's column.

    Returns:
        B lists of labels (ints in 0..V-1, never the blank).

    >>> import torch, gtn
    >>> energies = -torch.tensor([[[0.1, 0.8, 0.1], [0.1, 0.8, 0.1], [0.9, 0.05, 0.05],
    ...                            [0.1, 0.8, 0.1], [0.2, 0.1, 0.7]]]).log()
    >>> gtn.ctc_greedy_decode(energies)  # frames 1 1 - 1 2
    [[1, 1, 2]]
    """
    lengths, valid = _validate(emissions, lengths, blank)
    best = emissions.detach().argmin(-1)  # [B, T]
    new = torch.ones_like(best, dtype=torch.bool)
    new[:, 1:] = best[:, 1:] != best[:, :-1]
    keep = new & (best != blank) & valid
    rows = best.cpu().tolist()
    marks = keep.cpu().tolist()
    return [
        [k for k, m in zip(row, mark, strict=True) if m]
        for row, mark in zip(rows, marks, strict=True)
    ]
