"""The second held-out style: an independent renderer that no training, tuning or model selection
sees, written after every decision on the readers so far.

"Phone": an amount written with a felt-tip marker and photographed with a phone. Ranges are
uniform per field unless they say "per character"; h is the field's digit height.
- Pen: a marker of width U(0.14, 0.2) h. Each digit (MNIST *test* digits only) is thresholded at
  0.5, reduced to its centre line (skeletonised) and redrawn with that round pen at one width
  (a distance-transform pen: MNIST's varying stroke widths become the marker's even one).
- Ink: near-black, a little coloured (each RGB channel U(0.02, 0.1), one channel at random plus
  U(0, 0.12)), opacity U(0.9, 0.98).
- Writing: digit height h U(40, 64) px, each character's size x U(0.85, 1.15) (per character);
  a forward slant U(0.1, 0.35) per field plus N(0, 0.03) per character; the baseline jitters
  N(0, 0.03 h) per character.
- Spacing between ink boxes: two digits U(0.04, 0.25) h apart, or with probability 0.15 touching
  (U(-0.06, 0) h); a period or comma U(0.06, 0.16) h from each neighbour (never tucked under a
  digit); "$" and "*" U(0.05, 0.25) h from theirs.
- Its own symbols, drawn by code the training renderer does not have: "$" a spline S U(0.85, 1.0)
  h tall and U(0.5, 0.65) h wide (wider if the bars need it) crossed by two vertical bars U(0.9,
  1.3) pen widths either side of its middle, standing out U(0.08, 0.16) h above and below it;
  "*" an "x" (arms at U(35, 55) degrees from the horizontal, half-length U(0.25, 0.35) h x
  U(0.85, 1.1) each) crossed by a horizontal bar (tilt N(0, 5) degrees, half-length x U(0.9,
  1.2)), centred U(0.4, 0.65) h above the baseline; "." a filled round dot U(1.3, 1.7) pen widths
  across whose bottom sits U(-0.02, 0.06) h below the baseline; "," a straight tick U(0.25, 0.38)
  h long at U(15, 35) degrees from the vertical, from U(0, 0.1) h above the baseline down and to
  the left below it.
- Paper: margins U(0.4, 0.8) h above and below the ink and U(0.4, 1.0) h left and right; paper
  colour U(0.94, 1.0) per channel; printed in light blue (RGB U(0.45, 0.6), U(0.7, 0.8),
  U(0.9, 1.0)), with probability 0.5 a squared grid (cells U(0.45, 0.7) h, lines U(1.0, 1.8) px,
  strength U(0.35, 0.7)), else a box outline U(0.1, 0.3) h inside the writing area's edge
  (line U(1.5, 3.0) px, strength U(0.5, 0.8)); printed lines are owned by no character.
- Photo: the paper seen in perspective, rotated by U(-4, 4) degrees, its top edge U(-0.06, 0.06)
  wider than the bottom and its left edge U(-0.06, 0.06) taller than the right (a homography; the
  image is the bounding box of the paper's writing area, the paper continuing around it); uneven
  light: with probability 0.5 a linear gradient in a random direction, else a radial one around a
  random point of the field, from U(0.6, 0.85) to U(0.9, 1.0), tinted per channel (1, U(0.95,
  1.0), U(0.88, 1.0)); defocus (Gaussian blur of sigma U(0.6, 1.6) px), sensor noise N(0, U(0.01,
  0.03)) per channel; the RGB photo to grey by the luma weights 0.299, 0.587, 0.114; JPEG at
  quality U(60, 90).
Dark ink on white, uint8; a pixel belongs to the character whose (warped) ink dominates it where
that ink covers at least half of it.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from . import amounts, glyphs, mnist
from .render import Field, column_span, jpeg_round_trip

NAME = "phone"
VERSION = 1
LUMA = np.array([0.299, 0.587, 0.114])
INKED = 0.5  # ink coverage from which a pixel belongs to a character


def _pen_ink(centre: np.ndarray, pen: float) -> np.ndarray:
    """Anti-aliased ink of a round pen ``pen`` px wide drawn along the True pixels of ``centre``."""
    dist = ndimage.distance_transform_edt(~centre)
    return np.clip(pen / 2 + 0.5 - dist, 0.0, 1.0).astype(np.float32)


def _digit(image: np.ndarray, height: float, pen: float) -> tuple[np.ndarray, float]:
    """(ink, baseline row) of an MNIST digit ``height`` px tall redrawn with the marker."""
    from skimage.morphology import skeletonize

    ink, _ = glyphs.digit_glyph(image, height)
    pad = int(np.ceil(pen / 2)) + 2
    shape = np.pad(ink > 0.5, pad)
    centre = skeletonize(shape)
    return _pen_ink(centre if centre.any() else shape, pen), float(pad + ink.shape[0])


def _spline(points: np.ndarray, per_span: int = 10) -> np.ndarray:
    """A Catmull-Rom curve through ``points`` [k, 2]."""
    p = np.vstack([points[:1], points, points[-1:]])
    t = np.linspace(0, 1, per_span, endpoint=False)[:, None]
    out = []
    for i in range(1, len(p) - 2):
        p0, p1, p2, p3 = p[i - 1], p[i], p[i + 1], p[i + 2]
        out.append(
            0.5
            * (
                2 * p1
                + (p2 - p0) * t
                + (2 * p0 - 5 * p1 + 4 * p2 - p3) * t**2
                + (3 * p1 - p0 - 3 * p2 + p3) * t**3
            )
        )
    return np.vstack([*out, p[-2:-1]])


# The S of "$": control points (x in widths, y in heights from its top left).
_S = np.array(
    [
        [0.92, 0.18],
        [0.55, 0.0],
        [0.12, 0.15],
        [0.2, 0.4],
        [0.5, 0.5],
        [0.85, 0.62],
        [0.88, 0.88],
        [0.5, 1.0],
        [0.08, 0.85],
    ]
)


def _symbol(char: str, h: float, pen: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """(ink, baseline row) of a phone-style symbol for digits ``h`` px tall."""
    pad = pen / 2 + 2
    if char == "$":
        sh = rng.uniform(0.85, 1.0) * h
        d = pen * rng.uniform(0.9, 1.3)  # each bar's distance from the S's middle
        sw = max(rng.uniform(0.5, 0.65) * h, 2 * d + 2 * pen)
        over, under = rng.uniform(0.08, 0.16, 2) * h
        ctrl = _S + rng.normal(0, 0.03, _S.shape)
        curve = np.stack([pad + ctrl[:, 0] * sw, pad + over + ctrl[:, 1] * sh], 1)
        bottom = pad + over + sh + under
        bars = [
            np.array([[pad + sw / 2 + s * d, pad], [pad + sw / 2 + s * d, bottom]]) for s in (-1, 1)
        ]
        lines = [_spline(curve), *bars]
        shape = (int(np.ceil(bottom + pad)), int(np.ceil(2 * pad + sw)))
        base = pad + over + sh
    elif char == "*":
        r = rng.uniform(0.25, 0.35) * h
        c = pad + 1.2 * r
        a = np.radians(rng.uniform(35, 55))
        arms = [glyphs.chord(c, r * rng.uniform(0.85, 1.1), t) for t in (a, np.pi - a)]
        bar = glyphs.chord(c, r * rng.uniform(0.9, 1.2), np.radians(rng.normal(0, 5)))
        lines = [*arms, bar]
        shape = (int(np.ceil(2 * c)), int(np.ceil(2 * c)))
        base = c + rng.uniform(0.4, 0.65) * h
    elif char == ".":
        diameter = pen * rng.uniform(1.3, 1.7)
        c = diameter / 2 + 2
        lines = [np.array([[c, c], [c + 0.01, c]])]
        shape = (int(np.ceil(2 * c)), int(np.ceil(2 * c)))
        return glyphs._strokes(lines, diameter, shape), c + diameter / 2 - rng.uniform(
            -0.02, 0.06
        ) * h
    elif char == ",":
        length = rng.uniform(0.25, 0.38) * h
        lean = np.radians(rng.uniform(15, 35))
        dx, dy = length * np.sin(lean), length * np.cos(lean)
        lines = [np.array([[pad + dx, pad], [pad, pad + dy]])]
        shape = (int(np.ceil(2 * pad + dy)), int(np.ceil(2 * pad + dx)))
        base = pad + rng.uniform(0.0, 0.1) * h
    else:
        raise ValueError(f"no phone-style glyph for {char!r}")
    return glyphs._strokes(lines, pen, shape), float(base)


def _gap(a: str, b: str, h: float, rng: np.random.Generator) -> float:
    """Pixels between the ink boxes of neighbours ``a`` and ``b``."""
    if a in ".," or b in ".,":
        return rng.uniform(0.06, 0.16) * h
    if a.isdigit() and b.isdigit():
        return (rng.uniform(-0.06, 0.0) if rng.random() < 0.15 else rng.uniform(0.04, 0.25)) * h
    return rng.uniform(0.05, 0.25) * h


def _homography(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 3x3 projective map taking the four points ``src`` [4, 2] to ``dst`` [4, 2]."""
    rows, rhs = [], []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        rhs += [u, v]
    return np.append(np.linalg.solve(np.array(rows), np.array(rhs)), 1.0).reshape(3, 3)


