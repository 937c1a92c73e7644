"""A layered left-to-right layout written as SVG, in pure Python: how graphs are drawn where
Graphviz's ``dot`` is not installed (notebooks, the documentation).

The layout is Sugiyama's in its simplest form. States are put in columns (layers): on an
acyclic graph each state's column is its longest path from a state without incoming arcs, so
every arc points right; on a cyclic graph it is the breadth-first distance from the start
states. Within a column, states are ordered by the barycentre of their neighbours in the
adjacent columns (a few sweeps each way), which removes most crossings on lattices. Arcs
between the same two states fan out as quadratic curves; arcs that skip columns bend above or
below (the further they reach, the further they bend); arcs that do not point right bend above;
self-loops are loops above their state. Labels (which :mod:`gtn.drawing` computes, with
``dot``'s conventions) sit at the middle of their curves on a white halo.

The input is a drawing description, not a :class:`gtn.Graph`, so this module knows nothing
of energies or symbols: see :func:`gtn.drawing.layered_svg`.
"""

from __future__ import annotations

import math
from collections import defaultdict, deque
from typing import NamedTuple
from xml.sax.saxutils import escape, quoteattr

FONT_SIZE = 12
CHAR_WIDTH = 7.0  # an estimate of a sans-serif character's width at FONT_SIZE
ROW = 80.0
MIN_GAP = 80.0
MARGIN = 24.0
SWEEPS = 4


class Drawing(NamedTuple):
    """What to draw. ``nodes[n]`` is state n's label; ``starts`` maps each start state to the
    label of its incoming arrow ("" for none); ``finals`` are drawn as double circles;
    ``arcs`` are (src, dst, label) triples; ``title`` is a caption above the drawing."""

    nodes: list[str]
    starts: dict[int, str]
    finals: set[int]
    arcs: list[tuple[int, int, str]]
    title: str | None = None


def layers(num_nodes: int, arcs: list[tuple[int, int, str]], starts) -> list[int]:
    """The column of each state: the longest path from a source state when the graph is
    acyclic (so every arc points right), else the breadth-first distance from the start states
    (states they do not reach: from the lowest-numbered unreached state, one column further)."""
    succ = defaultdict(list)
    indeg = [0] * num_nodes
    for s, d, _ in arcs:
        if s != d:
            succ[s].append(d)
            indeg[d] += 1
    order = [v for v in range(num_nodes) if indeg[v] == 0]
    remaining = list(indeg)
    for v in order:  # Kahn's algorithm; `order` grows while it is read
        for d in succ[v]:
            remaining[d] -= 1
            if remaining[d] == 0:
                order.append(d)
    column = [0] * num_nodes
    if len(order) == num_nodes:  # acyclic, self-loops aside
        for v in order:
            for d in succ[v]:
                column[d] = max(column[d], column[v] + 1)
        return column
    column = [-1] * num_nodes
    queue = deque(sorted(starts))
    for v in queue:
        column[v] = 0
    while True:
        while queue:
            v = queue.popleft()
            for d in succ[v]:
                if column[d] < 0:
                    column[d] = column[v] + 1
                    queue.append(d)
        unreached = [v for v in range(num_nodes) if column[v] < 0]
        if not unreached:
            return column
        column[unreached[0]] = max(column) + 1
        queue.append(unreached[0])


def _order(column: list[int], arcs) -> list[list[int]]:
    """States of each column, ordered to reduce crossings (barycentre sweeps)."""
    width = max(column, default=-1) + 1
    by_column: list[list[int]] = [[] for _ in range(width)]
    for v, c in enumerate(column):
        by_column[c].append(v)
    pred, succ = defaultdict(list), defaultdict(list)
    for s, d, _ in arcs:
        if column[d] > column[s]:
            succ[s].append(d)
            pred[d].append(s)
    for sweep in range(SWEEPS):
        forward = sweep % 2 == 0
        cols = range(1, width) if forward else range(width - 2, -1, -1)
        for c in cols:
            ref = by_column[c - 1] if forward else by_column[c + 1]
            rank = {v: i for i, v in enumerate(ref)}
            here = by_column[c]
            keys = {}
            for i, v in enumerate(here):
                near = [rank[u] for u in (pred[v] if forward else succ[v]) if u in rank]
                keys[v] = (sum(near) / len(near), i) if near else (float(i), i)
            by_column[c] = sorted(here, key=keys.__getitem__)
    return by_column


