"""gtn.drawing: DOT text structure, file output, and rendering with (or clearly without)
Graphviz."""

from __future__ import annotations

import re
import shutil
import warnings
import xml.etree.ElementTree as ET

import pytest
import torch
from hypothesis import given

import gtn
from gtn.drawing import GraphvizError, GraphvizNotFoundError, draw, to_dot, to_svg

from .strategies import graphs


def svg_line_count(svg: str) -> int:
    root = ET.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    (desc,) = root
    return int(desc.text.split()[0])


def example() -> gtn.Graph:
    """0 -a:x/0.5-> 1 -<eps>:y-> 2 (final 1.25), start 0; also a second start 1 with weight 2."""
    isym, osym = gtn.SymbolTable(["a", "b"]), gtn.SymbolTable(["x", "y"])
    b = gtn.GraphBuilder(isym, osym)
    s = b.add_node(start=True)
    m = b.add_node(start=2.0)
    f = b.add_node(final=1.25)
    b.add_arc(s, m, "a", "x", weight=0.5)
    b.add_arc(m, f, gtn.EPSILON, "y")
    return b.build(torch.float64)


def edges(dot: str) -> list[tuple[str, str, str]]:
    return re.findall(r'^\s*(\S+) -> (\S+) \[label = "(.*)"\];$', dot, flags=re.M)


def nodes(dot: str) -> dict[str, str]:
    return dict(re.findall(r"^\s*(\d+) \[(.*)\];$", dot, flags=re.M))


def test_dot_draws_left_to_right_with_named_transducer_arcs():
    dot = to_dot(example())
    assert dot.startswith("digraph FST {") and dot.rstrip().endswith("}")
    assert "rankdir = LR;" in dot
    assert [e for e in edges(dot) if not e[0].startswith("__")] == [
        ("0", "1", "a:x/0.5"),
        ("1", "2", "<eps>:y"),
    ]


def test_dot_marks_start_and_final_states_with_their_weights():
    dot = to_dot(example())
    assert nodes(dot) == {
        "0": 'label = "0", style = bold',
        "1": 'label = "1", style = bold',
        "2": 'label = "2/1.25", shape = doublecircle',
    }
    assert [e for e in edges(dot) if e[0].startswith("__")] == [
        ("__start0", "0", ""),
        ("__start1", "1", "/2"),
    ]


def test_hiding_weights_and_adding_a_title():
    dot = to_dot(example(), show_weights=False, title='my "graph"')
    assert {label for *_, label in edges(dot)} == {"a:x", "<eps>:y", ""}
    assert nodes(dot)["2"] == 'label = "2", shape = doublecircle'
    assert 'label = "my \\"graph\\"";' in dot


def test_acceptors_without_tables_show_label_numbers_and_epsilon():
    g = gtn.Graph.from_arrays(
        3, [0, 1, 0], [1, 2, 2], [3, gtn.EPSILON, 0], weight=[-0.125, 1e-7, 0]
    )
    assert edges(to_dot(g))[1:] == [("0", "1", "3/-0.125"), ("1", "2", "ε/1e-07"), ("0", "2", "0")]


def test_tables_given_as_arguments_win_and_output_falls_back_to_input():
    g = gtn.Graph.from_arrays(2, [0], [1], [1], [0], weight=[100.0 / 3])
    table = gtn.SymbolTable(["zero", "one"])
    assert edges(to_dot(g, isymbols=table))[1:] == [("0", "1", "one:zero/33.33")]


@given(graphs(acceptor=False, acyclic=False))
def test_every_arc_and_every_start_state_has_one_edge(g):
    dot = to_dot(g)
    assert len(edges(dot)) == g.num_arcs + len(g.start_nodes)
    assert len(nodes(dot)) == g.num_nodes
    assert dot.count("doublecircle") == len(g.final_nodes)


def test_draw_writes_dot_text(tmp_path):
    for name in ("g.dot", "g.gv"):
        assert draw(example(), tmp_path / name, title="t").read_text() == to_dot(
            example(), title="t"
        )


def test_draw_rejects_unknown_extensions(tmp_path):
    with pytest.raises(ValueError, match=r"unknown extension '\.jpeg'.*\.svg"):
        draw(example(), tmp_path / "g.jpeg")
    assert list(tmp_path.iterdir()) == []


def test_without_graphviz_rendering_fails_in_one_line_after_writing_the_dot_text(tmp_path, no_dot):
    with pytest.raises(GraphvizNotFoundError, match=r"`dot` program is not installed") as info:
        draw(example(), tmp_path / "g.png")
    message = str(info.value)
    assert "\n" not in message and "install Graphviz: apt-get install graphviz" in message
    assert str(tmp_path / "g.dot") in message
    assert (tmp_path / "g.dot").read_text() == to_dot(example())
    assert not (tmp_path / "g.png").exists()


def test_graphviz_errors_are_gtn_errors_reachable_by_name():
    assert issubclass(gtn.GraphvizNotFoundError, gtn.GraphvizError)
    assert issubclass(gtn.GraphvizError, gtn.GtnError)
    assert issubclass(gtn.GraphError, gtn.GtnError) and issubclass(gtn.FormatError, gtn.GtnError)
    assert gtn.GraphvizNotFoundError is GraphvizNotFoundError


def test_without_graphviz_to_svg_gives_none(no_dot):
    assert to_svg(example()) is None


def test_dot_text_needs_no_graphviz(tmp_path, no_dot):
    assert draw(example(), tmp_path / "g.dot").read_text() == to_dot(example())


def test_with_dot_svg_files_are_rendered_from_the_dot_text(tmp_path, fake_dot):
    path = draw(example(), tmp_path / "g.svg")
    assert svg_line_count(path.read_text()) == len(to_dot(example()).splitlines())
    assert not (tmp_path / "g.dot").exists()


def test_with_dot_notebooks_show_svg_without_warning(fake_dot):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = example()._repr_svg_()
    assert svg_line_count(svg) == len(to_dot(example()).splitlines())
    assert to_svg(example(), title="t") is not None


def test_a_failing_dot_is_a_one_line_graphviz_error(tmp_path, fake_dot):
    with pytest.raises(GraphvizError, match=r"exit status 1\): fake dot: format -Tpng") as info:
        draw(example(), tmp_path / "g.png")
    assert "\n" not in str(info.value)
    assert not isinstance(info.value, GraphvizNotFoundError)
    assert not (tmp_path / "g.png").exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz's dot is not installed")
@pytest.mark.parametrize(
    ("suffix", "magic"), [(".svg", b"<?xml"), (".png", b"\x89PNG"), (".pdf", b"%PDF")]
)
def test_with_real_graphviz_every_format_is_rendered(tmp_path, suffix, magic):
    assert draw(example(), tmp_path / f"g{suffix}").read_bytes().startswith(magic)


def test_to_svg_declines_graphs_too_big_to_look_at():
    g = gtn.Graph.from_arrays(2, [0, 0, 0], [1, 1, 1], [0, 1, 2])
    assert to_svg(g, max_arcs=2) is None
