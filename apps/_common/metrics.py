"""Scores the apps share. The Levenshtein edit distance is the field's error count for strings
of symbols: character errors of a check amount, word errors of an utterance."""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["edit_distance"]


def edit_distance(ref: Sequence, hyp: Sequence) -> int:
    """Levenshtein distance (unit costs for substitution, insertion, deletion) between two
    sequences of comparable items: strings, word lists.

    >>> edit_distance("$12.50", "$12.5"), edit_distance("one two".split(), ["two"])
    (1, 1)
    """
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, start=1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, start=1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1]
