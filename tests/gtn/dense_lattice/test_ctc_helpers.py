"""Everyday CTC helpers: greedy (best-path) decoding, the token transducer (k2's ctc_topo) and
the topology builders at top level, each against an independent reference."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import gtn

F64 = torch.float64


def collapse(frames, blank: int = 0) -> list[int]:
    """The CTC collapse by its definition: merge runs, then drop blanks."""
    return [k for k, _ in itertools.groupby(frames) if k != blank]


# ------------------------------------------------------------------ greedy decoding


@pytest.mark.parametrize("blank", [0, 2])
def test_greedy_decode_is_argmax_then_groupby(blank):
    torch.manual_seed(blank)
    B, T, V = 6, 9, 4
    logits = torch.randn(B, T, V)
    logits[:, ::3, blank] += 2.0  # plenty of blanks and repeats
    energies = -logits.log_softmax(-1)
    lengths = torch.tensor([9, 0, 1, 5, 9, 3])
    best = logits.argmax(-1)  # torch's argmax of the scores, not our argmin of energies
    expected = [collapse(best[b, : lengths[b]].tolist(), blank) for b in range(B)]
    assert gtn.ctc_greedy_decode(energies, lengths, blank=blank) == expected
    assert gtn.ctc_greedy_decode(energies[:1], blank=blank) == [collapse(best[0].tolist(), blank)]


def test_greedy_decode_merges_repeats_only_when_no_blank_separates_them():
    frames = [1, 1, 0, 1, 2, 2, 0, 0, 2]
    energies = torch.full((1, len(frames), 3), 5.0)
    energies[0, torch.arange(len(frames)), torch.tensor(frames)] = 0.0
    assert gtn.ctc_greedy_decode(energies) == [[1, 1, 2, 2]]


@pytest.mark.parametrize(
    ("emissions", "kwargs", "message"),
    [
        (torch.zeros(4, 3), {}, r"\[B, T, V\] tensor, got \[4, 3\]"),
        (torch.zeros(1, 4, 3, dtype=torch.long), {}, "floating point"),
        (torch.zeros(1, 4, 3), {"blank": 3}, r"blank = 3 is not a column"),
        (torch.zeros(2, 4, 3), {"lengths": [4, 5]}, r"lengths\[1\] = 5 is outside \[0, T=4\]"),
        (torch.zeros(2, 4, 3), {"lengths": [-1, 2]}, r"lengths\[0\] = -1"),
        (torch.zeros(2, 4, 3), {"lengths": [4]}, r"lengths must be 2 integers"),
        (torch.zeros(2, 4, 3).index_fill(1, torch.tensor([2]), math.nan), {}, r"\[0, 2\] has NaN"),
    ],
)
def test_greedy_decode_names_bad_input(emissions, kwargs, message):
    with pytest.raises(ValueError, match=message):
        gtn.ctc_greedy_decode(emissions, **kwargs)


def test_greedy_decode_ignores_nan_in_padding():
    energies = torch.zeros(1, 4, 3)
    energies[0, 3] = math.nan
    energies[0, :, 0] = 1.0
    assert gtn.ctc_greedy_decode(energies, [3]) == [[1]]


# ------------------------------------------------------------------ token transducer


@pytest.mark.parametrize("blank", [0, 1])
def test_transducer_reads_every_frame_sequence_as_its_collapse_on_one_path(blank):
    V = 3
    H = gtn.ctc_transducer(V, blank=blank)
    for T in range(5):
        for frames in itertools.product(range(V), repeat=T):
            read = gtn.compose(gtn.linear(list(frames)), H)
            # all energies are 0: free energy -log(#paths) is 0 exactly when there is one path
            assert gtn.free_energy(read).item() == pytest.approx(0.0, abs=1e-12), frames
            out = [k for k in gtn.best_path(read).olabel.tolist() if k != gtn.EPSILON]
            assert out == collapse(frames, blank), frames


def lexicon() -> gtn.Graph:
    """Tokens 1 ("a"), 2 ("b") to words 0 ("ab" = a b) and 1 ("b" = b), in a loop."""
    b = gtn.GraphBuilder()
    s, m = b.add_node(start=True, final=True), b.add_node()
    b.add_arc(s, m, 1, 0)
    b.add_arc(m, s, 2, gtn.EPSILON)
    b.add_arc(s, s, 2, 1)
    return b.build(F64)


def test_transducer_composed_with_a_lexicon_sums_the_alignments_of_the_words():
    torch.manual_seed(0)
    T, V = 5, 3
    energies = -torch.randn(T, V, dtype=F64).log_softmax(-1)
    words = [0, 1]  # "ab b": tokens a b b
    decoding = gtn.compose(gtn.ctc_transducer(V), lexicon())
    lattice = gtn.compose(gtn.compose(gtn.emission_graph(energies), decoding), gtn.linear(words))
    # brute force: every frame sequence whose collapse spells the words' tokens
    path_energies = [
        sum(energies[t, k].item() for t, k in enumerate(frames))
        for frames in itertools.product(range(V), repeat=T)
        if collapse(frames) == [1, 2, 2]
    ]
    assert gtn.free_energy(lattice).item() == pytest.approx(
        -math.log(sum(math.exp(-e) for e in path_energies)), rel=1e-10
    )
    assert gtn.min_energy(lattice).item() == pytest.approx(min(path_energies), rel=1e-10)
    ctc = torch.nn.functional.ctc_loss(
        -energies[:, None], torch.tensor([[1, 2, 2]]), [T], [3], reduction="sum"
    )
    assert gtn.free_energy(lattice).item() == pytest.approx(ctc.item(), rel=1e-10)


def test_transducer_is_k2_ctc_topo_size():
    H = gtn.ctc_transducer(4)  # k2.ctc_topo(max_token=3): 4 states, 16 arcs
    assert (H.num_nodes, H.num_arcs, len(H.final_nodes)) == (4, 16, 4)
    assert H.start_nodes.tolist() == [0]


# ------------------------------------------------------------------ topologies


@pytest.mark.parametrize("build", [gtn.ctc_topology, gtn.ctc_transducer])
def test_num_labels_counts_the_blank(build):
    with pytest.raises(gtn.GraphError, match=r"num_labels = 1: it counts the blank too"):
        build(1)
    with pytest.raises(gtn.GraphError, match="num_labels must be an int"):
        build(3.0)
    with pytest.raises(gtn.GraphError, match=r"blank 3 is outside \[0, 3\)"):
        build(3, blank=3)


def test_ctc_topology_of_v_columns_emits_the_last_label():
    topology = gtn.ctc_topology(3)  # blank 0, labels 1 and 2
    assert gtn.min_energy(gtn.intersect(gtn.linear([2, 0, 2]), topology)).item() == 0.0


def test_topology_builders_are_exported_at_top_level():
    for name in ("ctc_topology", "ctc_graphs", "hmm_topology", "hmm_graphs", "ctc_transducer"):
        assert getattr(gtn, name) is getattr(gtn.dense_lattice, name)
        assert name in gtn.__all__
    assert gtn.ctc_greedy_decode is gtn.dense_lattice.ctc_greedy_decode
