"""The topology, lexicon and grammar graphs: numerators accept exactly the transcript's state
sequences, checked against brute-force enumeration and an independent regular expression."""

import itertools
import re

import numpy as np
import torch

import gtn
from apps.speech.graphs import Topology, word_segments

BIG = 1e4  # energy of a column a frame does not have: any path using it is rejected


def _accepted(graph, columns, T, V):
    """The column sequences of length T over ``columns`` that ``graph`` accepts (brute force:
    one-hot emissions per sequence, all sequences in one batch)."""
    seqs = np.array(list(itertools.product(columns, repeat=T)))
    em = torch.full((len(seqs), T, V), BIG, dtype=torch.float64)
    em.scatter_(2, torch.from_numpy(seqs)[..., None], 0.0)
    energy = gtn.intersect_dense(graph, em).min_energy()
    return {tuple(s) for s, e in zip(seqs.tolist(), energy.tolist(), strict=True) if e < 1.0}


def _matching(pattern, columns, T):
    char = {c: chr(ord("a") + i) for i, c in enumerate(columns)}
    rx = re.compile(pattern(char))
    return {
        s for s in itertools.product(columns, repeat=T) if rx.fullmatch("".join(char[c] for c in s))
    }


def test_hmm_numerator_accepts_exactly_the_transcripts_state_sequences():
    top = Topology("hmm", states_per_word=2)
    two, four = [1 + 3 * 2, 2 + 3 * 2], [1 + 5 * 2, 2 + 5 * 2]  # columns of word ids 3 and 5
    columns = [0, *two, *four]  # silence, the transcript's word and a distractor

    def pattern(c):
        word = f"{c[two[0]]}+{c[two[1]]}+"
        sil = f"{c[0]}*"
        return sil + word + sil + word + sil  # "two two" (word 3 twice) with optional silences

    for T in (4, 5, 6):
        want = _matching(pattern, columns, T)
        got = _accepted(top.numerator([3, 3]), columns, T, top.num_columns)
        assert got == want and len(want) > 0


def test_ctc_numerator_needs_a_blank_between_repeats():
    top = Topology("ctc")
    a, b = 1 + 7, 1 + 2  # columns of words 7 and 2
    columns = [0, a, b]

    def pattern(c):
        return f"{c[0]}*{c[a]}+{c[0]}+{c[a]}+{c[0]}*{c[b]}+{c[0]}*"  # words 7 7 2: "six six one"

    for T in (5, 6):
        want = _matching(pattern, columns, T)
        assert _accepted(top.numerator([7, 7, 2]), columns, T, top.num_columns) == want


def test_ctc_numerator_equals_gtn_ctc_graph():
    top = Topology("ctc")
    em = -torch.log_softmax(torch.randn(2, 9, top.num_columns, dtype=torch.float64), -1)
    words = [[7, 7, 2], [4]]
    ours = gtn.intersect_dense(top.numerators(words), em).free_energy()
    ref = gtn.ctc_loss(em, torch.tensor([8, 8, 3, 5]), [9, 9], [3, 1], reduction="none")
    torch.testing.assert_close(ours, ref)


def test_denominator_accepts_every_digit_string():
    top = Topology("hmm", states_per_word=1)
    columns = [0, 1 + 3, 1 + 5]

    def pattern(c):
        return f"[{c[0]}{c[1 + 3]}{c[1 + 5]}]*"  # with one state per word: any sequence

    want = _matching(pattern, columns, 4)
    assert _accepted(top.denominator, columns, 4, top.num_columns) == want


def test_decoding_graph_outputs_the_words_of_the_path():
    top = Topology("hmm", states_per_word=2)
    seq = [0, 7, 7, 8, 0, 7, 8, 8, 11, 12]  # sil, two, sil, two, four (word ids 3, 3, 5)
    em = torch.full((len(seq), top.num_columns), BIG, dtype=torch.float64)
    em[torch.arange(len(seq)), seq] = 0.0
    best = gtn.best_path(gtn.compose(gtn.emission_graph(em), top.decoding_graph))
    assert [int(x) for x in best.olabel if x != gtn.EPSILON] == [3, 3, 5]


def test_word_segments_from_an_alignment():
    top = Topology("hmm", states_per_word=2)
    alignment = np.array([0, 7, 7, 8, 0, 0, 7, 8, 11, 12, 12, 0])
    starts, ends = word_segments(alignment, np.array([1, 6, 8]), top)
    assert starts.tolist() == [1, 6, 8] and ends.tolist() == [4, 8, 11]


def test_beam_search_on_the_decoding_graph_gives_words_and_their_first_frames():
    import decoders

    top = Topology("hmm", states_per_word=2)
    seq = [0, 7, 7, 8, 0, 7, 8, 8, 11, 12]  # sil, two, sil, two, four (word ids 3, 3, 5)
    em = torch.full((len(seq), top.num_columns), BIG, dtype=torch.float64)
    em[torch.arange(len(seq)), seq] = 0.0
    r = decoders.decode(em, top.decoding_graph)
    assert r.output == (3, 3, 5) and r.best.words == ("two", "two", "four")
    assert r.output_frames.tolist() == [1, 5, 8] and r.alignment.tolist() == seq
