"""gtn.nx: conversion to and from networkx.MultiDiGraph."""

from __future__ import annotations

import math

import networkx
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import gtn
from gtn.nx import from_networkx, to_networkx

from . import reference
from .strategies import graphs

INF = math.inf


def assert_identical(a: gtn.Graph, b: gtn.Graph) -> None:
    assert a.num_nodes == b.num_nodes and a.dtype == b.dtype
    for name in ("src", "dst", "ilabel", "olabel"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    for name in ("weight", "start_weight", "final_weight"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert a.isymbols == b.isymbols and a.osymbols == b.osymbols


@given(
    st.one_of(graphs(acceptor=True, acyclic=False), graphs(acceptor=False, acyclic=False)),
    st.sampled_from([torch.float32, torch.float64]),
)
def test_from_networkx_inverts_to_networkx(g, dtype):
    g = g.to(dtype)
    assert_identical(from_networkx(to_networkx(g)), g)


def test_nodes_and_edges_carry_the_documented_attributes():
    words = gtn.SymbolTable(["a", "b"])
    g = gtn.Graph.from_arrays(
        3,
        [0, 0, 1],
        [1, 1, 2],
        [0, 1, gtn.EPSILON],
        [1, 1, 0],
        weight=[0.5, 2.0, -1.0],
        start=[0],
        start_weight=0.25,
        final=[2],
        final_weight=1.5,
        isymbols=words,
    ).to(torch.float64)
    G = to_networkx(g)
    assert isinstance(G, networkx.MultiDiGraph)
    assert G.graph == {"dtype": "float64", "isymbols": words, "osymbols": None}
    assert dict(G.nodes(data=True)) == {
        0: {"start_weight": 0.25, "final_weight": INF},
        1: {"start_weight": INF, "final_weight": INF},
        2: {"start_weight": INF, "final_weight": 1.5},
    }
    assert list(G.edges(keys=True, data=True)) == [
        (0, 1, 0, {"ilabel": 0, "olabel": 1, "weight": 0.5, "index": 0}),
        (0, 1, 1, {"ilabel": 1, "olabel": 1, "weight": 2.0, "index": 1}),
        (1, 2, 2, {"ilabel": gtn.EPSILON, "olabel": 0, "weight": -1.0, "index": 2}),
    ]


@given(graphs(max_nodes=6, max_arcs=10, epsilon=True))
def test_networkx_shortest_path_agrees_with_brute_force_min_energy(g):
    # Non-negative energies so that Dijkstra applies; the attributes must mean what they say.
    g = g.with_weights(g.weight.abs(), g.start_weight.abs(), g.final_weight.abs())
    G = to_networkx(g)
    best = INF
    for s, sw in enumerate(g.start_weight.tolist()):
        if sw == INF:
            continue
        dist = networkx.single_source_dijkstra_path_length(G, s, weight="weight")
        for f, d in dist.items():
            best = min(best, sw + d + G.nodes[f]["final_weight"])
    assert best == reference.min_energy(reference.enumerate_paths(g, max_arcs=g.num_nodes))


def test_hand_made_networkx_graphs_use_defaults_and_any_node_names():
    G = networkx.MultiDiGraph()
    G.add_node("begin", start_weight=0.0)
    G.add_node("end", final_weight=0.0)
    G.add_edge("begin", "end", ilabel=2)
    G.add_edge("begin", "end", ilabel=0, olabel=1, weight=3.0)
    g = from_networkx(G, dtype=torch.float64)
    assert g.num_nodes == 2
    assert [tuple(a) for a in g.arcs()] == [(0, 0, 1, 2, 2, 0.0), (1, 0, 1, 0, 1, 3.0)]
    assert g.start_nodes.tolist() == [0] and g.final_nodes.tolist() == [1]


def test_a_simple_digraph_is_accepted_too():
    G = networkx.DiGraph()
    G.add_node(0, start_weight=0.0)
    G.add_node(1, final_weight=0.5)
    G.add_edge(0, 1, ilabel=4, weight=1.0)
    g = from_networkx(G)
    assert (g.num_arcs, g.ilabel.tolist(), g.final_weight[1].item()) == (1, [4], 0.5)


def test_a_missing_label_names_the_edge():
    G = networkx.MultiDiGraph()
    G.add_node(0, start_weight=0.0)
    G.add_edge(0, 1, ilabel=0)
    G.add_edge(0, 1, olabel=3, weight=1.0)
    with pytest.raises(gtn.GraphError, match=r"edge \(0, 1, 1\): missing attribute 'ilabel'"):
        from_networkx(G)


@pytest.mark.parametrize(
    ("attrs", "problem"),
    [
        ({"ilabel": "a"}, r"edge \(0, 1, 0\): attribute 'ilabel' must be an integer label"),
        ({"ilabel": 1, "olabel": 1.5}, r"edge \(0, 1, 0\): attribute 'olabel' must be an integer"),
        (
            {"ilabel": 1, "weight": "heavy"},
            r"edge \(0, 1, 0\): attribute 'weight' must be a number",
        ),
        ({"ilabel": -3}, r"arc 0: ilabel -3 is negative"),
    ],
)
def test_bad_edge_attributes_name_the_edge(attrs, problem):
    G = networkx.MultiDiGraph()
    G.add_node(0, start_weight=0.0)
    G.add_edge(0, 1, **attrs)
    with pytest.raises(gtn.GraphError, match=problem):
        from_networkx(G)


def test_a_graph_without_start_weights_says_which_attribute_is_missing():
    G = networkx.MultiDiGraph()
    G.add_edge(0, 1, ilabel=0)
    with pytest.raises(gtn.GraphError, match="no start state.*'start_weight'"):
        from_networkx(G)


def test_import_gtn_leaves_networkx_unimported():
    from tests.fresh_interpreter import run_python

    # networkx takes a noticeable share of a first call's import time; gtn.nx imports it on use
    out = run_python("import sys, gtn; print('networkx' in sys.modules)")
    assert out.stdout.split() == ["False"], out.stderr
