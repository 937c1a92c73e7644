"""The Graph value: construction, validation messages, immutability, builder, symbols."""

import re

import numpy as np
import pytest
import torch

import gtn

INF = float("inf")


def two_arc_graph(**kw):
    b = gtn.GraphBuilder()
    s, m, t = b.add_node(start=True), b.add_node(), b.add_node(final=0.5)
    b.add_arc(s, m, 0, weight=1.0)
    b.add_arc(m, t, 1, 2, weight=-0.25)
    return b.build(**kw)


def test_builder_records_arcs_and_weights():
    g = two_arc_graph()
    assert list(g.arcs()) == [gtn.Arc(0, 0, 1, 0, 0, 1.0), gtn.Arc(1, 1, 2, 1, 2, -0.25)]
    assert g.start_nodes.tolist() == [0] and g.final_nodes.tolist() == [2]
    assert g.final_weight[2].item() == 0.5
    assert not g.is_acceptor()


def test_builder_requires_grad_and_dtype():
    g = two_arc_graph(dtype=torch.float64, requires_grad=True)
    assert g.weight.requires_grad and g.dtype == torch.float64


def test_graph_is_immutable():
    g = two_arc_graph()
    with pytest.raises(AttributeError, match="immutable"):
        g.num_nodes = 3


def test_from_arrays_defaults_to_acceptor_from_first_to_last_node():
    g = gtn.Graph.from_arrays(3, [0, 1], [1, 2], [4, 5], weight=[1.0, 2.0])
    assert g.is_acceptor()
    assert g.start_nodes.tolist() == [0] and g.final_nodes.tolist() == [2]
    assert g.num_labels() == 6


def test_from_arrays_keeps_autograd_of_start_weights():
    sw = torch.tensor([0.5], requires_grad=True)
    g = gtn.Graph.from_arrays(2, [0], [1], [0], start=[1], start_weight=sw)
    assert g.start_weight.requires_grad and g.start_weight[1].item() == 0.5


def test_from_arrays_takes_full_start_and_final_vectors_when_the_nodes_are_none():
    inf = float("inf")
    fw = torch.tensor([inf, 1.5, inf, 0.25], requires_grad=True)
    g = gtn.Graph.from_arrays(
        4,
        [0, 0, 1],
        [1, 3, 2],
        [0, 1, 2],
        start=None,
        final=None,
        start_weight=[0.0, inf, 2.0, inf],
        final_weight=fw,
    )
    assert g.start_nodes.tolist() == [0, 2] and g.final_nodes.tolist() == [1, 3]
    assert g.final_weight.requires_grad
    # paths 0-a0->1 (final 1.5) and 0-a1->3 (final 0.25); node 2 starts but reaches no final
    assert gtn.min_energy([g]).item() == 0.25
    # a scalar final_weight with final=None still weighs the default final node N-1
    h = gtn.Graph.from_arrays(2, [0], [1], [0], final_weight=3.0)
    assert h.final_nodes.tolist() == [1] and h.final_weight[1].item() == 3.0


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            dict(num_nodes=2, src=[0, 2], dst=[1, 1], ilabel=[0, 0]),
            "arc 1: src node 2 is out of range",
        ),
        (dict(num_nodes=2, src=[0], dst=[-1], ilabel=[0]), "arc 0: dst node -1 is out of range"),
        (dict(num_nodes=2, src=[0, 0], dst=[1, 1], ilabel=[0, -3]), "arc 1: ilabel -3 is negative"),
        (dict(num_nodes=2, src=[0], dst=[1], ilabel=[0], olabel=[-2]), "arc 0: olabel -2"),
        (dict(num_nodes=2, src=[0, 0], dst=[1], ilabel=[0, 0]), "dst has 1 entries but src has 2"),
        (dict(num_nodes=2, src=[[0]], dst=[[1]], ilabel=[[0]]), "src must be one-dimensional"),
        (
            dict(num_nodes=2, src=[0], dst=[1], ilabel=[0], weight=[1.0, 2.0]),
            r"weight must have shape \[1\]",
        ),
        (dict(num_nodes=2, src=[0], dst=[1], ilabel=[0.5]), "ilabel must hold integers"),
    ],
)
def test_validation_names_the_culprit(kwargs, message):
    with pytest.raises(gtn.GraphError, match=message):
        gtn.Graph.from_arrays(**kwargs)


@pytest.mark.parametrize(
    "num_nodes, message",
    [
        ("abc", "num_nodes must be an integer, got 'abc'"),
        (float("nan"), "num_nodes must be an integer, got nan"),
        (None, "num_nodes must be an integer, got None"),
        (2.7, "num_nodes must be an integer, got 2.7"),  # once silently 2
    ],
)
def test_num_nodes_must_be_an_integer(num_nodes, message):
    with pytest.raises(gtn.GraphError, match=re.escape(message)):
        gtn.Graph.from_arrays(num_nodes, [0], [0], [0])