def _radius(label: str) -> float:
    return max(16.0, CHAR_WIDTH * len(label) / 2 + 8)


def _text(x: float, y: float, text: str, extra: str = "") -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="middle" dominant-baseline="central"'
        f"{extra}>{escape(text)}</text>"
    )


def _along(frm: tuple[float, float], to: tuple[float, float], r: float) -> tuple[float, float]:
    """The point at distance r from ``frm`` towards ``to`` (a circle's boundary)."""
    dx, dy = to[0] - frm[0], to[1] - frm[1]
    n = math.hypot(dx, dy) or 1.0
    return frm[0] + r * dx / n, frm[1] + r * dy / n


def to_svg(drawing: Drawing) -> str:
    """The SVG text of the layered layout of ``drawing``. Each state is a ``<g class="state">``
    whose circle has the state's centre; each arc is a ``<g class="arc">`` holding its path and
    label, in the order of ``drawing.arcs``."""
    n = len(drawing.nodes)
    column = layers(n, drawing.arcs, drawing.starts)
    by_column = _order(column, drawing.arcs)
    radius = [_radius(label) for label in drawing.nodes]

    # Column x positions: wide enough for the longest label of the arcs that leave a column.
    longest = defaultdict(int)
    for s, d, label in drawing.arcs:
        if column[d] > column[s]:
            longest[column[s]] = max(longest[column[s]], len(label))
    xs, x = [], 0.0
    for c in range(len(by_column)):
        widest = max((radius[v] for v in by_column[c]), default=16.0)
        x += widest
        xs.append(x)
        x += widest + max(MIN_GAP, CHAR_WIDTH * longest[c] + 24)
    tallest = max((len(col) for col in by_column), default=0)
    pos: dict[int, tuple[float, float]] = {}
    for c, col in enumerate(by_column):
        first = ROW / 2 + (tallest - len(col)) * ROW / 2
        for i, v in enumerate(col):
            pos[v] = (xs[c], first + i * ROW)
    # The drawing's extent: every point drawn, labels with half their width either side.
    xlo, ylo, xhi, yhi = 0.0, 0.0, MARGIN, MARGIN

    def extend(px: float, py: float, half_width: float = 0.0, half_height: float = 0.0):
        nonlocal xlo, ylo, xhi, yhi
        xlo, xhi = min(xlo, px - half_width), max(xhi, px + half_width)
        ylo, yhi = min(ylo, py - half_height), max(yhi, py + half_height)

    parts = []
    seen: dict[tuple[int, int], int] = defaultdict(int)
    total: dict[tuple[int, int], int] = defaultdict(int)
    for s, d, _ in drawing.arcs:
        total[(s, d)] += 1
    for s, d, label in drawing.arcs:
        k = seen[(s, d)]
        seen[(s, d)] += 1
        (x0, y0), (x1, y1) = pos[s], pos[d]
        if s == d:
            r = radius[s]
            lift = 34.0 + 16.0 * k
            p0 = (x0 - r * 0.6, y0 - r * 0.8)
            p1 = (x0 + r * 0.6, y0 - r * 0.8)
            path = (
                f"M {p0[0]:.1f} {p0[1]:.1f} C {x0 - r * 1.4:.1f} {y0 - lift - r:.1f}"
                f" {x0 + r * 1.4:.1f} {y0 - lift - r:.1f} {p1[0]:.1f} {p1[1]:.1f}"
            )
            lx, ly = x0, y0 - r - 0.75 * lift - 6
            extend(x0, y0 - lift - r)
        else:
            mx, my = (x0 + x1) / 2, (y0 + y1) / 2
            dx, dy = x1 - x0, y1 - y0
            length = math.hypot(dx, dy) or 1.0
            nx_, ny_ = -dy / length, dx / length  # unit normal
            span = column[d] - column[s]
            if span == 1:
                bend = (k - (total[(s, d)] - 1) / 2) * 34.0
            elif span > 1:  # skips columns: clear of the states between, above or below by parity
                up = (span % 2 == 0) == (ny_ > 0)
                bend = (10.0 + 20.0 * span + 16.0 * k) * (-1.0 if up else 1.0)
            else:  # a backward or same-column arc bends above (its normal points up)
                sign = -1.0 if ny_ > 0 else 1.0
                bend = sign * (0.35 * length + 24.0 + 22.0 * k)
            c = (mx + nx_ * bend, my + ny_ * bend)
            p0 = _along(pos[s], c, radius[s])
            p1 = _along(pos[d], c, radius[d] + 2)
            path = f"M {p0[0]:.1f} {p0[1]:.1f} Q {c[0]:.1f} {c[1]:.1f} {p1[0]:.1f} {p1[1]:.1f}"
            lx = 0.25 * p0[0] + 0.5 * c[0] + 0.25 * p1[0]
            ly = 0.25 * p0[1] + 0.5 * c[1] + 0.25 * p1[1]
            extend(*c)
        extend(lx, ly, CHAR_WIDTH * len(label) / 2, FONT_SIZE)
        parts.append(
            f'<g class="arc" data-src="{s}" data-dst="{d}"><path d="{path}" fill="none"'
            f' stroke="#333" marker-end="url(#gtn-arrow)"/>'
            + _text(lx, ly, label, ' class="label"')
            + "</g>"
        )
    for v in range(n):
        x0, y0 = pos[v]
        r = radius[v]
        extend(x0, y0, r, r)
        bold = v in drawing.starts
        shapes = [
            f'<circle cx="{x0:.1f}" cy="{y0:.1f}" r="{r:.1f}" fill="white" stroke="#333"'
            f' stroke-width="{2.5 if bold else 1.2}"/>'
        ]
        if v in drawing.finals:
            shapes.append(
                f'<circle cx="{x0:.1f}" cy="{y0:.1f}" r="{r - 4:.1f}" fill="none" stroke="#333"'
                ' stroke-width="1.2"/>'
            )
        if bold:
            a = x0 - r - 34
            extend(a, y0)
            shapes.append(
                f'<path d="M {a:.1f} {y0:.1f} L {x0 - r - 2:.1f} {y0:.1f}" stroke="#333"'
                ' marker-end="url(#gtn-arrow)"/>'
            )
            if drawing.starts[v]:
                extend(a + 16, y0 - 10, CHAR_WIDTH * len(drawing.starts[v]) / 2, FONT_SIZE)
                shapes.append(_text(a + 16, y0 - 10, drawing.starts[v], ' class="label"'))
        shapes.append(_text(x0, y0, drawing.nodes[v]))
        parts.append(f'<g class="state" data-state="{v}">{"".join(shapes)}</g>')
    title = ""
    if drawing.title is not None:
        ylo -= FONT_SIZE + 16
        title = _text((xlo + xhi) / 2, ylo + FONT_SIZE / 2, drawing.title, ' font-weight="bold"')
    xlo, ylo, xhi, yhi = xlo - MARGIN, ylo - MARGIN, xhi + MARGIN, yhi + MARGIN
    width, height = xhi - xlo, yhi - ylo
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}"'
        f' viewBox="{xlo:.1f} {ylo:.1f} {width:.1f} {height:.1f}" font-family="sans-serif"'
        f' font-size="{FONT_SIZE}" role="img" aria-label={quoteattr(drawing.title or "graph")}>'
        "<style>.label{paint-order:stroke;stroke:white;stroke-width:4px;}</style>"
        '<defs><marker id="gtn-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7"'
        ' markerHeight="7" orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z"'
        ' fill="#333"/></marker></defs>' + title + "".join(parts) + "</svg>\n"
    )
