"""The recogniser's graphs: topology, lexicon and digit-loop grammar as ``gtn`` graphs.

Two topologies map emission columns to words:

- "hmm": every word is ``states_per_word`` left-to-right states with self-loops (columns
  1 + w * n .. 1 + w * n + n - 1) and one silence state (column 0) may sit before, between and
  after words;
- "ctc": column 0 is the blank, column 1 + w is word w (one label per word, repeats collapse).

The *decoding graph* (lexicon o grammar) is a transducer from columns to words: a digit loop,
where the arc entering a word's first state outputs the word. It is state-labelled: the arc
into state s carries column s - 1, so a path consumes one column per frame. Its projection on
the input side is the MMI *denominator*; the *numerator* of a transcript is the decoding graph
composed with the transcript and projected, i.e. every state sequence that spells exactly the
transcript (with optional silences). All arc energies are 0; the emissions
carry the scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

import gtn
from gtn.dense_lattice.batch import GraphBatch

from .corpus import WORDS
from .features import check_nonnegative

NUM_WORDS = len(WORDS)
WORD_SYMBOLS = gtn.SymbolTable(WORDS)


@dataclass(frozen=True)
class Topology:
    """``kind`` "hmm" (``states_per_word`` states per word plus silence) or "ctc"."""

    kind: str = "hmm"
    states_per_word: int = 4

    def __post_init__(self):
        if self.kind not in ("hmm", "ctc"):
            raise ValueError(f"topology must be 'hmm' or 'ctc', got {self.kind!r}")
        if self.states_per_word < 1:
            raise ValueError(f"states_per_word must be >= 1, got {self.states_per_word}")

    @property
    def num_columns(self) -> int:
        """V: emission columns the acoustic model must produce."""
        n = self.states_per_word if self.kind == "hmm" else 1
        return 1 + NUM_WORDS * n

    def word_of_column(self) -> np.ndarray:
        """int64 [V]: the word each column belongs to (-1 for silence / blank)."""
        n = self.states_per_word if self.kind == "hmm" else 1
        return np.concatenate([[-1], np.repeat(np.arange(NUM_WORDS), n)]).astype(np.int64)

    @cached_property
    def decoding_graph(self) -> gtn.Graph:
        """Lexicon o grammar: columns -> words (see the module docstring); float64 energies 0."""
        return (
            hmm_decoding_graph(self.states_per_word) if self.kind == "hmm" else ctc_decoding_graph()
        )

    @cached_property
    def denominator(self) -> gtn.Graph:
        """The acceptor of every column sequence the grammar allows (input projection)."""
        return gtn.project(self.decoding_graph, "input")

    def numerator(self, words) -> gtn.Graph:
        """The acceptor of every column sequence that spells exactly ``words`` (word ids)."""
        transcript = gtn.linear(
            [int(w) for w in words], isymbols=WORD_SYMBOLS, osymbols=WORD_SYMBOLS
        )
        return gtn.project(gtn.compose(self.decoding_graph, transcript), "input")

    def numerators(self, transcripts) -> GraphBatch:
        """:meth:`numerator` of each transcript, batched for dense intersection."""
        return GraphBatch.from_graphs([self.numerator(t) for t in transcripts])


def _graph(num_states: int, src, dst, olabel, final) -> gtn.Graph:
    src, dst = np.asarray(src, np.int64), np.asarray(dst, np.int64)
    return gtn.Graph.from_arrays(
        num_states,
        src,
        dst,
        dst - 1,  # state-labelled: entering state s consumes column s - 1
        np.asarray(olabel, np.int64),
        torch.zeros(src.shape[0], dtype=torch.float64),
        start=[0],
        final=np.asarray(final, np.int64),
        osymbols=WORD_SYMBOLS,
    )


def hmm_decoding_graph(states_per_word: int) -> gtn.Graph:
    """Digit loop over word HMMs with optional silence. States: 0 initial, 1 silence,
    2 + w * n + j word w's state j. Final: every word's last state and silence."""
    n, eps = states_per_word, gtn.EPSILON
    word_state = 2 + np.arange(NUM_WORDS * n).reshape(NUM_WORDS, n)
    first, last = word_state[:, 0], word_state[:, -1]
    every = np.arange(1, 2 + NUM_WORDS * n)
    inner = word_state[:, 1:].reshape(-1)
    boundary = np.concatenate([[0, 1], last])  # states a new word (or silence) may follow
    src = [every, inner - 1, np.repeat(boundary, NUM_WORDS), np.delete(boundary, 1)]
    dst = [every, inner, np.tile(first, boundary.shape[0]), np.ones(boundary.shape[0] - 1)]
    out = [
        np.full(every.shape[0], eps),
        np.full(inner.shape[0], eps),
        np.tile(np.arange(NUM_WORDS), boundary.shape[0]),
        np.full(boundary.shape[0] - 1, eps),
    ]
    return _graph(
        2 + NUM_WORDS * n, np.concatenate(src), np.concatenate(dst), np.concatenate(out),
        np.concatenate([[1], last]),
    )  # fmt: skip


def ctc_decoding_graph() -> gtn.Graph:
    """CTC digit loop: states 0 initial, 1 blank, 2 + w word w; every state enters every
    non-initial one. Entering a word state from another state outputs the word; its self-loop
    repeats it (collapsed); a repeated word needs a blank between."""
    n = NUM_WORDS + 2
    dst, src = np.divmod(np.arange(n, n * n), n)
    out = np.where((dst >= 2) & (src != dst), dst - 2, gtn.EPSILON)
    return _graph(n, src, dst, out, np.arange(1, n))


def check_penalty(value) -> float:
    """A word penalty as a float; ValueError unless it is a finite energy >= 0."""
    return check_nonnegative(value, "word_penalty", "energy")


def with_word_penalty(graph: gtn.Graph, penalty: float) -> gtn.Graph:
    """A copy of ``graph`` whose every arc that outputs a word costs ``penalty`` more energy
    (lower is better): each decoded word pays ``penalty``, so a positive value discourages
    inserted words. For decoding only (the copy carries no gradient)."""
    weight = graph.weight.detach().clone()
    weight[torch.from_numpy(np.asarray(graph.olabel) != gtn.EPSILON)] += check_penalty(penalty)
    return graph.detach().with_weights(weight)


def word_segments(alignment: np.ndarray, output_frames: np.ndarray, topology: Topology):
    """(start, end) frame of each decoded word: it starts at the frame its output is emitted
    and ends after the last frame, before the next word starts, whose column belongs to it.

    alignment: int64 [T] columns of the best path; output_frames: int64 [W]. Returns two int64
    arrays [W] (end exclusive)."""
    owner = topology.word_of_column()[np.asarray(alignment, np.int64)]
    starts = np.asarray(output_frames, np.int64)
    bounds = np.append(starts[1:], owner.shape[0])[: starts.shape[0]]
    ends = np.empty_like(starts)
    for i, (a, b) in enumerate(zip(starts, bounds, strict=True)):
        same = owner[a : max(b, a + 1)] == owner[a]  # the run from the start is the word's
        ends[i] = a + (same.size if same.all() else int(same.argmin()))
    return starts, ends
