"""linear, emission_graph and complement against their definitions."""

import itertools

import pytest
import torch

import gtn
from gtn.constructors import complement, complement_set, emission_graph, linear

from .reference import enumerate_paths


def test_linear_accepts_exactly_its_sequence():
    g = linear([2, 0, 2], weights=torch.tensor([1.0, 2.0, 3.0]))
    paths = enumerate_paths(g)
    assert [(p.ilabels, p.energy) for p in paths] == [((2, 0, 2), 6.0)]


def test_linear_transducer_and_empty_sequence():
    g = linear([0, 1], olabels=[5, gtn.EPSILON])
    assert [(p.ilabels, p.olabels) for p in enumerate_paths(g)] == [((0, 1), (5,))]
    e = linear([])
    assert [(p.ilabels, p.energy) for p in enumerate_paths(e)] == [((), 0.0)]


def test_linear_rejects_mismatched_olabels():
    with pytest.raises(gtn.GraphError, match="olabels has 1 labels but labels has 2"):
        linear([0, 1], olabels=[0])


def test_dense_paths_are_all_label_sequences_with_summed_energies():
    em = torch.arange(6, dtype=torch.float64).reshape(3, 2)
    g = emission_graph(em)
    got = {p.ilabels: p.energy for p in enumerate_paths(g)}
    want = {
        seq: float(sum(em[t, v] for t, v in enumerate(seq)))
        for seq in itertools.product(range(2), repeat=3)
    }
    assert got == want


def test_dense_is_differentiable_in_emissions():
    em = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    g = emission_graph(em)
    (g.weight * torch.arange(12.0, dtype=torch.float64)).sum().backward()
    assert torch.equal(em.grad, torch.arange(12.0, dtype=torch.float64).reshape(3, 4))


def test_dense_rejects_wrong_rank():
    with pytest.raises(
        gtn.GraphError, match=r"emissions must have shape \[T, V\], got \[2, 3, 4\]"
    ):
        emission_graph(torch.zeros(2, 3, 4))


@pytest.mark.parametrize("excluded", [[], [0], [1, 0], [0, 0, 1]])
def test_complement_accepts_every_other_sequence(excluded):
    g = complement(excluded, 2)
    accepted = {p.ilabels for p in enumerate_paths(g, max_arcs=4)}
    every = {s for n in range(5) for s in itertools.product(range(2), repeat=n)}
    assert accepted == every - {tuple(excluded)}


def test_complement_is_deterministic():
    g = complement([1, 2], [0, 1, 2])
    pairs = list(zip(g.src.tolist(), g.ilabel.tolist(), strict=True))
    assert len(pairs) == len(set(pairs))


def test_complement_rejects_label_outside_alphabet():
    with pytest.raises(gtn.GraphError, match="label 3 is not in the alphabet"):
        complement([3], 2)


@pytest.mark.parametrize(
    "excluded", [[], [()], [(0, 1), ()], [(0,), (0, 1), (1, 1, 0)], [(1,), (1,)]]
)
def test_complement_set_accepts_every_sequence_but_the_excluded(excluded):
    g = complement_set(excluded, [0, 1])
    accepted = {p.ilabels for p in enumerate_paths(g, max_arcs=4)}
    every = {s for n in range(5) for s in itertools.product(range(2), repeat=n)}
    assert accepted == every - set(map(tuple, excluded))


def test_complement_set_of_one_sequence_is_the_complement():
    a, b = complement_set([[2, 0]], 3), complement([2, 0], 3)
    for name in ("src", "dst", "ilabel"):
        assert getattr(a, name).tolist() == getattr(b, name).tolist()


def test_complement_set_names_the_sequence_with_a_foreign_label():
    with pytest.raises(gtn.GraphError, match=r"sequences\[1\] label 5 is not in the alphabet"):
        complement_set([[0], [1, 5]], 2)


@pytest.mark.parametrize(
    "labels, message",
    [
        ([1.7, 0.2], r"labels must hold integers, but labels\[0\] is 1.7"),  # once labels 1, 0
        ([float("nan")], r"labels must hold integers, but labels\[0\] is nan"),
        (["a"], "labels must hold integers, got dtype <U1"),
        ([[0], [0, 1]], "labels must be a flat sequence of integers, got a ragged one"),
    ],
)
def test_linear_refuses_labels_that_are_not_integers(labels, message):
    with pytest.raises(gtn.GraphError, match=message):
        linear(labels)


def test_linear_takes_integral_floats_as_labels():
    assert linear([1.0, 0.0]).ilabel.tolist() == [1, 0]


def test_a_complement_too_large_to_allocate_is_refused_before_it_is_built():
    # 2**31 - 1 labels once asked for 16 GiB before anything was checked
    with pytest.raises(gtn.GraphError, match=r"4,294,967,294 arcs, more than max_arcs=50,000,000"):
        complement_set([[0]], 2**31 - 1)
    # states: "", "0", "0 1" and the sink, each with an arc per label
    with pytest.raises(gtn.GraphError, match=r"4 states with an arc per label make 40 arcs"):
        complement([0, 1], 10, max_arcs=39)
    assert complement([0, 1], 10, max_arcs=40).num_arcs == 40
