"""Single characters as ink images: handwritten digits from MNIST, and the symbols with no
handwritten source ($ , . *) drawn procedurally; plus the distortions applied to every glyph.

A glyph is (ink, baseline): ink is float32 [h, w] in [0, 1] (1 = full ink), and ``baseline``
is the row of ``ink`` that sits on the field's baseline (may lie outside the array, e.g. for
"*", which floats above the baseline).
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage


def resize(ink: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of a float image to [height, width] (both >= 1)."""
    img = Image.fromarray(np.ascontiguousarray(ink, dtype=np.float32), mode="F")
    return np.asarray(img.resize((max(1, width), max(1, height)), Image.BILINEAR), np.float32)


def crop_to_ink(ink: np.ndarray, level: float = 0.05) -> np.ndarray:
    rows = np.flatnonzero(ink.max(1) > level)
    cols = np.flatnonzero(ink.max(0) > level)
    if rows.size == 0:
        return ink[:1, :1] * 0
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def digit_glyph(mnist_image: np.ndarray, height: float) -> tuple[np.ndarray, float]:
    """An MNIST digit (white on black, uint8 [28, 28]) cropped and scaled to ``height`` px,
    keeping its aspect ratio; it stands on the baseline."""
    ink = crop_to_ink(mnist_image.astype(np.float32) / 255.0)
    h = max(2, int(round(height)))
    w = max(1, int(round(ink.shape[1] * h / ink.shape[0])))
    out = np.clip(resize(ink, h, w), 0.0, 1.0)
    return out, float(h)


def _strokes(polylines: list[np.ndarray], stroke: float, shape: tuple[int, int]) -> np.ndarray:
    """Anti-aliased ink of polylines (each [k, 2] points (x, y) in pixels), stroke width px."""
    ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32) + 0.5
    pix = np.stack([xs.ravel(), ys.ravel()], 1)
    dist = np.full(pix.shape[0], np.inf, np.float32)
    for line in polylines:
        a, b = line[:-1], line[1:]
        ab = b - a
        length2 = np.maximum((ab**2).sum(1), 1e-9)
        t = np.clip(((pix[:, None, :] - a[None]) * ab[None]).sum(2) / length2, 0, 1)
        nearest = a[None] + t[..., None] * ab[None]
        dist = np.minimum(dist, np.sqrt(((pix[:, None, :] - nearest) ** 2).sum(2)).min(1))
    return np.clip(stroke / 2 + 0.5 - dist, 0.0, 1.0).reshape(shape).astype(np.float32)


def _arc(cx, cy, rx, ry, t0, t1, n=14) -> np.ndarray:
    t = np.radians(np.linspace(t0, t1, n))
    return np.stack([cx + rx * np.cos(t), cy - ry * np.sin(t)], 1)


SYMBOL_STYLES = 3
"""Procedural styles of each symbol (``style`` argument of :func:`symbol_glyph`):
"$": 0 one bar through the S, 1 two bars, 2 bar stubs above and below only;
"*": 0 three crossed strokes, 1 an "x" plus a "+" (four strokes), 2 five spokes from a centre;
".": 0 round dot, 1 short dash, 2 small tilted tick; ",": 0 dot with a tail, 1 straight
slanted tick, 2 hooked curl."""


