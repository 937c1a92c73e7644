"""Rendering an amount string into a grey-level field image, with the variety of real writing
and scanning as parameters (``FieldStyle``; every range is sampled uniformly per field unless
it says "per character").

Writing: digit height ``digit_px`` px; per-character scale x U(1 +- ``scale``); field width
factor ``aspect`` with per-character jitter N(0, ``aspect_jitter``); baseline jitter
N(0, ``baseline_jitter``) and a random walk N(0, ``baseline_drift``) per character (both in
digit heights); slant ``slant`` per field plus N(0, ``slant_jitter``) per character; stroke
width changed by ``stroke`` digit heights on each side (morphology on the MNIST strokes, and
the symbols drawn with the pen changed alike: one pen writes the whole field);
one of ``glyphs.SYMBOL_STYLES`` drawings per symbol per field, from ``symbol_styles``.
Spacing: the gap between adjacent boxes, as a fraction of the pair's mean width: two digits
touch or overlap with probability ``touch_probability`` (gap U(-``overlap``, 0)), otherwise
U(``gap``); next to a symbol U(``symbol_gap``), which may be negative (a period tucked under
its neighbour), and next to a period or comma U(``point_gap``) when it is set. A broken stroke
(a 1-2 px erased band) in ``broken`` of the characters.
Page: margins U(``margin``) digit heights on each side (so canvases of any height); the whole
field rotated by U(``rotation``) degrees; guide lines near the field: an underline, a guide
line above, a box (underline, top line and both edges) with probabilities ``underline``,
``top_line``, ``box``, dashed with probability ``dashed``, printed at darkness U(``line_ink``)
(light grey and coloured forms print faint lines). Scanning: paper tint U(``paper``),
ink darkness U(``ink``), Gaussian blur U(``blur``) digit heights, gamma U(``gamma``),
pixel noise N(0, U(``noise``)), specks U(``specks_per_pixel``), and with probability ``jpeg``
a JPEG round trip at quality U(``jpeg_quality``); with probability ``coarse_scan`` the field is
scanned at 1/U(``scan_factor``) of the writing's resolution (area averaging turns a fine pen's
strokes grey; never below the smallest ``digit_px``). Dark ink on white, uint8.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

from . import glyphs


@dataclass(frozen=True)
class FieldStyle:
    digit_px: tuple[float, float] = (12.0, 40.0)
    scale: float = 0.15
    aspect: tuple[float, float] = (0.75, 1.3)
    aspect_jitter: float = 0.08
    baseline_jitter: float = 0.04
    baseline_drift: float = 0.03
    slant: tuple[float, float] = (-0.2, 0.45)
    slant_jitter: float = 0.06
    stroke: tuple[float, float] = (-0.04, 0.07)
    symbol_styles: tuple[int, ...] = (0, 1, 2)
    touch_probability: float = 0.4
    overlap: float = 0.3
    gap: tuple[float, float] = (0.03, 0.9)
    symbol_gap: tuple[float, float] = (-0.2, 0.7)
    point_gap: tuple[float, float] | None = None  # beside "." and ","; None: symbol_gap
    broken: float = 0.1
    margin: tuple[float, float] = (0.05, 1.2)
    rotation: tuple[float, float] = (-3.0, 3.0)
    underline: float = 0.3
    top_line: float = 0.1
    box: float = 0.15
    dashed: float = 0.3
    line_ink: tuple[float, float] = (0.4, 1.0)
    paper: tuple[float, float] = (0.75, 1.0)
    ink: tuple[float, float] = (0.45, 1.0)
    blur: tuple[float, float] = (0.0, 0.04)
    gamma: tuple[float, float] = (0.7, 1.5)
    noise: tuple[float, float] = (0.0, 0.08)
    specks_per_pixel: tuple[float, float] = (0.0, 1 / 1000)
    jpeg: float = 0.35
    jpeg_quality: tuple[int, int] = (15, 90)
    coarse_scan: float = 0.0
    scan_factor: tuple[float, float] = (1.5, 2.5)


DEFAULT_STYLE = FieldStyle()
"""The training distribution (and the "own test fields")."""


@dataclass
class Field:
    """A rendered field: image uint8 [H, W] (dark ink on white); owner int8 [H, W], the index of
    the character whose ink dominates each inked pixel (-1 elsewhere, guide lines included);
    boxes int [n, 2], each character's ink columns [left, right); digit_rows: MNIST row of each
    digit (-1 for symbols)."""

    text: str
    image: np.ndarray
    owner: np.ndarray
    boxes: np.ndarray
    digit_rows: np.ndarray


def _glyph(char, size, width, pool, rng, style, symbol_style, pen_change):
    images, labels, rows = pool
    if char.isdigit():
        choice = rng.choice(np.flatnonzero(labels == int(char)))
        ink, base = glyphs.digit_glyph(images[choice], size)
        ink = glyphs.resize(ink, ink.shape[0], int(round(ink.shape[1] * width)))
        row = int(rows[choice])
    else:
        ink, base = glyphs.symbol_glyph(char, size, rng, symbol_style[char], pen_change)
        row = -1
    # A period or comma is a dot a few pixels wide: a band erased across it would wipe out the
    # whole character, leaving the amount's text with a symbol the image does not show.
    if rng.random() < style.broken and char not in ".,":
        ink = glyphs.break_stroke(ink, rng)
    return np.clip(ink, 0.0, 1.0), base, row


def _restroke(ink, base, change):
    pad = int(np.ceil(max(change, 0.0))) + 1
    return glyphs.restroke(np.pad(ink, pad), change), base + pad, pad


def render_field(text: str, pool, rng: np.random.Generator, style: FieldStyle = DEFAULT_STYLE):
    """Render ``text`` with digits drawn from ``pool`` = (images, labels, rows) of one split.

    Returns a :class:`Field`.
    """
    h = rng.uniform(*style.digit_px)
    field_slant = rng.uniform(*style.slant)
    field_aspect = rng.uniform(*style.aspect)
    stroke = rng.uniform(*style.stroke) * h
    symbol_style = {c: int(rng.choice(style.symbol_styles)) for c in "$,.*"}
    drift = 0.0
    placed = []
    for char in text:
        size = h * rng.uniform(1 - style.scale, 1 + style.scale)
        width = field_aspect * (1 + rng.normal(0, style.aspect_jitter))
        ink, base, row = _glyph(
            char, size, max(width, 0.3), pool, rng, style, symbol_style, 2 * stroke
        )
        ink, base = glyphs.slant(ink, base, field_slant + rng.normal(0, style.slant_jitter))
        # Symbols are drawn with the field's pen instead: thinning would erase a dot.
        ink, base, pad = _restroke(ink, base, stroke if char.isdigit() else 0.0)
        drift += rng.normal(0, style.baseline_drift * h)
        base += rng.normal(0, style.baseline_jitter * h) + drift
        placed.append((ink, base, row, pad))
    lefts = _layout(text, [p[0].shape[1] - 2 * p[3] for p in placed], rng, style, h)
    lefts = lefts - np.array([p[3] for p in placed])
    margins = rng.uniform(*style.margin, 4) * h  # left, right, top, bottom
    above = max(b for _, b, _, _ in placed)
    below = max(ink.shape[0] - b for ink, b, _, _ in placed)
    baseline = margins[2] + above
    H = int(np.ceil(baseline + below + margins[3])) + 1
    lefts = np.round(lefts - lefts.min() + margins[0]).astype(int)
    W = int(max(left + p[0].shape[1] for left, p in zip(lefts, placed, strict=True)) + margins[1])
    layers = np.zeros((len(text), H, W + 1), np.float32)
    for i, ((ink, base, _, _), left) in enumerate(zip(placed, lefts, strict=True)):
        top = int(round(baseline - base))
        r0, r1 = max(0, top), min(H, top + ink.shape[0])
        if r1 > r0:
            layers[i, r0:r1, left : left + ink.shape[1]] = ink[r0 - top : r1 - top]
    lines = _guide_lines(layers.max(0), baseline, h, rng, style)
    ink = np.maximum(layers.max(0), lines)
    owner = np.where(layers.max(0) > 0.35, layers.argmax(0), -1).astype(np.int8)
    angle = rng.uniform(*style.rotation)
    if angle:
        ink = ndimage.rotate(ink, angle, order=1, reshape=True)
        owner = ndimage.rotate(owner, angle, order=0, reshape=True, cval=-1)
    # A coarse scan: fine pen strokes average into grey, unlike small writing drawn sharp.
    # (No draws when it is off: styles without it render as they did before it existed.)
    if style.coarse_scan > 0 and rng.random() < style.coarse_scan:
        factor = min(rng.uniform(*style.scan_factor), h / style.digit_px[0])
        if factor > 1.2:
            (ink, owner), h = _coarse_scan(ink, owner, factor), h / factor
    boxes = np.array([column_span(owner == k) for k in range(len(text))], np.int64).reshape(-1, 2)
    image = _scan(np.clip(ink, 0.0, 1.0), h, rng, style)
    rows = np.array([p[2] for p in placed], np.int64)
    return Field(text, image, owner, boxes, rows)


def _layout(text, widths, rng, style, h) -> np.ndarray:
    """Left edges (float) of the characters' ink boxes, the first at 0."""
    lefts = [0.0]
    for i in range(1, len(text)):
        mean_w = 0.5 * (widths[i - 1] + widths[i])
        digits = text[i - 1].isdigit() and text[i].isdigit()
        if digits and rng.random() < style.touch_probability:
            frac = rng.uniform(-style.overlap, 0.0)
        elif digits:
            frac = rng.uniform(*style.gap)
        else:
            point = text[i - 1] in ".," or text[i] in ".,"
            bounds = style.point_gap if point and style.point_gap is not None else style.symbol_gap
            frac = rng.uniform(*bounds)
        if text[i - 1] in ".," or text[i] in ".,":
            # a period or comma tucked under a neighbour keeps a third of its width clear
            small = min(widths[i - 1], widths[i])
            frac = max(frac, -0.67 * small / max(mean_w, 1e-6))
        lefts.append(lefts[-1] + widths[i - 1] + frac * mean_w)
    return np.array(lefts)


