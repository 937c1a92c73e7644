"""gtn.layout / gtn.drawing.layered_svg: the pure-Python drawing used without Graphviz. Read
back as XML: one state group per state and one arc group per arc with the DOT text's labels,
every arc of an acyclic graph pointing right, and states never on top of each other."""

from __future__ import annotations

import re
import warnings
import xml.etree.ElementTree as ET

import torch
from hypothesis import given

import gtn
from gtn.drawing import layered_svg, to_dot

from .strategies import graphs
from .test_drawing import edges, example

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str):
    """(centre and number of circles of each state, [(src, dst, label)] of the arcs)."""
    root = ET.fromstring(svg)
    assert root.tag == SVG + "svg"
    states, arcs = {}, []
    for group in root.iter(SVG + "g"):
        if group.get("class") == "state":
            circles = group.findall(SVG + "circle")
            centre = (float(circles[0].get("cx")), float(circles[0].get("cy")))
            states[int(group.get("data-state"))] = (centre, len(circles))
        elif group.get("class") == "arc":
            label = group.find(SVG + "text").text or ""
            arcs.append((group.get("data-src"), group.get("data-dst"), label))
    return states, arcs


def test_states_and_arcs_carry_the_dot_texts_labels():
    svg = layered_svg(example(), title='a <"title">')
    states, arcs = parse(svg)
    assert sorted(states) == [0, 1, 2]
    assert [n for _, n in states.values()] == [1, 1, 2]  # the final state has a double circle
    assert arcs == [e for e in edges(to_dot(example())) if not e[0].startswith("__")]
    assert '&lt;"title"&gt;' in svg


@given(graphs(acceptor=False, acyclic=False, max_nodes=6, max_arcs=12))
def test_any_graph_draws_each_state_once_at_its_own_place_inside_the_view(g):
    states, arcs = parse(layered_svg(g))
    assert len(states) == g.num_nodes and len(arcs) == g.num_arcs
    centres = [c for c, _ in states.values()]
    assert len(set(centres)) == len(centres)
    x0, y0, w, h = map(float, ET.fromstring(layered_svg(g)).get("viewBox").split())
    for x, y in centres:
        assert x0 < x < x0 + w and y0 < y < y0 + h
    numbers = re.findall(r"-?\d+\.?\d*", layered_svg(g))
    assert all(abs(float(v)) < 1e6 for v in numbers)  # nothing drawn at infinity or NaN


@given(graphs(acyclic=True, max_nodes=7, max_arcs=14))
def test_on_an_acyclic_graph_every_arc_points_right(g):
    states, arcs = parse(layered_svg(g))
    for src, dst, _ in arcs:
        assert states[int(src)][0][0] < states[int(dst)][0][0]


def test_a_lattice_is_laid_out_as_a_chain_of_columns():
    states, _ = parse(layered_svg(gtn.emission_graph(torch.zeros(4, 3))))
    xs = [states[v][0][0] for v in range(5)]
    ys = {states[v][0][1] for v in range(5)}
    assert xs == sorted(xs) and len(set(xs)) == 5 and len(ys) == 1


def test_parallel_arcs_can_be_drawn_as_one_arc_with_every_label():
    b = gtn.GraphBuilder(isymbols=gtn.SymbolTable(["a", "b", "c"]))
    s, t = b.add_node(start=True), b.add_node(final=True)
    for label, w in (("a", 0.0), ("b", 1.5), ("c", 0.0)):
        b.add_arc(s, t, label, weight=w)
    b.add_arc(t, t, "a")
    _, arcs = parse(layered_svg(b.build(), merge_parallel=True))
    assert arcs == [("0", "1", "a,b/1.5,c"), ("1", "1", "a")]
    assert len(parse(layered_svg(b.build()))[1]) == 4


def test_graphs_too_big_to_look_at_are_not_drawn():
    g = gtn.emission_graph(torch.zeros(10, 30))
    assert layered_svg(g, max_arcs=100) is None
    assert layered_svg(g, max_arcs=None).startswith("<svg")


def test_without_graphviz_notebooks_show_the_layered_drawing_silently(no_dot):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = example()._repr_svg_()
    assert svg == layered_svg(example())
