"""Tuning the word-insertion penalty on a development set from *training* speakers.

The development set is new utterances (a seed distinct from the training corpus's) spoken by
training speakers only, never a held-out test speaker (asserted). Each condition (clean,
20 dB, 10 dB) gets its own noise draw. The acoustic model runs once per condition; the
energies are decoded at every penalty of the grid, and the penalty with the lowest mean WER
over the conditions wins (ties: the smaller penalty).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from . import corpus, evaluate
from .api import SpeechRecognizer
from .corpus import WORDS, CorpusSettings
from .data import PreparedSet

GRID = (0.0, 1.0, 2.0, 3.0, 5.0, 8.0, 12.0)
DEV_SEED_OFFSET = 7919  # dev corpus seed = training seed + this (a different utterance plan)
DEV_NOISE_OFFSET = 2000  # noise seed offset of the dev conditions (test sets use + 1000)


def dev_corpus(
    n: int,
    seed: int = 0,
    settings: CorpusSettings = corpus.DEFAULT_SETTINGS,
    cache_dir=None,
    workers: int = 2,
    progress: bool = False,
) -> corpus.Corpus:
    """``n`` new utterances of training speakers (seed ``seed + DEV_SEED_OFFSET``)."""
    dev = corpus.load_or_generate(
        "train", n, seed + DEV_SEED_OFFSET, settings, cache_dir, workers, progress
    )
    held_out = dev.speakers & set(corpus.speakers("test"))
    assert not held_out, f"dev set holds test speakers: {sorted(held_out)[:5]}"
    return dev


def sweep(
    recognizer: SpeechRecognizer,
    sets: dict[str, PreparedSet],
    grid: Sequence[float] = GRID,
) -> dict[float, dict[str, evaluate.Score]]:
    """Score of each penalty of ``grid`` at each condition."""
    rows: dict[float, dict[str, evaluate.Score]] = {float(p): {} for p in grid}
    for cond, data in sets.items():
        energies = recognizer.energies(data.features, 32)
        refs = [[WORDS[w] for w in ws] for ws in data.words]
        for p in rows:
            hyps = recognizer.decode_energies(energies, word_penalty=p)
            rows[p][cond] = evaluate.score(refs, [h.words for h in hyps])
    return rows


def mean_wer(cells: dict[str, evaluate.Score]) -> float:
    return float(np.mean([s.wer for s in cells.values()]))


def best_penalty(rows: dict[float, dict[str, evaluate.Score]]) -> float:
    """The penalty with the lowest mean WER over conditions (the smaller one on ties)."""
    return min(rows, key=lambda p: (round(mean_wer(rows[p]), 12), p))


def format_sweep(rows: dict[float, dict[str, evaluate.Score]]) -> str:
    """Markdown table: one row per penalty, WER / SER per condition and the mean WER."""
    table = evaluate.format_table({f"penalty {p:g}": cells for p, cells in rows.items()})
    lines = table.split("\n")
    lines[0] += " mean WER |"
    lines[1] += "---:|"
    for i, cells in enumerate(rows.values(), start=2):
        lines[i] += f" {mean_wer(cells):.2%} |"
    return "\n".join(lines)