def _guide_lines(ink, baseline, h, rng, style) -> np.ndarray:
    """Printed lines near the field (ink [H, W] of the characters sets their extent)."""
    H, W = ink.shape
    out = np.zeros_like(ink)
    rows, cols = np.flatnonzero(ink.max(1) > 0.35), np.flatnonzero(ink.max(0) > 0.35)
    if rows.size == 0:
        return out
    darkness = rng.uniform(*style.line_ink)
    thick = max(1.0, rng.uniform(0.03, 0.1) * h)
    dashed = rng.random() < style.dashed
    is_box = rng.random() < style.box
    x0, x1 = 0, W
    if is_box:  # the box's edges sit in the side margins
        x0, x1 = int(rng.uniform(0, 0.6) * cols[0]), W - 1
        x1 -= int(rng.uniform(0, 0.6) * (W - 1 - cols[-1]))
    if is_box or rng.random() < style.underline:
        y = min(H - thick, baseline + rng.uniform(-0.05, 0.5) * h)
        _hline(out, y, thick, x0, x1, darkness, dashed, h, rng)
        bottom = y
    else:
        bottom = H - 1
    if is_box or rng.random() < style.top_line:
        y = max(0.0, rows[0] - rng.uniform(0.05, 0.6) * h - thick)
        _hline(out, y, thick, x0, x1, darkness, dashed, h, rng)
        top = y
    else:
        top = 0.0
    if is_box:
        for x in (x0, x1 - thick):
            c0 = int(max(0, np.floor(x)))
            out[int(top) : int(np.ceil(bottom + thick)), c0 : c0 + int(np.ceil(thick))] = darkness
    return out