def _outline_distance(u: np.ndarray, v: np.ndarray, x0, y0, x1, y1) -> np.ndarray:
    """Distance of the points (u, v) to the outline of the rectangle [x0, x1] x [y0, y1]."""
    dx = np.maximum(np.maximum(x0 - u, u - x1), 0)
    dy = np.maximum(np.maximum(y0 - v, v - y1), 0)
    inside = np.minimum(np.minimum(u - x0, x1 - u), np.minimum(v - y0, y1 - v))
    return np.where((dx > 0) | (dy > 0), np.hypot(dx, dy), inside)


def _photo_span(forward: np.ndarray, box, height: int, width: int) -> tuple[slice, slice]:
    """(rows, columns) of the photo [height, width] whose pixel centres the projective map
    ``forward`` (paper -> photo) can take into the paper box (top, left, bottom, right) grown by
    one pixel on every side, with a pixel to spare."""
    top, left, bottom, right = box
    xs, ys = [left - 1.5, right + 0.5], [top - 1.5, bottom + 0.5]
    corners = np.array([[x, y, 1.0] for x in xs for y in ys]).T
    p = forward @ corners
    x, y = p[0] / p[2] - 0.5, p[1] / p[2] - 0.5  # pixel-centre coordinates
    r0, r1 = max(int(np.floor(y.min())) - 1, 0), min(int(np.ceil(y.max())) + 2, height)
    c0, c1 = max(int(np.floor(x.min())) - 1, 0), min(int(np.ceil(x.max())) + 2, width)
    return slice(r0, max(r0, r1)), slice(c0, max(c0, c1))


