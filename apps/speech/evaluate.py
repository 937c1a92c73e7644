"""Word error rate and sentence error rate of recognised word strings against transcripts.

WER = (substitutions + deletions + insertions) / reference words, from the Levenshtein
alignment of word lists; SER = fraction of utterances not recognised exactly.

:func:`score_texts` scores a hypothesis ``text`` file against a reference one as Kaldi's
``compute-wer`` does (``%WER ... [ errors / words, I ins, D del, S sub ]``, ``%SER``), with a
breakdown by speaker; an utterance of the reference without a hypothesis is scored as all
deletions and reported.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import astuple, dataclass

import numpy as np

from .._common.metrics import edit_distance
from .._common.report import markdown_table


class _Rates:
    """WER = errors / words and SER = wrong / utterances, for any dataclass with those counts;
    ``+`` sums the counts."""

    def __add__(self, other):
        return type(self)(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    @property
    def wer(self) -> float:
        return self.errors / max(self.words, 1)

    @property
    def ser(self) -> float:
        return self.wrong / max(self.utterances, 1)


@dataclass
class Score(_Rates):
    """errors / words = WER; wrong / utterances = SER."""

    errors: int
    words: int
    wrong: int
    utterances: int


def score(refs: Sequence[Sequence[str]], hyps: Sequence[Sequence[str]]) -> Score:
    """Score hypotheses against references (lists of words, one per utterance)."""
    dist = [edit_distance(r, h) for r, h in zip(refs, hyps, strict=True)]
    return Score(sum(dist), sum(len(r) for r in refs), sum(d > 0 for d in dist), len(refs))


def format_table(rows: dict[str, dict[str, Score]]) -> str:
    """Markdown table: one row per system, WER and SER (%) per condition."""
    conditions = list(next(iter(rows.values())).keys()) if rows else []
    head = ["system", *(f"{c} {rate}" for c in conditions for rate in ("WER", "SER"))]
    cells = [
        [name, *(f"{x:.2%}" for c in conditions for x in (s[c].wer, s[c].ser))]
        for name, s in rows.items()
    ]
    return markdown_table(head, cells)


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
        if list(r) == list(w) and np.isfinite(t).all()  # NaN: no true times (data directories)
    ]
    return np.concatenate(pairs) if pairs else np.zeros(0)


@dataclass
class WordErrors(_Rates):
    """Counts of a Levenshtein alignment (unit costs) summed over utterances:
    ``words`` in the references; ``correct``, ``substitutions``, ``insertions``,
    ``deletions``; ``utterances`` and how many were ``wrong`` (not recognised exactly)."""

    words: int = 0
    correct: int = 0
    substitutions: int = 0
    insertions: int = 0
    deletions: int = 0
    utterances: int = 0
    wrong: int = 0

    @property
    def errors(self) -> int:
        return self.substitutions + self.insertions + self.deletions


def word_errors(ref: Sequence, hyp: Sequence) -> WordErrors:
    """The alignment counts of one utterance. Among alignments of least cost, the one with the
    most substitutions wins (then deletions), so counts are deterministic.

    >>> e = word_errors("one two three".split(), "one too three four".split())
    >>> e.correct, e.substitutions, e.insertions, e.deletions, e.wrong
    (2, 1, 1, 0, 1)
    """
    n, m = len(ref), len(hyp)
    cost = np.zeros((n + 1, m + 1), np.int64)  # cost[i, j]: ref[:i] against hyp[:j]
    cost[:, 0] = np.arange(n + 1)
    cost[0, :] = np.arange(m + 1)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost[i, j] = min(cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]),
                             cost[i - 1, j] + 1, cost[i, j - 1] + 1)  # fmt: skip
    counts = dict(correct=0, substitutions=0, insertions=0, deletions=0)
    i, j = n, m
    while i or j:
        if i and j and cost[i, j] == cost[i - 1, j - 1] + (ref[i - 1] != hyp[j - 1]):
            counts["correct" if ref[i - 1] == hyp[j - 1] else "substitutions"] += 1
            i, j = i - 1, j - 1
        elif i and cost[i, j] == cost[i - 1, j] + 1:
            counts["deletions"] += 1
            i -= 1
        else:
            counts["insertions"] += 1
            j -= 1
    return WordErrors(n, **counts, utterances=1, wrong=int(list(ref) != list(hyp)))


@dataclass
class Scoring:
    """A hypothesis file scored against a reference: ``total``; ``by_speaker`` (speaker ->
    counts); ``missing``: reference utterances without a hypothesis (scored as deletions)."""

    total: WordErrors
    by_speaker: dict[str, WordErrors]
    missing: list[str]


def score_texts(
    refs: dict[str, Sequence[str]],
    hyps: dict[str, Sequence[str]],
    utt2spk: dict[str, str] | None = None,
    hyp_lines: dict[str, str] | None = None,
) -> Scoring:
    """Score hypotheses against references, both utterance id -> words (``kaldi.read_text``).

    ``utt2spk``: utterance -> speaker for the breakdown (None: one speaker per utterance is
    not useful, so every utterance goes under "all"). ``hyp_lines``: utterance -> "file:line"
    of each hypothesis, for errors.

    Raises:
        ValueError: a hypothesis for an utterance that has no reference (naming its line), or
            a reference utterance missing from ``utt2spk``.
    """
    for u in hyps:
        if u not in refs:
            where = (hyp_lines or {}).get(u, "hypotheses")
            raise ValueError(f"{where}: utterance {u} has no reference transcript")
    total, by_speaker, missing = WordErrors(), {}, []
    for u in sorted(refs):
        if u not in hyps:
            missing.append(u)
        e = word_errors(refs[u], hyps.get(u, ()))
        if utt2spk is not None and u not in utt2spk:
            raise ValueError(f"utterance {u} of the reference has no speaker in utt2spk")
        spk = utt2spk[u] if utt2spk is not None else "all"
        by_speaker[spk] = by_speaker.get(spk, WordErrors()) + e
        total = total + e
    return Scoring(total, by_speaker, missing)


def format_scoring(s: Scoring) -> str:
    """Kaldi ``compute-wer``'s lines, then a markdown table by speaker (percentages of each
    speaker's reference words, and of its utterances for SER)."""
    t = s.total
    lines = [
        f"%WER {100 * t.wer:.2f} [ {t.errors} / {t.words}, {t.insertions} ins, "
        f"{t.deletions} del, {t.substitutions} sub ]",
        f"%SER {100 * t.ser:.2f} [ {t.wrong} / {t.utterances} ]",
        f"Scored {t.utterances} sentences, {len(s.missing)} not present in hyp.",
    ]
    if s.missing:
        shown = " ".join(s.missing[:10]) + (" ..." if len(s.missing) > 10 else "")
        lines.append(f"Missing hypotheses (scored as deletions): {shown}")
    head = ["speaker", "utterances", "words", "corr", "sub", "ins", "del", "WER", "SER"]
    rows = []
    for spk, e in sorted(s.by_speaker.items()) + [("**all**", t)]:
        pct = [100 * x / max(e.words, 1) for x in
               (e.correct, e.substitutions, e.insertions, e.deletions)]  # fmt: skip
        rows.append([spk, e.utterances, e.words, *(f"{p:.1f}" for p in pct),
                     f"{100 * e.wer:.2f}", f"{100 * e.ser:.2f}"])  # fmt: skip
    lines += ["", markdown_table(head, rows)]
    return "\n".join(lines)