def _hline(out, y, thick, x0, x1, darkness, dashed, h, rng):
    r0 = int(np.floor(y))
    r1 = max(r0 + 1, int(np.ceil(y + thick)))
    on = np.ones(out.shape[1], bool)
    if dashed:
        period = max(3, int(rng.uniform(0.15, 0.6) * h))
        on = (np.arange(out.shape[1]) % period) < max(1, period // 2)
    on[:x0] = False
    on[x1:] = False
    out[r0:r1, on] = np.maximum(out[r0:r1, on], darkness)


def column_span(owned: np.ndarray) -> tuple[int, int]:
    """(first, last + 1) column holding a True of the mask ``owned`` [h, w]; (0, 0) if none."""
    cols = np.flatnonzero(owned.any(0))
    return (int(cols[0]), int(cols[-1]) + 1) if cols.size else (0, 0)


def _coarse_scan(ink: np.ndarray, owner: np.ndarray, factor: float):
    """(ink, owner) at 1/``factor`` of the resolution: ink averaged over each output pixel's
    area; each output pixel owned by the character of the darkest owned pixel it covers (a
    period a pixel or two wide keeps an owner)."""
    H, W = ink.shape
    h, w = max(1, round(H / factor)), max(1, round(W / factor))
    img = Image.fromarray(np.ascontiguousarray(ink, np.float32), mode="F")
    small = np.asarray(img.resize((w, h), Image.BOX), np.float32)
    ys, xs = np.nonzero(owner >= 0)
    cell = (ys * h // H) * w + xs * w // W
    # the darkest pixel wins: its ink in the high bits, its owner in the low ones
    key = np.round(ink[ys, xs] * 1000).astype(np.int64) * 128 + owner[ys, xs]
    best = np.full(h * w, -1, np.int64)
    np.maximum.at(best, cell, key)
    return small, np.where(best >= 0, best % 128, -1).astype(np.int8).reshape(h, w)


def _scan(ink: np.ndarray, h: float, rng: np.random.Generator, style: FieldStyle) -> np.ndarray:
    H, W = ink.shape
    specks = rng.poisson(H * W * rng.uniform(*style.specks_per_pixel))
    ink = ink.copy()
    ys, xs = rng.integers(0, H, specks), rng.integers(0, W, specks)
    ink[ys, xs] = np.maximum(ink[ys, xs], rng.uniform(0.3, 0.8, specks))
    paper = rng.uniform(*style.paper)
    dark = min(rng.uniform(*style.ink), paper)
    grey = paper - dark * ink
    sigma = rng.uniform(*style.blur) * h
    if sigma > 0.2:
        grey = ndimage.gaussian_filter(grey, sigma)
    grey = np.clip(grey, 0.0, 1.0) ** rng.uniform(*style.gamma)
    grey = grey + rng.normal(0, rng.uniform(*style.noise), ink.shape)
    image = np.clip(np.round(grey * 255), 0, 255).astype(np.uint8)
    if rng.random() < style.jpeg:
        image = jpeg_round_trip(image, int(rng.integers(*style.jpeg_quality, endpoint=True)))
    return image


def jpeg_round_trip(image: np.ndarray, quality: int) -> np.ndarray:
    """uint8 [H, W] through an in-memory JPEG at ``quality`` (1-95): block artefacts."""
    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").save(buffer, format="JPEG", quality=int(quality))
    buffer.seek(0)
    return np.asarray(Image.open(buffer, formats=("JPEG",)).convert("L"), np.uint8).copy()
