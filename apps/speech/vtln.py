"""Vocal-tract-length normalisation (VTLN) at test time: for each speaker, the warp factor of
the mel filterbank under which the recogniser's best paths are most likely, chosen without a
transcript, then used to decode that speaker.

The warp is the one training's vocal-tract-length perturbation draws (:func:`.augment.
vtlp_warp`, applied by :func:`.features.mel_filterbank`): warp alpha reads a frequency f of
the recording as alpha f, so a speaker whose formants lie higher than the training voices' is
read with alpha < 1. Training covers alpha in 1 +- ``Augmentation.vtlp_max``; a speaker
outside that range is what this is for.

Selection (Kaldi's ``utt2spk`` groups utterances by speaker; without it each utterance is
its own group): each utterance is decoded at every warp of the grid; a group's score at a
warp is the summed best-path energy of its utterances divided by their
summed frames, i.e. the energy per frame of the group's best paths; the group takes the warp
of lowest score (ties: the warp nearest 1, then the smaller). Per frame, so that long and
short utterances weigh by their length and the score does not depend on how much a speaker
said. Energies include the recogniser's word penalty, as decoding does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

GRID = tuple(round(0.80 + 0.04 * k, 2) for k in range(11))  # 0.80, 0.84, ..., 1.20
MIN_WARP, MAX_WARP = 0.5, 2.0  # the range :func:`.features.mel_filterbank` accepts (and tempo's)
MAX_WARPS = 101  # every factor costs a decoding pass, and its results are held until the choice
GROUPINGS = ("speaker", "utterance")


@dataclass
class Selection:
    """What a transcript-free choice of one factor per group made: a warp of the mel axis here,
    a speaking rate in :mod:`.tempo`. ``grid``: the factors [F]; ``groups``: group names [G]
    (speakers, or utterance indices as strings); ``scores``: float64 [G, F] best-path energy
    per frame of each group at each factor (inf where an utterance has no path); ``chosen``:
    group -> factor; ``utterances``: group -> number of its utterances."""

    grid: tuple[float, ...]
    groups: list[str]
    scores: np.ndarray
    chosen: dict[str, float]
    utterances: dict[str, int]


def check_grid(values: Sequence[float], name: str = "warp") -> tuple[float, ...]:
    """The grid as a sorted tuple of distinct floats; ValueError naming the bad value for an
    empty grid, one of more than :data:`MAX_WARPS` values, or a value that is not a finite
    number in [0.5, 2]. ``name`` names one value in the messages ("warp", "tempo rate")."""
    checked = []
    for v in values:
        try:
            x = float(v)
        except OverflowError:  # an int beyond float: its digits may be too many to print
            bounds = f"[{MIN_WARP:g}, {MAX_WARP:g}]"
            raise ValueError(f"{name}: a huge integer is outside {bounds}") from None
        except (TypeError, ValueError):
            raise ValueError(f"{name} {v!r} is not a number") from None
        if not (math.isfinite(x) and MIN_WARP <= x <= MAX_WARP):
            raise ValueError(f"{name} {v!r} is outside [{MIN_WARP:g}, {MAX_WARP:g}]")
        checked.append(x)
    if not checked:
        raise ValueError(f"the {name} grid is empty")
    checked = sorted(set(checked))
    if len(checked) > MAX_WARPS:
        raise ValueError(f"the {name} grid has {len(checked)} {name.split()[-1]}s, at most "
                         f"{MAX_WARPS} are allowed")  # fmt: skip
    return tuple(checked)


def parse_grid(text: str) -> tuple[float, ...]:
    """A grid from comma-separated warps ("0.8,0.9,1,1.1") or ``start:stop:step`` (both
    ends included, e.g. "0.8:1.2:0.04"); ValueError naming the text otherwise."""
    text = text.strip()
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if not (step > 0 and stop >= start and (stop - start) / step < MAX_WARPS):
                raise ValueError
            n = int(math.floor((stop - start) / step + 1e-9)) + 1
            return check_grid([round(start + k * step, 6) for k in range(n)])
        return check_grid([float(x) for x in text.split(",")])
    except ValueError as err:
        if str(err).startswith("warp ") or "grid" in str(err):
            raise
        raise ValueError(
            f"warps must be comma-separated numbers or start:stop:step, got {text!r}"
        ) from None


def group_keys(speakers: Sequence[str] | None, n: int, grouping: str = "speaker") -> list[str]:
    """The selection group of each of ``n`` utterances: its speaker (``grouping`` "speaker"
    and ``speakers`` given), else its own index."""
    if grouping not in GROUPINGS:
        raise ValueError(f"VTLN grouping must be one of {', '.join(GROUPINGS)}, got {grouping!r}")
    if grouping == "utterance" or speakers is None:
        return [str(i) for i in range(n)]
    if len(speakers) != n:
        raise ValueError(f"{len(speakers)} speakers for {n} utterances")
    return [str(s) for s in speakers]


def select_warps(
    energies: np.ndarray, frames: np.ndarray, groups: Sequence[str], warps: Sequence[float]
) -> Selection:
    """Each group's warp of least best-path energy per frame (see the module doc).

    Args:
        energies: float [U, W] best-path energy of utterance u at warp w (lower is better;
            inf: no path).
        frames: int [U] frames of each utterance's energies (the same at every warp).
        groups: [U] the group of each utterance.
        warps: [W] the grid.
    """
    warps = tuple(float(w) for w in warps)
    frames = np.asarray(frames, np.float64)
    counts = np.broadcast_to(frames[:, None], (len(frames), len(warps)))  # [U, W]
    return select_factors(energies, counts, groups, warps, "warps")


def select_factors(
    energies: np.ndarray,
    counts: np.ndarray,
    groups: Sequence[str],
    grid: tuple[float, ...],
    what: str,
) -> Selection:
    """Each group's factor of least summed energy over summed frame counts, the one rule of
    VTLN's warps and tempo's rates (``what``: "warps" or "rates", for the messages).
    ``energies``, ``counts`` float [U, F]; ``groups`` [U]; ``grid`` [F]. Ties go to the factor
    nearest 1, then the smaller; a group with no finite score keeps 1."""
    energies, shape = np.asarray(energies, np.float64), (len(groups), len(grid))
    if energies.shape != shape:
        raise ValueError(
            f"energies must be [utterances, {what}] = {list(shape)}, got {list(energies.shape)}"
        )
    if counts.shape != shape or not (counts > 0).all():
        raise ValueError(f"frames must be {list(shape)} positive counts, got {list(counts.shape)}")
    names = list(dict.fromkeys(groups))
    index = {g: k for k, g in enumerate(names)}
    member = np.array([index[g] for g in groups], np.int64)
    total = np.zeros((len(names), len(grid)))
    per = np.zeros_like(total)
    np.add.at(total, member, energies)
    np.add.at(per, member, counts)
    scores = total / np.maximum(per, 1e-300)
    order = sorted(range(len(grid)), key=lambda k: (abs(grid[k] - 1.0), grid[k]))
    chosen = {}
    for g, row in zip(names, scores, strict=True):
        finite = [k for k in order if np.isfinite(row[k])]
        chosen[g] = grid[min(finite, key=lambda k: row[k])] if finite else 1.0
    utterances = dict(zip(names, np.bincount(member, minlength=len(names)).tolist(), strict=True))
    return Selection(grid, names, scores, chosen, utterances)


def choose(
    recognizer,
    features_at: Callable[[float, Sequence[int]], Sequence[torch.Tensor]],
    groups: Sequence[str],
    warps: Sequence[float] = GRID,
    word_penalty: float | None = None,
    num_hypotheses: int = 0,
    lattice: bool = False,
) -> tuple[Selection, list]:
    """Decode every utterance at every warp and pick each group's warp (:func:`select_warps`).

    ``features_at(warp, which)``: the log-mel features [T_u, 40] of the utterances of indices
    ``which`` computed with that warp (and the recogniser's dither); ``groups`` [U];
    ``recognizer`` a :class:`.api.SpeechRecognizer` (its beam; ``word_penalty`` None: its
    own). Returns the selection and each utterance's recognition at its group's warp
    (``Recognition.warp``); ``num_hypotheses`` or ``lattice``: decoded again at the chosen
    warps with what was asked."""
    warps = check_grid(warps)
    energies, frames, decoded = np.zeros((len(groups), len(warps))), None, []
    for k, w in enumerate(warps):
        em = recognizer.energies(features_at(w, range(len(groups))), 32)
        decoded.append(recognizer.decode_energies(em, word_penalty=word_penalty))
        energies[:, k] = [r.energy for r in decoded[-1]]
        frames = np.array([e.shape[-2] for e in em])
    if not len(groups):
        return Selection(warps, [], np.zeros((0, len(warps))), {}, {}), []
    selection = select_warps(energies, frames, groups, warps)
    chosen = [decoded[warps.index(selection.chosen[g])][u] for u, g in enumerate(groups)]
    if num_hypotheses or lattice:
        for warp in sorted(set(selection.chosen.values())):
            mine = [u for u, g in enumerate(groups) if selection.chosen[g] == warp]
            again = recognizer.recognize_features(
                features_at(warp, mine), num_hypotheses, lattice, word_penalty=word_penalty
            )
            for u, r in zip(mine, again, strict=True):
                chosen[u] = r
    for u, g in enumerate(groups):
        chosen[u].warp = selection.chosen[g]
    return selection, chosen


def format_selection(selections: dict[str, Selection], what: str = "warp") -> str:
    """Markdown table: per selection (e.g. a test set and condition), its groups, the
    geometric mean and spread of the chosen factors (``what``: "warp" or "rate") and how many
    groups took each."""
    from .._common.report import markdown_table

    rows = []
    for name, s in selections.items():
        chosen = np.array([s.chosen[g] for g in s.groups])
        if chosen.size == 0:
            continue
        values, counts = np.unique(chosen, return_counts=True)
        spread = ", ".join(f"{v:.2f}×{c}" for v, c in zip(values, counts, strict=True))
        if len(s.groups) <= 4:
            spread = ", ".join(f"{g}: {s.chosen[g]:.2f}" for g in s.groups)
        logs = np.log(chosen)
        rows.append([name, len(s.groups), f"{np.exp(logs.mean()):.3f}", f"{logs.std():.3f}",
                     spread])  # fmt: skip
    return markdown_table(["set", "groups", f"geometric mean {what}", f"sd of log {what}",
                           f"chosen {what}s"], rows)  # fmt: skip