def symbol_glyph(
    char: str,
    height: float,
    rng: np.random.Generator,
    style: int | None = None,
    pen_change: float = 0.0,
) -> tuple[np.ndarray, float]:
    """A procedurally drawn "$", ",", "." or "*" for a field whose digits are ``height`` px tall,
    with random proportions and control-point jitter; ``style`` in 0..SYMBOL_STYLES-1 picks the
    drawing (None: drawn at random). The pen is U(0.07, 0.12) digit heights wide plus
    ``pen_change`` px (at least 1 px): the field's digits thinned or thickened by ``c`` px on
    each side call for ``pen_change = 2 c``, as one pen writes the whole field. A period's dot
    is U(0.08, 0.24) digit heights across, or the pen's width if that is wider."""
    h = float(height)
    if style is None:
        style = int(rng.integers(SYMBOL_STYLES))
    if not 0 <= style < SYMBOL_STYLES:
        raise ValueError(f"symbol style {style} is not in 0..{SYMBOL_STYLES - 1}")
    stroke = max(1.0, h * rng.uniform(0.07, 0.12) + pen_change)
    jitter = lambda pts: pts + rng.normal(0, 0.02 * h, pts.shape)  # noqa: E731
    pad = stroke + 1
    if char == "$":
        w, top = rng.uniform(0.45, 0.6), rng.uniform(0.05, 0.15)
        rx, ry = w * h / 2, rng.uniform(0.18, 0.22) * h
        cx, mid = pad + rx, pad + top * h + 0.5 * h
        upper = _arc(cx, mid - ry, rx, ry, 20, 270)
        lower = _arc(cx, mid + ry, rx, ry, 90, -160)
        bar_x = cx + rng.normal(0, 0.03 * h)
        lean = rng.normal(0, 0.08 * h)  # the bar's top to the right of its foot, px
        bottom = pad + (1.15 + top) * h
        lines = [jitter(upper), jitter(lower)]
        if style == 0:
            lines.append(np.array([[bar_x + lean / 2, pad], [bar_x - lean / 2, bottom]]))
        elif style == 1:
            d = rng.uniform(0.08, 0.14) * h
            lines += [
                np.array([[x + lean / 2, pad], [x - lean / 2, bottom]])
                for x in (bar_x - d, bar_x + d)
            ]
        else:
            stub = rng.uniform(0.12, 0.2) * h
            lines += [
                np.array([[bar_x, pad], [bar_x, pad + stub + top * h]]),
                np.array([[bar_x, bottom - stub - 0.1 * h], [bar_x, bottom]]),
            ]
        shape = (int(np.ceil(pad + bottom)), int(np.ceil(2 * pad + 2 * rx)))
        baseline = mid + 2 * ry + rng.normal(0, 0.03 * h)
    elif char == "*":
        r = rng.uniform(0.18, 0.26) * h
        c = pad + r
        spin = rng.normal(0, 8)
        if style == 0:
            angles = np.radians(90 + np.array([0, 60, 120]) + spin + rng.normal(0, 8, 3))
            lines = [chord(c, r, a) for a in angles]
        elif style == 1:
            angles = np.radians(np.array([0, 45, 90, 135]) + spin + rng.normal(0, 6, 4))
            lines = [chord(c, r, a) for a in angles]
        else:
            angles = np.radians(90 + np.arange(5) * 72 + spin + rng.normal(0, 6, 5))
            lines = [np.array([[c, c], [c + r * np.cos(a), c - r * np.sin(a)]]) for a in angles]
        shape = (int(np.ceil(2 * c)), int(np.ceil(2 * c)))
        baseline = 2 * c + rng.uniform(0.3, 0.5) * h  # floats above the baseline
    elif char in ".,":
        r = max(stroke * 0.5, 0.75, rng.uniform(0.04, 0.12) * h)
        c = pad + r
        tail = rng.uniform(0.18, 0.3) * h if char == "," else 0.0
        if char == "." and style == 1:  # a short dash
            lines = [np.array([[c - 0.8 * r, c], [c + 0.8 * r, c + rng.normal(0, 0.2 * r)]])]
            stroke = 1.2 * r
        elif char == "." and style == 2:  # a tick
            lines = [np.array([[c - 0.5 * r, c - 0.7 * r], [c + 0.5 * r, c + 0.7 * r]])]
            stroke = 1.3 * r
        else:
            lines = [np.array([[c, c], [c + 0.01, c]])]
            stroke = 2 * r
        if char == "," and style == 0:
            lines.append(np.array([[c + 0.3 * r, c], [c - 0.25 * tail, c + tail]]))
        elif char == ",":
            # no dot: a slanted tick (1) or a hooked curl (2) drawn with the pen
            if style == 1:
                lines = [np.array([[c + 0.4 * r, c - 0.6 * r], [c - 0.35 * tail, c + tail]])]
            else:
                hook = _arc(c, c, 0.7 * r, 0.7 * r, 120, -60, 8)
                lines = [np.vstack([hook, [[c - 0.3 * tail, c + tail]]])]
        shape = (int(np.ceil(2 * c + tail)), int(np.ceil(2 * c + 1)))
        baseline = 2 * c - rng.uniform(0.0, 0.5) * r
    else:
        raise ValueError(f"no procedural glyph for {char!r}")
    return _strokes(lines, stroke, shape), float(baseline)


def chord(c: float, r: float, angle: float) -> np.ndarray:
    """End points [[x0, y0], [x1, y1]] (pixels, y down) of the stroke of half-length ``r``
    through (c, c) at ``angle`` radians counter-clockwise from the x axis."""
    dx, dy = r * np.cos(angle), r * np.sin(angle)
    return np.array([[c - dx, c + dy], [c + dx, c - dy]])


def restroke(ink: np.ndarray, change: float) -> np.ndarray:
    """Thicken (``change`` > 0) or thin (< 0) the strokes of an ink image [h, w] by about
    ``change`` px on each side; same shape (leave room at the edges for thickening). Grey-level
    morphology by a disc, the fractional part blended linearly; thinning is skipped where the
    strokes would vanish (the glyph keeps at least half its peak ink)."""
    if change == 0:
        return ink
    radius = abs(change)
    whole = int(np.floor(radius))
    op = ndimage.grey_dilation if change > 0 else ndimage.grey_erosion

    def morph(r: int) -> np.ndarray:
        if r == 0:
            return ink
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        return op(ink, footprint=(yy**2 + xx**2) <= r * r + 0.5)

    frac = radius - whole
    out = (1 - frac) * morph(whole) + frac * morph(whole + 1)
    if change < 0 and out.max() < 0.5 * ink.max():
        return ink
    return out.astype(np.float32)


def slant(ink: np.ndarray, baseline: float, shear: float) -> tuple[np.ndarray, float]:
    """Shear rows right by ``shear`` px per px above the baseline (italic for shear > 0)."""
    h, w = ink.shape
    # Row y moves by shear * (baseline - y); the output grows to hold the extreme shifts.
    shifts = shear * (baseline - (np.arange(h) + 0.5))
    left = min(0.0, shifts.min())
    width = int(np.ceil(w + shifts.max() - left)) + 1
    ys, xs = np.mgrid[0:h, 0:width].astype(np.float32)
    src_x = xs - (shifts[:, None] - left)
    out = ndimage.map_coordinates(ink, [ys, src_x], order=1, cval=0.0)
    cols = np.flatnonzero(out.max(0) > 0.05)  # the columns with ink
    return (out if cols.size == 0 else out[:, cols[0] : cols[-1] + 1]), baseline


def break_stroke(ink: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Erase a thin straight band (1-2 px) across the glyph's middle: a broken stroke, as left by
    a dry pen or a light scan."""
    h, w = ink.shape
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    angle = rng.uniform(0, np.pi)
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    dist = np.abs((xs - cx) * np.sin(angle) - (ys - cy) * np.cos(angle))
    half = rng.uniform(0.5, 1.0)
    return ink * np.clip(dist - half, 0.0, 1.0).astype(np.float32)