def render_parts(text: str, pool, rng: np.random.Generator) -> tuple[Field, np.ndarray, np.ndarray]:
    """(the field, the characters' ink [H, W] and its printed grid or box [H, W], both coverage
    in [0, 1] as photographed, before light, blur and noise) of ``text`` in the phone style with
    digits from ``pool`` (images, labels, rows)."""
    images, labels, rows = pool
    h = rng.uniform(40, 64)
    pen = rng.uniform(0.14, 0.2) * h
    slant = rng.uniform(0.1, 0.35)
    placed, digit_rows = [], []
    x = 0.0
    for i, char in enumerate(text):
        size = h * rng.uniform(0.85, 1.15)
        if char.isdigit():
            k = rng.choice(np.flatnonzero(labels == int(char)))
            ink, base = _digit(images[k], size, pen)
            digit_rows.append(int(rows[k]))
        else:
            ink, base = _symbol(char, size, pen, rng)
            digit_rows.append(-1)
        ink, base = glyphs.slant(ink, base, slant + rng.normal(0, 0.03))
        if i > 0:
            x += _gap(text[i - 1], char, h, rng)
        placed.append((ink, base - rng.normal(0, 0.03 * h), x))  # base: rows above the baseline
        x += ink.shape[1]
    tops = [-base for _, base, _ in placed]
    bottoms = [ink.shape[0] - base for ink, base, _ in placed]
    top, left = rng.uniform(0.4, 0.8) * h - min(tops), rng.uniform(0.4, 1.0) * h
    H = int(np.ceil(top + max(bottoms) + rng.uniform(0.4, 0.8) * h))
    W = int(np.ceil(left + x + rng.uniform(0.4, 1.0) * h))
    layers = np.zeros((len(text), H, W), np.float32)
    boxes = []  # each character's (top, left, bottom, right) on the paper
    for i, (ink, base, x0) in enumerate(placed):
        r0, c0 = int(round(top - base)), int(round(left + x0))
        layers[i, r0 : r0 + ink.shape[0], c0 : c0 + ink.shape[1]] = ink
        boxes.append((r0, c0, r0 + ink.shape[0], c0 + ink.shape[1]))

    # the paper in perspective: corners moved by the keystones, turned about the centre
    theta = np.radians(rng.uniform(-4, 4))
    wider, taller = rng.uniform(-0.06, 0.06, 2)
    corners = np.array([[0, 0], [W, 0], [W, H], [0, H]], float)
    centre = np.array([W / 2, H / 2])
    moved = corners - centre
    moved[:, 0] *= 1 + np.where(moved[:, 1] < 0, wider, -wider) / 2
    moved[:, 1] *= 1 + np.where(moved[:, 0] < 0, taller, -taller) / 2
    turn = np.array([[np.cos(theta), -np.sin(theta)], [np.sin(theta), np.cos(theta)]])
    moved = moved @ turn.T
    moved -= moved.min(0)
    W2, H2 = (int(np.ceil(m)) for m in moved.max(0))
    back = _homography(moved, corners)  # photo -> paper
    yy, xx = np.mgrid[0:H2, 0:W2] + 0.5
    p = back @ np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)])
    u, v = (p[0] / p[2]).reshape(H2, W2), (p[1] / p[2]).reshape(H2, W2)
    forward = np.linalg.inv(back)  # paper -> photo
    warped = np.zeros((len(text), H2, W2), np.float32)
    for layer, box, out in zip(layers, boxes, warped, strict=True):
        # a bilinear sample is 0 unless one of its four pixels lies in the character's box, so
        # only the photo pixels that the box grown by a pixel maps onto need sampling
        rows, cols = _photo_span(forward, box, H2, W2)
        coords = [v[rows, cols] - 0.5, u[rows, cols] - 0.5]
        out[rows, cols] = ndimage.map_coordinates(layer, coords, order=1, cval=0.0)
    ink = warped.max(0)
    owner = np.where(ink >= INKED, warped.argmax(0), -1).astype(np.int8)

    blue = np.array([rng.uniform(0.45, 0.6), rng.uniform(0.7, 0.8), rng.uniform(0.9, 1.0)])
    if rng.random() < 0.5:
        cell = rng.uniform(0.45, 0.7) * h
        ox, oy = rng.uniform(0, cell, 2)
        dist = np.minimum(
            np.abs((u - ox + cell / 2) % cell - cell / 2),
            np.abs((v - oy + cell / 2) % cell - cell / 2),
        )
        width, strength = rng.uniform(1.0, 1.8), rng.uniform(0.35, 0.7)
    else:
        inset = rng.uniform(0.1, 0.3) * h
        dist = np.abs(_outline_distance(u, v, inset, inset, W - inset, H - inset))
        width, strength = rng.uniform(1.5, 3.0), rng.uniform(0.5, 0.8)
    printed = np.clip(width / 2 + 0.5 - dist, 0.0, 1.0)

    rgb = np.ones((H2, W2, 3)) * rng.uniform(0.94, 1.0, 3)
    rgb *= 1 - (strength * printed)[..., None] * (1 - blue)
    colour = rng.uniform(0.02, 0.1, 3)
    colour[rng.integers(3)] += rng.uniform(0, 0.12)
    cover = (ink * rng.uniform(0.9, 0.98))[..., None]
    rgb = rgb * (1 - cover) + colour * cover
    dark, bright = rng.uniform(0.6, 0.85), rng.uniform(0.9, 1.0)
    if rng.random() < 0.5:
        angle = rng.uniform(0, 2 * np.pi)
        t = xx * np.cos(angle) + yy * np.sin(angle)
        light = dark + (bright - dark) * (t - t.min()) / max(np.ptp(t), 1e-9)
    else:
        cx, cy = rng.uniform(0, W2), rng.uniform(0, H2)
        r = np.hypot(xx - cx, yy - cy)
        light = bright - (bright - dark) * (r / r.max()) ** 2
    rgb *= light[..., None] * np.array([1.0, rng.uniform(0.95, 1.0), rng.uniform(0.88, 1.0)])
    sigma = rng.uniform(0.6, 1.6)
    rgb = ndimage.gaussian_filter(rgb, (sigma, sigma, 0))
    rgb += rng.normal(0, rng.uniform(0.01, 0.03), rgb.shape)
    grey = rgb @ LUMA
    image = np.clip(np.round(grey * 255), 0, 255).astype(np.uint8)
    image = jpeg_round_trip(image, int(rng.integers(60, 91)))
    boxes = np.array([column_span(owner == k) for k in range(len(text))], np.int64).reshape(-1, 2)
    field = Field(text, image, owner, boxes, np.array(digit_rows, np.int64))
    return field, ink, printed.astype(np.float32)


def render_heldout(text: str, pool, rng: np.random.Generator) -> Field:
    """Render ``text`` in the phone style with digits from ``pool`` (images, labels, rows)."""
    return render_parts(text, pool, rng)[0]


def generate_heldout(n: int, seed: int):
    """``n`` phone-style fields of amounts from :func:`.amounts.sample_amount`, digits from the
    MNIST *test* split only; deterministic in (n, seed)."""
    from .data import FieldSet

    pool = mnist.digits("test")
    rng = np.random.default_rng([seed, 78])
    return FieldSet(
        "test", [render_heldout(amounts.sample_amount(rng), pool, rng) for _ in range(n)]
    )
