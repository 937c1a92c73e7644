"""A corpus's log-mel features under acoustic conditions (noise, telephone band, dither,
training augmentation): what training, tuning and evaluation all read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from . import augment, features, noise
from .augment import Augmentation
from .corpus import Corpus


@dataclass
class PreparedSet:
    """Features of a corpus under one acoustic condition (or a mix, for training).

    features: float32 [T_i, 40] per utterance; words: word-id tuples; word_starts: seconds;
    conditions: the condition of each utterance."""

    features: list[torch.Tensor]
    words: list[tuple[int, ...]]
    word_starts: list[np.ndarray]
    conditions: list[str]

    def __len__(self) -> int:
        return len(self.features)


def prepare(
    corpus: Corpus,
    conditions: tuple[str, ...] = ("clean",),
    seed: int = 0,
    telephone: float = 0.0,
    progress: bool = False,
    dither: float = 0.0,
    augmentation: Augmentation = augment.NONE,
    copies: int = 1,
) -> PreparedSet:
    """Log-mel features of every utterance; utterance i gets ``conditions[i % len]`` (noise
    drawn from a generator seeded by (seed, i)) and the telephone band with probability
    ``telephone``; ``dither``: see :func:`.features.add_dither` (after noise and band).

    ``augmentation`` (training only): the waveform ingredients of
    :func:`.augment.augment_waveform` before the condition's noise (babble from the corpus's
    other utterances) and a VTLP warp of the filterbank, drawn from a generator seeded by
    (seed, i, 1 + copy); ``copies`` > 1 prepares each utterance that many times with fresh
    draws (copy k at condition ``conditions[(i + k) % len]``)."""
    if copies < 1:
        raise ValueError(f"copies must be >= 1, got {copies}")
    feats, conds, words, starts = [], [], [], []
    others = [u.audio for u in corpus.utterances] if augmentation.uses("babble") else []
    for i, u in enumerate(
        tqdm(corpus.utterances, desc=f"features {corpus.split}", disable=not progress, leave=False)
    ):
        for k in range(copies):
            rng = np.random.default_rng([seed, i] if k == 0 else [seed, i, 0, k])
            cond = conditions[(i + k) % len(conditions)]
            phone = bool(rng.random() < telephone)
            x, speed, lead, warp = u.audio, 1.0, 0.0, 1.0
            if augmentation.on:
                arng = np.random.default_rng([seed, i, 1 + k])
                warp = augment.draw_warp(augmentation, arng)
                x, speed, lead = augment.augment_waveform(
                    u.audio / 32768.0, augmentation, arng, others
                )
            feats.append(features.log_mel(noise.apply(x, cond, rng, phone), dither, warp))
            conds.append(cond)
            words.append(u.words)
            starts.append(np.asarray(u.word_starts) / speed + lead)
    return PreparedSet(feats, words, starts, conds)


def prepare_conditions(
    corpus: Corpus, conditions, seed: int, dither: float = 0.0, progress: bool = False
) -> dict[str, PreparedSet]:
    """Features of ``corpus`` under each condition alone (condition -> set; noise seeded by
    ``seed``, no telephone band, no augmentation): what tuning and evaluation read."""
    return {c: prepare(corpus, (c,), seed, 0.0, progress, dither) for c in conditions}


def condition_waveform(audio: np.ndarray, condition: str, seed: int, index: int) -> np.ndarray:
    """The float64 waveform (full scale 1) whose features ``prepare(corpus, (condition,),
    seed)`` computes for utterance ``index`` when there is no telephone band and no
    augmentation: for scoring another recogniser on exactly the same audio."""
    rng = np.random.default_rng([seed, index])
    rng.random()  # prepare's telephone draw, made whatever the probability
    return noise.apply(audio, condition, rng, False)
