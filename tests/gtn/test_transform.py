"""project, invert, arc_sort, top_sort, connect."""

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import gtn
from gtn.transform import arc_sort, connect, invert, project, top_sort

from .reference import enumerate_paths, label_multiset
from .strategies import graphs

INF = float("inf")


@given(graphs(acceptor=False))
def test_project_and_invert_relabel_paths(g):
    paths = enumerate_paths(g)
    assert {(p.ilabels, p.ilabels) for p in paths} == {
        (p.ilabels, p.olabels) for p in enumerate_paths(project(g))
    }
    assert {(p.olabels, p.olabels) for p in paths} == {
        (p.ilabels, p.olabels) for p in enumerate_paths(project(g, "output"))
    }
    assert {(p.olabels, p.ilabels) for p in paths} == {
        (p.ilabels, p.olabels) for p in enumerate_paths(invert(g))
    }


@given(graphs(acceptor=False, acyclic=False))
def test_arc_sort_orders_arcs_and_keeps_paths(g):
    s = arc_sort(g, by="olabel")
    keys = list(zip(s.src.tolist(), s.olabel.tolist(), strict=True))
    assert keys == sorted(keys)
    assert label_multiset(enumerate_paths(s, 6)) == label_multiset(enumerate_paths(g, 6))


@given(graphs(acceptor=False))
def test_top_sort_makes_arcs_go_forward(g):
    s = top_sort(g)
    assert np.all(s.src < s.dst)
    assert label_multiset(enumerate_paths(s)) == label_multiset(enumerate_paths(g))


def test_top_sort_rejects_a_cycle_naming_a_node():
    g = gtn.Graph.from_arrays(3, [0, 1, 2], [1, 2, 1], [0, 0, 0])
    with pytest.raises(
        gtn.GraphError, match="top_sort needs an acyclic graph.*cycle through node [12]"
    ):
        top_sort(g)


@given(graphs(acceptor=False, acyclic=False, max_nodes=6))
def test_connect_keeps_paths_and_only_useful_states(g):
    c = connect(g)
    assert label_multiset(enumerate_paths(c, 6)) == label_multiset(enumerate_paths(g, 6))
    # every state lies on a start -> final path
    paths = enumerate_paths(c, 2 * c.num_nodes + 2)
    on_path = set()
    for p in paths:
        for a in p.arcs:
            on_path.update((int(c.src[a]), int(c.dst[a])))
    on_path.update(int(s) for s in c.start_nodes if np.isfinite(c.final_weight[s].item()))
    assert on_path == set(range(c.num_nodes))


def test_connect_of_a_graph_without_complete_path_is_empty():
    g = gtn.Graph(3, [0, 1], [1, 2], [0, 0], None, None, [0.0, INF, INF], [INF, INF, INF])
    c = connect(g)
    assert c.num_nodes == 0 and c.num_arcs == 0


def test_connect_drops_infinite_arcs():
    g = gtn.Graph.from_arrays(3, [0, 1, 0], [1, 2, 2], [0, 1, 2], weight=[0.0, INF, 1.0])
    c = connect(g)
    assert c.num_nodes == 2 and c.ilabel.tolist() == [2]


def test_connect_batch_equals_one_by_one():
    a = gtn.Graph.from_arrays(4, [0, 1, 0], [1, 3, 2], [0, 1, 2])
    b = gtn.Graph.from_arrays(2, [0], [1], [5])
    batch = connect([a, b, a])
    for got, g in zip(batch, [a, b, a], strict=True):
        want = connect(g)
        assert np.array_equal(got.src, want.src) and np.array_equal(got.ilabel, want.ilabel)


def test_connect_and_top_sort_carry_gradients():
    w = torch.tensor([1.0, 2.0, 3.0, 4.0], dtype=torch.float64, requires_grad=True)
    g = gtn.Graph.from_arrays(4, [2, 0, 1, 0], [3, 2, 3, 1], [0, 1, 2, 3], weight=w, final=[3])
    out = top_sort(connect(g))
    (out.weight * torch.arange(1.0, 5.0, dtype=torch.float64)).sum().backward()
    # each input arc's gradient is the coefficient of the output arc it became
    expected = torch.zeros(4, dtype=torch.float64)
    for k, label in enumerate(out.ilabel.tolist()):
        expected[label] = k + 1.0
    assert torch.equal(w.grad, expected)


@given(graphs(acceptor=False, acyclic=False, max_nodes=7, max_arcs=14))
def test_connect_keeps_the_same_states_and_arcs_as_openfst(g):
    import kaldifst

    from .openfst_oracle import from_openfst, to_openfst

    sw = torch.full_like(g.start_weight, INF)
    sw[int(g.start_nodes[0])] = 0.0
    g = g.with_weights(start_weight=sw)  # OpenFst's form: one start state, energy 0
    fst = to_openfst(g)
    kaldifst.connect(fst)
    theirs = from_openfst(fst)
    ours = connect(g)
    assert (ours.num_nodes, ours.num_arcs) == (theirs.num_nodes, theirs.num_arcs)
    assert sorted(ours.weight.tolist()) == sorted(theirs.weight.tolist())


def test_cycle_error_names_a_node_on_the_cycle_not_downstream_of_it():
    # 0 -> 1 -> 2 -> 1 is the cycle; 3 hangs off it and is not on it.
    g = gtn.Graph.from_arrays(4, [0, 1, 2, 2], [1, 2, 1, 3], [0, 0, 0, 0])
    with pytest.raises(gtn.GraphError, match="cycle through node [12]$"):
        top_sort(g)


@pytest.mark.parametrize(
    "call, where",
    [
        (lambda x: gtn.project(x), "project"),
        (lambda x: gtn.connect(x), "connect"),
        (lambda x: gtn.closure(x), "closure"),
        (lambda x: gtn.union(x), "union"),
        (lambda x: gtn.remove_epsilon(x), "remove_epsilon"),
        (lambda x: gtn.compose(x, x), "compose: a"),
    ],
)
def test_operations_name_themselves_when_given_a_non_graph(call, where):
    """One normalisation of "a graph or a list of graphs" for every operation: a wrong item is
    a GraphError naming the operation, the argument and the index."""
    with pytest.raises(gtn.GraphError, match=rf"^{where}\[1\] is a str, not a gtn.Graph$"):
        call([gtn.Graph.from_arrays(1, [], [], []), "x"])
    with pytest.raises(gtn.GraphError, match=rf"^{where} is a int, not a gtn.Graph or a list"):
        call(3)


@given(st.lists(graphs(acyclic=False, max_nodes=6), min_size=1, max_size=4))
def test_is_acyclic_agrees_with_networkx_one_graph_or_a_batch(gs):
    def reference(g):
        arcs = nx.MultiDiGraph()
        arcs.add_nodes_from(range(g.num_nodes))
        arcs.add_edges_from(zip(g.src.tolist(), g.dst.tolist(), strict=True))
        return nx.is_directed_acyclic_graph(arcs)

    want = [reference(g) for g in gs]
    assert gtn.is_acyclic(gs) == want
    assert [gtn.is_acyclic(g) for g in gs] == want


def test_is_acyclic_names_a_wrong_item():
    with pytest.raises(gtn.GraphError, match=r"is_acyclic\[1\] is a int"):
        gtn.is_acyclic([gtn.linear([1]), 3])
