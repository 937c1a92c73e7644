"""Drawing graphs: DOT text (no dependency), SVG/PNG/PDF through Graphviz's ``dot`` program
when it is installed, and SVG from a pure-Python layered layout (:func:`layered_svg`) when it
is not. Graphviz is optional: without ``dot``, rendering files raises
:class:`GraphvizNotFoundError`, whose one-line message says how to install it, and notebooks
show the pure-Python drawing.

Conventions, as in OpenFst's ``fstdraw``: left-to-right layout; start states are bold with an
incoming arrow (labelled with the start weight when it is not 0); final states are double
circles labelled ``state/final_weight``; arcs are labelled ``in:out/weight`` (acceptors
``label/weight``). Zero weights are left out, so a bare label means energy 0. Labels are symbol
names when tables are given (or attached to the graph), else our label numbers with ``ε`` for
epsilon.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from . import layout
from ._internal.atomic import atomic_write
from .graph import EPSILON, INF, Graph, GtnError
from .symbols import SymbolTable

_RENDERED_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
_DOT_SUFFIXES = (".dot", ".gv")
INSTALL_HINT = (
    "install Graphviz: apt-get install graphviz (macOS: brew install graphviz;"
    " conda: conda install graphviz)"
)


class GraphvizError(GtnError, RuntimeError):
    """Graphviz's ``dot`` program failed to render a drawing (or took too long)."""


class GraphvizNotFoundError(GraphvizError):
    """Graphviz's ``dot`` program is needed to render a drawing but is not on the PATH. The
    message is one line and ends with how to install it; DOT text needs no Graphviz."""


def find_dot() -> str | None:
    """The path of Graphviz's ``dot`` program on the PATH, or None (the one place that looks;
    tests replace it to hide ``dot``)."""
    return shutil.which("dot")


def _weight_text(w: float) -> str:
    """Compact: at most 4 significant digits, no trailing zeros, no negative zero."""
    if w == INF:
        return "inf"
    text = f"{w:.4g}"
    return "0" if text == "-0" else text


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _namer(table: SymbolTable | None):
    if table is None:
        return lambda label: "ε" if label == EPSILON else str(label)
    return table.name


def _drawing(
    g: Graph,
    isymbols: SymbolTable | None,
    osymbols: SymbolTable | None,
    show_weights: bool,
    title: str | None,
) -> layout.Drawing:
    """The labels of a drawing of ``g``, shared by the DOT text and the pure-Python layout."""
    isymbols = isymbols if isymbols is not None else g.isymbols
    osymbols = osymbols if osymbols is not None else (g.osymbols or isymbols)
    in_name, out_name = _namer(isymbols), _namer(osymbols)
    # Acceptor arcs show one label, unless different tables would name its two sides apart.
    acceptor = g.is_acceptor() and (osymbols is isymbols or osymbols == isymbols)
    start = g.start_weight.detach().cpu().double().tolist()
    final = g.final_weight.detach().cpu().double().tolist()

    def with_weight(text: str, w: float) -> str:
        return f"{text}/{_weight_text(w)}" if show_weights and w != 0.0 else text

    nodes = [
        with_weight(str(n), final[n]) if final[n] != INF else str(n) for n in range(len(final))
    ]
    starts = {n: with_weight("", w) for n, w in enumerate(start) if w != INF}
    finals = {n for n, w in enumerate(final) if w != INF}
    arcs = []
    for arc in g.arcs():
        text = in_name(arc.ilabel)
        if not acceptor:
            text += ":" + out_name(arc.olabel)
        arcs.append((arc.src, arc.dst, with_weight(text, arc.weight)))
    return layout.Drawing(nodes, starts, finals, arcs, title)


def to_dot(
    g: Graph,
    isymbols: SymbolTable | None = None,
    osymbols: SymbolTable | None = None,
    show_weights: bool = True,
    title: str | None = None,
) -> str:
    """The DOT text of a drawing of ``g`` (see the module docstring for the conventions).

    Args:
        isymbols, osymbols: name labels with these tables (default: the graph's own;
            ``osymbols`` falls back to ``isymbols``).
        show_weights: label arcs, start and final states with their (non-zero) energies.
        title: a caption above the drawing.

    >>> g = Graph.from_arrays(2, [0], [1], [0], weight=[0.5])
    >>> print(to_dot(g).splitlines()[-2])
      0 -> 1 [label = "0/0.5"];
    """
    d = _drawing(g, isymbols, osymbols, show_weights, title)
    lines = ["digraph FST {", "  rankdir = LR;", "  node [shape = circle];"]
    if title is not None:
        lines.append(f"  label = {_quote(title)};")
        lines.append("  labelloc = t;")
    for n, label in enumerate(d.nodes):
        attrs = []
        if n in d.finals:
            attrs.append("shape = doublecircle")
        if n in d.starts:
            attrs.append("style = bold")
        lines.append(f"  {n} [label = {_quote(label)}{''.join(', ' + a for a in attrs)}];")
        if n in d.starts:
            lines.append(f'  __start{n} [shape = point, width = 0, height = 0, label = ""];')
            lines.append(f"  __start{n} -> {n} [label = {_quote(d.starts[n])}];")
    for src, dst, label in d.arcs:
        lines.append(f"  {src} -> {dst} [label = {_quote(label)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _run_dot(dot_text: str, fmt: str, timeout: float = 60.0) -> bytes | None:
    """Render with Graphviz; None when ``dot`` is not installed."""
    exe = find_dot()
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True, timeout=timeout
        )
    except subprocess.TimeoutExpired:
        raise GraphvizError(
            f"Graphviz dot took longer than {timeout:g} s to render the graph"
        ) from None
    if done.returncode != 0:
        message = " ".join(done.stderr.decode("utf-8", "replace").split())
        raise GraphvizError(f"Graphviz dot failed (exit status {done.returncode}): {message}")
    return done.stdout


