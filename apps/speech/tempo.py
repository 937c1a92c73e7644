"""Tempo normalisation at test time: for each speaker, the rate at which its features are
played to the recogniser, chosen without a transcript, then used to decode that speaker.

A rate r resamples the log-mel features along time (:func:`resample_frames`): r > 1 plays a
slow speaker faster (fewer frames), r < 1 a fast one slower. Training's speed perturbation
covers a range of rates; a speaker whose rate or phone durations lie outside it is what this
is for. It composes with :mod:`.vtln`: the warp is chosen first, then the rate of the warped
features.

Selection (groups as in :mod:`.vtln`: a speaker's utterances, or each utterance alone): each
utterance is decoded at every rate of the grid; a group's score at rate r is its summed
best-path energy divided by the summed frame counts ``T_r ** a * T_1 ** (1 - a)``, where
``T_r`` counts the features at rate r and ``T_1`` the unresampled ones; the group takes the
rate of lowest score (ties: the rate nearest 1, then the smaller). Energy per resampled frame
alone (a = 1) favours slowing down, because interpolated frames are easy to explain; energy
per original frame (a = 0) favours speeding up, because fewer frames cost less. The exponent
:data:`FRAME_EXPONENT` was fixed on held-out espeak-ng speakers so that speech at its own
tempo chooses rate 1 on average (festival's voices played no part). Energies include the
recogniser's word penalty, as decoding does.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .vtln import Selection, check_grid, select_factors

RATES = (0.8, 0.85, 0.9, 0.95, 1.0, 1.05, 1.1, 1.18, 1.25)
FRAME_EXPONENT = 0.8


def check_rates(rates: Sequence[float]) -> tuple[float, ...]:
    """The rate grid checked as :func:`.vtln.check_grid` checks warps (same range and size)."""
    return check_grid(rates, "tempo rate")


def resample_frames(feats: torch.Tensor, rate: float) -> torch.Tensor:
    """Features [T, D] played ``rate`` times as fast: [max(1, round(T / rate)), D], linearly
    interpolated at equally spaced times from the first frame to the last (both kept).

    >>> resample_frames(torch.arange(3.0)[:, None], 0.6)[:, 0].tolist()
    [0.0, 0.5, 1.0, 1.5, 2.0]
    >>> resample_frames(torch.arange(5.0)[:, None], 1.6)[:, 0].tolist()
    [0.0, 2.0, 4.0]
    """
    rate = check_rates([rate])[0]
    if feats.ndim != 2 or feats.shape[0] == 0:
        raise ValueError(f"features must be [frames > 0, bands], got {list(feats.shape)}")
    t = feats.shape[0]
    if rate == 1.0:
        return feats
    n = max(1, round(t / rate))
    pos = torch.linspace(0.0, t - 1.0, n, dtype=torch.float64)
    lo = pos.floor().long()
    hi = torch.clamp(lo + 1, max=t - 1)
    frac = (pos - lo).to(feats.dtype)[:, None]  # [n, 1]
    return ((1 - frac) * feats[lo] + frac * feats[hi]).contiguous()


def select_rates(
    energies: np.ndarray,
    frames: np.ndarray,
    groups: Sequence[str],
    rates: Sequence[float],
    exponent: float = FRAME_EXPONENT,
) -> Selection:
    """Each group's rate of least best-path energy per frame (see the module doc).

    Args:
        energies: float [U, R] best-path energy of utterance u at rate r (lower is better;
            inf: no path).
        frames: int [U, R] feature frames of utterance u at rate r (positive).
        groups: [U] the group of each utterance.
        rates: [R] the grid; it must hold 1 (the unresampled frames ``T_1``).
        exponent: a in ``T_r ** a * T_1 ** (1 - a)``, in [0, 1].
    """
    rates = tuple(float(r) for r in rates)
    if 1.0 not in rates:
        raise ValueError(f"the tempo grid must hold rate 1, got {rates}")
    frames = np.asarray(frames, np.float64)
    counts = frames**exponent * frames[:, [rates.index(1.0)]] ** (1.0 - exponent)  # [U, R]
    return select_factors(energies, counts, groups, rates, "rates")


def choose(
    recognizer,
    feats: Sequence[torch.Tensor],
    groups: Sequence[str],
    rates: Sequence[float] = RATES,
    num_hypotheses: int = 0,
) -> tuple[Selection, list]:
    """Decode every utterance's features [T_u, 40] at every rate and pick each group's rate
    (:func:`select_rates`). ``groups`` [U]; ``recognizer`` a :class:`.api.SpeechRecognizer`
    (its beam and word penalty). Returns the selection and each utterance's recognition
    at its group's rate (``Recognition.rate``; its ``warp`` is left as it is, 1), its word
    times in seconds of the unresampled features; ``num_hypotheses`` > 0: decoded again at
    the chosen rates with that many hypotheses listed."""
    rates = check_rates(rates)
    if len(feats) != len(groups):
        raise ValueError(f"{len(feats)} utterances but {len(groups)} groups")
    if not len(groups):
        return Selection(rates, [], np.zeros((0, len(rates))), {}, {}), []
    energies = np.zeros((len(groups), len(rates)))  # [U, R]
    frames = np.zeros_like(energies)  # [U, R]
    decoded = []
    for k, r in enumerate(rates):
        played = [resample_frames(f, r) for f in feats]
        frames[:, k] = [f.shape[0] for f in played]
        decoded.append(recognizer.decode_energies(recognizer.energies(played, 32)))
        energies[:, k] = [d.energy for d in decoded[-1]]
    selection = select_rates(energies, frames, groups, rates)
    if num_hypotheses:
        for rate in sorted(set(selection.chosen.values())):
            mine = [u for u, g in enumerate(groups) if selection.chosen[g] == rate]
            again = recognizer.recognize_features(
                [resample_frames(feats[u], rate) for u in mine], num_hypotheses
            )
            for u, d in zip(mine, again, strict=True):
                decoded[rates.index(rate)][u] = d
    chosen = []
    for u, g in enumerate(groups):
        k = rates.index(selection.chosen[g])
        d = decoded[k][u]
        d.rate = rates[k]
        # word times back on the recording's clock: resampled frame j is original j * stretch
        t, n = feats[u].shape[0], int(frames[u, k])
        stretch = (t - 1) / (n - 1) if n > 1 else 1.0
        d.starts, d.ends = d.starts * stretch, d.ends * stretch
        chosen.append(d)
    return selection, chosen
