"""nbest against brute-force enumeration: energies in increasing order, distinct output
strings, and linear graphs connected to autograd."""

import math

import pytest
import torch
from hypothesis import given

import gtn
from gtn.shortest_paths import nbest
from tests.gtn import reference as ref
from tests.gtn.strategies import graphs


def energy_of(path: gtn.Graph) -> float:
    return float(path.weight.sum() + path.start_weight[0] + path.final_weight[-1])


def paths_of(g):
    return ref.enumerate_paths(g, max_arcs=max(g.num_nodes, 1))


@given(g=graphs(max_nodes=6, max_arcs=12))
def test_nbest_energies_are_the_lowest_enumerated_in_order(g):
    n = 5
    expected = sorted(p.energy for p in paths_of(g))[:n]
    assert [energy_of(p) for p in nbest(g, n)] == expected


@given(g=graphs(max_nodes=6, max_arcs=12))
def test_nbest_paths_are_real_distinct_paths_with_their_labels(g):
    enumerated = {(p.ilabels, p.olabels, p.energy) for p in paths_of(g)}
    found = nbest(g, 4)
    for p in found:
        labels = tuple(int(x) for x in p.ilabel if x != gtn.EPSILON)
        olabels = tuple(int(x) for x in p.olabel if x != gtn.EPSILON)
        assert (labels, olabels, energy_of(p)) in enumerated


@given(g=graphs(max_nodes=6, max_arcs=12, acceptor=False))
def test_distinct_nbest_gives_each_output_string_once_with_its_lowest_energy(g):
    n = 3
    best_per_string: dict = {}
    for p in paths_of(g):
        best_per_string[p.olabels] = min(p.energy, best_per_string.get(p.olabels, math.inf))
    found = nbest(g, n, distinct=True)
    strings = [tuple(int(x) for x in p.olabel if x != gtn.EPSILON) for p in found]
    assert len(set(strings)) == len(strings)
    assert [energy_of(p) for p in found] == sorted(best_per_string.values())[:n]
    for s, p in zip(strings, found, strict=True):
        assert energy_of(p) == best_per_string[s]


def test_distinct_nbest_skips_many_paths_sharing_a_string():
    # 2^6 paths spell "" (epsilon arcs) with energies 0..; one path spells [1] with energy 5.5
    b = gtn.GraphBuilder()
    states = [b.add_node(start=(i == 0), final=(i == 6)) for i in range(7)]
    for i in range(6):
        b.add_arc(states[i], states[i + 1], gtn.EPSILON, weight=0.0)
        b.add_arc(states[i], states[i + 1], gtn.EPSILON, weight=1.0)
    b.add_arc(states[0], states[6], 1, weight=5.5)
    found = nbest(b.build(), 2, distinct=True)
    assert [p.olabel.tolist() for p in found] == [[-1] * 6, [1]]
    assert [energy_of(p) for p in found] == [0.0, 5.5]


def test_nbest_on_a_batch_equals_one_by_one():
    rng = torch.Generator().manual_seed(0)
    batch = []
    for n in (3, 5, 4):
        src = [i for i in range(n - 1) for _ in range(2)]
        w = torch.randn(len(src), generator=rng, dtype=torch.float64)
        batch.append(gtn.Graph.from_arrays(n, src, [s + 1 for s in src], [0] * len(src), weight=w))
    together = nbest(batch, 3)
    for g, paths in zip(batch, together, strict=True):
        assert [energy_of(p) for p in paths] == [energy_of(p) for p in nbest(g, 3)]


def test_nbest_paths_are_connected_to_autograd():
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64, requires_grad=True)
    g = gtn.Graph.from_arrays(3, [0, 0, 1], [1, 1, 2], [0, 1, 2], weight=w)
    second = nbest(g, 2)[1]  # arcs 1 then 2
    (grad,) = torch.autograd.grad(second.weight.sum(), [w])
    assert grad.tolist() == [0.0, 1.0, 1.0]


def test_nbest_of_a_graph_without_paths_is_empty():
    g = gtn.Graph(2, [], [], [], None, None, [0.0, math.inf], [math.inf, 0.0])
    assert nbest(g, 3) == []
    assert nbest(g, 3, distinct=True) == []


def test_nbest_rejects_cycles():
    g = gtn.Graph.from_arrays(2, [0, 1], [1, 0], [0, 0])
    with pytest.raises(gtn.GraphError, match="nbest needs an acyclic graph"):
        nbest(g, 2)


@pytest.mark.parametrize(
    "n, message",
    [
        (2.5, "n must be an integer, got 2.5"),  # once silently 2
        ("3", "n must be an integer, got '3'"),
        (10**12, r"n = 1,000,000,000,000 paths per graph .* more than 1,000,000"),  # 14.6 TiB
    ],
)
def test_nbest_refuses_an_n_that_is_not_a_count_it_can_return(n, message):
    with pytest.raises(ValueError, match=message):
        nbest(gtn.linear([0]), n)


def test_nbest_refuses_more_path_buffers_than_its_cap(monkeypatch):
    # buffers hold n paths with room for every state of their graph
    monkeypatch.setattr(gtn._internal.paths, "MAX_PATH_SLOTS", 99)
    assert len(nbest(gtn.linear([0] * 9), 9)) == 1  # 10 states x 9 paths = 90 slots
    with pytest.raises(ValueError, match=r"n = 10 paths of graphs with 10 states .* more than 99"):
        nbest(gtn.linear([0] * 9), 10)