def to_svg(
    g: Graph,
    isymbols: SymbolTable | None = None,
    osymbols: SymbolTable | None = None,
    show_weights: bool = True,
    title: str | None = None,
    *,
    max_arcs: int | None = 10_000,
) -> str | None:
    """An SVG drawing of ``g`` (see :func:`to_dot`), or None when Graphviz's ``dot`` is not
    installed or ``g`` has more than ``max_arcs`` arcs (too big to look at, and slow to lay
    out; pass ``max_arcs=None`` to draw anyway). Notebooks show graphs through this.

    Raises:
        GraphvizError: ``dot`` is installed but failed.
    """
    if max_arcs is not None and g.num_arcs > max_arcs:
        return None
    svg = _run_dot(to_dot(g, isymbols, osymbols, show_weights, title), "svg")
    return None if svg is None else svg.decode("utf-8")


def layered_svg(
    g: Graph,
    isymbols: SymbolTable | None = None,
    osymbols: SymbolTable | None = None,
    show_weights: bool = True,
    title: str | None = None,
    *,
    max_arcs: int | None = 2_000,
    merge_parallel: bool = False,
) -> str | None:
    """An SVG drawing of ``g`` laid out in pure Python (no Graphviz): states in columns from
    left to right (on an acyclic graph every arc points right), with the labels of
    :func:`to_dot`. None when ``g`` has more than ``max_arcs`` arcs (``max_arcs=None`` draws
    anyway). Notebooks and the documentation use it where ``dot`` is not installed.

    ``merge_parallel`` draws the arcs between the same two states as one arc labelled with
    all their labels, comma-separated (for grammars with an arc per symbol).

    >>> g = Graph.from_arrays(2, [0], [1], [0], weight=[0.5])
    >>> layered_svg(g).startswith("<svg")
    True
    """
    if max_arcs is not None and g.num_arcs > max_arcs:
        return None
    drawing = _drawing(g, isymbols, osymbols, show_weights, title)
    if merge_parallel:
        merged: dict[tuple[int, int], list[str]] = {}
        for src, dst, label in drawing.arcs:
            merged.setdefault((src, dst), []).append(label)
        arcs = [(src, dst, ",".join(labels)) for (src, dst), labels in merged.items()]
        drawing = drawing._replace(arcs=arcs)
    return layout.to_svg(drawing)


def repr_svg(g: Graph) -> str | None:
    """``Graph._repr_svg_``: Graphviz's drawing (:func:`to_svg`) when ``dot`` is installed,
    else :func:`layered_svg`; None (the text repr) for graphs too big to look at."""
    if find_dot() is None:
        return layered_svg(g)
    return to_svg(g)


def draw(
    g: Graph,
    path: str | os.PathLike,
    isymbols: SymbolTable | None = None,
    osymbols: SymbolTable | None = None,
    show_weights: bool = True,
    title: str | None = None,
) -> Path:
    """Draw ``g`` to ``path`` (written atomically) and return the path.

    ``.dot`` / ``.gv`` get the DOT text. ``.svg`` / ``.png`` / ``.pdf`` are rendered by
    Graphviz's ``dot`` program.

    Raises:
        GraphvizNotFoundError: a rendered format was asked for but ``dot`` is not installed;
            the DOT text is then written next to ``path`` (same name, ``.dot``) first.
        GraphvizError: ``dot`` failed.
        ValueError: an unsupported file extension.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in _DOT_SUFFIXES and suffix not in _RENDERED_FORMATS:
        supported = ", ".join((*_DOT_SUFFIXES, *_RENDERED_FORMATS))
        raise ValueError(f"cannot draw to {path}: unknown extension {suffix!r} (use {supported})")
    dot_text = to_dot(g, isymbols, osymbols, show_weights, title)
    if suffix in _DOT_SUFFIXES:
        with atomic_write(path) as f:
            f.write(dot_text)
        return path
    rendered = _run_dot(dot_text, _RENDERED_FORMATS[suffix])
    if rendered is None:
        dot_path = path.with_suffix(".dot")
        with atomic_write(dot_path) as f:
            f.write(dot_text)
        raise GraphvizNotFoundError(
            f"cannot render {path}: Graphviz's `dot` program is not installed (not on PATH);"
            f" the DOT text is in {dot_path}; {INSTALL_HINT}"
        )
    with atomic_write(path, "wb") as f:
        f.write(rendered)
    return path


__all__ = [
    "GraphvizError",
    "GraphvizNotFoundError",
    "draw",
    "find_dot",
    "layered_svg",
    "to_dot",
    "to_svg",
]
