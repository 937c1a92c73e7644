"""Which candidate segments are characters: labels for local training and for checking the
segmenter, from the renderer's ownership map (never available at reading time).

A segment is character k when it holds >= 80% of k's ink, k makes >= 80% of the segment's
character ink and it holds <= 20% of any other character's ink; it is rubbish when its best
character has < 50% of its ink in the segment or makes < 60% of the segment's ink, or when it
holds >= 50% of a second character; otherwise it is ambiguous (label -1, left out of training).
The share of *each* character's own ink matters, not just pixel counts: a "." or "," has a
tenth of a digit's ink, so "0." passes the purity test yet must never be taught as "0" (that
made the reader drop every period and comma).
"""

from __future__ import annotations

import numpy as np

from .amounts import ALPHABET, RUBBISH
from .segment import Segmentation


def segment_truth(seg: Segmentation, owner: np.ndarray, text: str) -> tuple[np.ndarray, np.ndarray]:
    """(labels int64 [S]: 0..13, RUBBISH or -1; char int64 [S]: matched character index or -1)."""
    n, S = len(text), seg.num_segments
    if S == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    H, W = owner.shape
    mine = owner[None] == np.arange(n)[:, None, None]  # [n, H, W]
    cum = np.concatenate([np.zeros((n, H, 1), np.int32), np.cumsum(mine, 2, dtype=np.int32)], 2)
    rows = np.arange(H)[None, :]
    right = np.clip(seg.paths[seg.end], 0, W)  # [S, H] each segment's sides in every row
    left = np.clip(seg.paths[seg.start], 0, W)
    inside = (cum[:, rows, right] - cum[:, rows, left]).sum(2).astype(np.int64)  # [n, S]
    total = np.maximum(mine.sum((1, 2)), 1)[:, None]
    best = inside.argmax(0)
    cols = np.arange(S)
    held = inside[best, cols] / total[best, 0]
    purity = inside[best, cols] / np.maximum(inside.sum(0), 1)
    classes = np.array([ALPHABET.index(c) for c in text])
    shares = inside / total  # [n, S] share of each character's ink inside each segment
    others = np.where(np.arange(n)[:, None] == best[None], 0.0, shares).max(0, initial=0.0)
    is_char = (held >= 0.8) & (purity >= 0.8) & (others <= 0.2)
    is_rubbish = (held < 0.5) | (purity < 0.6) | (others >= 0.5)
    labels = np.where(is_char, classes[best], np.where(is_rubbish, RUBBISH, -1))
    return labels.astype(np.int64), np.where(is_char, best, -1).astype(np.int64)


def true_path(seg: Segmentation, char: np.ndarray, length: int) -> list[int] | None:
    """Segment indices of a path from the first cut to the last whose segments are the
    characters 0..length-1 in order, or None when the cuts do not allow one."""
    n = seg.cuts.shape[0]
    # paths[(cut, k)]: a path reaching ``cut`` having matched characters 0..k-1
    paths: dict[tuple[int, int], list[int]] = {(0, 0): []}
    for c in range(n):
        for k in range(length):
            if (c, k) not in paths:
                continue
            for s in np.flatnonzero((seg.start == c) & (char == k)):
                paths.setdefault((int(seg.end[s]), k + 1), [*paths[(c, k)], int(s)])
    return paths.get((n - 1, length))