def test_integral_num_nodes_of_any_integer_type_are_fine():
    for n in (2, np.int64(2), 2.0, np.array(2)):
        assert gtn.Graph.from_arrays(n, [0], [1], [0]).num_nodes == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(start=[0.7]), r"start must hold integers, but start\[0\] is 0.7"),  # once node 0
        (dict(start=[10**20]), r"start\[0\] = 100000000000000000000 is out of range"),
        (dict(final=["a"]), "final must hold integers"),
        (
            dict(num_nodes=3, start=[0, 1], start_weight=[1.0, 2.0, 3.0]),
            r"start_weight has shape \[3\]; give one energy or one per start node \(2\)",
        ),
        (dict(src=[[0], [0, 1]]), "src must be a flat sequence of integers, got a ragged one"),
        (dict(weight=["x"]), r"weight must be numbers \(energies\), got \['x'\]"),
        (dict(final_weight="x"), r"final_weight must be numbers"),
    ],
)
def test_from_arrays_names_the_argument_numpy_or_torch_would_not(kwargs, message):
    args = {"num_nodes": 2, "src": [0], "dst": [1], "ilabel": [0], **kwargs}
    with pytest.raises(gtn.GraphError, match=message):
        gtn.Graph.from_arrays(**args)


def test_nan_weight_is_rejected_with_its_arc():
    with pytest.raises(gtn.GraphError, match="arc 2: weight is nan"):
        gtn.Graph.from_arrays(2, [0, 0, 0], [1, 1, 1], [0, 1, 2], weight=[0.0, 1.0, float("nan")])


def test_minus_infinity_energy_is_rejected():
    with pytest.raises(gtn.GraphError, match="node 1: final_weight is -inf"):
        gtn.Graph(2, [0], [1], [0], None, None, [0.0, INF], [INF, -INF])


def test_missing_start_state_is_rejected():
    with pytest.raises(gtn.GraphError, match="no start state"):
        gtn.Graph(2, [0], [1], [0], None, None, [INF, INF], [INF, 0.0])


def test_builder_rejects_arc_to_missing_node():
    b = gtn.GraphBuilder()
    b.add_node(start=True)
    with pytest.raises(gtn.GraphError, match="arc 0: dst node 3 does not exist"):
        b.add_arc(0, 3, 0)


def test_builder_accepts_symbol_names():
    syms = gtn.SymbolTable(["a", "b"])
    b = gtn.GraphBuilder(isymbols=syms)
    s, t = b.add_node(start=True), b.add_node(final=True)
    b.add_arc(s, t, "b")
    g = b.build()
    assert g.ilabel.tolist() == [1] and g.isymbols is syms
    with pytest.raises(gtn.GraphError, match="'c' is not in the symbol table"):
        b.add_arc(s, t, "c")


def test_empty_graph_is_a_valid_value():
    g = gtn.Graph(0, [], [], [])
    assert g.num_nodes == 0 and g.num_arcs == 0 and g.start_nodes.size == 0


def test_with_weights_keeps_structure():
    g = two_arc_graph()
    h = g.with_weights(torch.tensor([3.0, 4.0]))
    assert np.array_equal(h.src, g.src) and h.weight.tolist() == [3.0, 4.0]
    with pytest.raises(gtn.GraphError, match=r"weight must have shape \[2\]"):
        g.with_weights(torch.zeros(3))


def test_symbol_table_round_trips_names_and_epsilon():
    t = gtn.SymbolTable(["zero", "one"])
    assert t.id("one") == 1 and t.name(0) == "zero" and t.name(gtn.EPSILON) == "<eps>"
    with pytest.raises(gtn.GraphError, match="label 1 already names 'one'"):
        t.add("uno", 1)


def test_semiring_plus():
    assert gtn.TROPICAL.plus(1.0, 2.0) == 1.0
    assert gtn.LOG.plus(1.0, 1.0) == pytest.approx(1.0 - np.log(2.0))
    assert gtn.log_semiring(2.0).plus(0.0, INF) == 0.0


def test_graph_pickles_and_deep_copies():
    import copy
    import pickle

    g = two_arc_graph(dtype=torch.float64)
    for h in (pickle.loads(pickle.dumps(g)), copy.deepcopy(g)):
        assert list(h.arcs()) == list(g.arcs()) and h.dtype == torch.float64
        assert torch.equal(h.final_weight, g.final_weight) and h.weight is not g.weight


def test_from_arrays_takes_symbol_tables_as_keywords_and_refuses_other_names():
    words = gtn.SymbolTable(["a", "b"])
    letters = gtn.SymbolTable(["x"])
    g = gtn.Graph.from_arrays(2, [0], [1], [1], [0], isymbols=words, osymbols=letters)
    assert g.isymbols is words and g.osymbols is letters
    with pytest.raises(TypeError, match="isymbol"):
        gtn.Graph.from_arrays(2, [0], [1], [1], isymbol=words)


def test_derived_graphs_keep_or_replace_symbols_and_refuse_mismatched_sizes():
    """Graph._derive, the constructor of every operation's output: fields not given are the
    input's (through the arc map for arcs), and arrays of the wrong size are an error."""
    words = gtn.SymbolTable(["a", "b"])
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    g = gtn.Graph.from_arrays(3, [0, 1], [1, 2], [0, 1], weight=w, isymbols=words)
    h = g._derive(
        arc_map=np.array([1, -1]), src=np.array([1, 0], np.int32), dst=g.dst, ilabel=g.ilabel
    )
    assert h.isymbols is words and h.weight.tolist() == [2.0, 0.0]
    h.weight.sum().backward()
    assert w.grad.tolist() == [0.0, 1.0]
    assert g._derive(isymbols=None).isymbols is None
    with pytest.raises(gtn.GraphError, match="start_weight has 3 entries for 2 nodes"):
        g._derive(num_nodes=2)
