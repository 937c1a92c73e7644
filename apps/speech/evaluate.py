"""Word error rate and sentence error rate of recognised word strings against transcripts.

WER = (substitutions + deletions + insertions) / reference words, from the Levenshtein
alignment of word lists; SER = fraction of utterances not recognised exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance between two sequences (unit costs)."""
    row = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref, start=1):
        prev, row = row, np.empty_like(row)
        row[0] = i
        for j, h in enumerate(hyp, start=1):
            row[j] = min(prev[j] + 1, row[j - 1] + 1, prev[j - 1] + (r != h))
    return int(row[-1])


@dataclass
class Score:
    """errors / words = WER; wrong / utterances = SER."""

    errors: int
    words: int
    wrong: int
    utterances: int

    @property
    def wer(self) -> float:
        return self.errors / max(self.words, 1)

    @property
    def ser(self) -> float:
        return self.wrong / max(self.utterances, 1)


def score(refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]]) -> Score:
    """Score hypotheses against references (lists of words, one per utterance)."""
    if len(refs) != len(hyps):
        raise ValueError(f"{len(refs)} references but {len(hyps)} hypotheses")
    dist = [edit_distance(r, h) for r, h in zip(refs, hyps, strict=True)]
    return Score(sum(dist), sum(len(r) for r in refs), sum(d > 0 for d in dist), len(refs))


def format_table(rows: dict[str, dict[str, Score]]) -> str:
    """Markdown table: one row per system, WER and SER (%) per condition."""
    conditions = list(next(iter(rows.values())).keys()) if rows else []
    head = "| system | " + " | ".join(f"{c} WER | {c} SER" for c in conditions) + " |"
    rule = "|---|" + "---:|---:|" * len(conditions)
    lines = [head, rule]
    for name, cells in rows.items():
        vals = " | ".join(f"{cells[c].wer:.2%} | {cells[c].ser:.2%}" for c in conditions)
        lines.append(f"| {name} | {vals} |")
    return "\n".join(lines)


def start_offsets(
    refs: Sequence[Sequence[str]],
    hyps: Sequence[Sequence[str]],
    hyp_starts: Sequence[np.ndarray],
    true_starts: Sequence[np.ndarray],
) -> np.ndarray:
    """Decoded minus true word start times (seconds), over the utterances recognised exactly
    (their words pair up one to one); float [number of such words]."""
    pairs = [
        np.asarray(h, np.float64) - np.asarray(t, np.float64)
        for r, w, h, t in zip(refs, hyps, hyp_starts, true_starts, strict=True)
        if list(r) == list(w)
    ]
    return np.concatenate(pairs) if pairs else np.zeros(0)
