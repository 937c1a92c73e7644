"""The held-out style: an independent renderer that no training, tuning or model selection sees.

"Ledger": a fine ballpoint on a printed cheque form, scanned at low resolution.
- Digits (MNIST *test* digits only) are thinned to a fine pen line (the anti-aliased strokes
  thresholded at 0.6, then blurred by half a pixel) and written in grey-blue ink that scans at
  darkness U(0.45, 0.7).
- Layout by pitch, not by gaps: each digit is centred in a cell U(0.8, 1.05) digit heights wide
  with an N(0, 0.08 cell) offset, so wide digits may touch their neighbours and narrow ones stand
  apart; a period or comma is written right after the previous digit's ink at U(-0.06, 0.12)
  digit heights, in no cell of its own, so the next digit, centred in its cell, runs
  into it more often than the previous one touches it (measured in
  docs/results/check-reading.md, "Where the held-out period is lost").
- Its own symbols, drawn by code that the training renderer does not have: "$" a sine-curve S
  with one slanted bar; "*" eight spokes; "." a square pen blob U(0.17, 0.24) digit heights
  wide; "," a two-segment hooked tick.
- A back-slant U(-0.2, 0.05) and a bowed baseline (a half sine wave of U(-0.1, 0.1) digit
  heights), no rotation.
- The form: a printed rule U(0.04, 0.12) digit heights under the baseline (digits
  that reach below the baseline cross it) and a printed security
  background (a diagonal sine pattern of contrast U(0.06, 0.15)); digit height U(24, 36) px,
  the scan at half that resolution (2x2 block averaging), then JPEG at quality U(40, 75).
Dark ink on white, uint8 images at the low resolution.

``neutral`` switches any of :data:`FACTORS` off, one nuisance at a time, for the study of what
each costs the readers (``studies/heldout_factors.py``): the random draws stay the same, so the
fields differ only in that nuisance (each variant is drawn from a copy of the generator as it
stands before the default field; ``symbols`` draws its glyphs from a further copy). ``pen``
keeps MNIST's anti-aliased strokes, ``ink`` writes at darkness 0.95, ``symbols`` uses
:func:`.glyphs.symbol_glyph`, ``points`` leaves a clear gap U(0.12, 0.3) digit heights before a
period or comma, ``slant`` writes upright, ``baseline`` writes on a straight baseline, ``rule``
and ``pattern`` leave the printed rule and background out, ``scan`` keeps the full resolution,
``jpeg`` skips the JPEG round trip.
"""

from __future__ import annotations

import copy

import numpy as np
from scipy import ndimage

from . import amounts, glyphs, mnist
from .render import Field, column_span, jpeg_round_trip

NAME = "ledger"
VERSION = 1
FACTORS = (
    "pen",
    "ink",
    "symbols",
    "points",
    "slant",
    "baseline",
    "rule",
    "pattern",
    "scan",
    "jpeg",
)


def _symbol(char: str, h: float, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """(ink, baseline row) of a held-out-style symbol for digits ``h`` px tall."""
    pen = max(1.2, 0.06 * h)
    pad = pen + 1
    if char == "$":
        t = np.linspace(-0.12, 1.12, 28)
        amp = rng.uniform(0.2, 0.26) * h
        xs = pad + amp - amp * np.sin(2 * np.pi * t)
        ys = pad + 0.15 * h + (t + 0.12) / 1.24 * 0.85 * h
        lean = rng.uniform(0.05, 0.2) * h
        bar = np.array([[pad + amp + lean / 2, pad], [pad + amp - lean / 2, pad + 1.15 * h]])
        lines = [np.stack([xs, ys], 1), bar]
        shape = (int(np.ceil(2 * pad + 1.15 * h)), int(np.ceil(2 * pad + 2 * amp + lean)))
        base = pad + h
    elif char == "*":
        r = rng.uniform(0.15, 0.22) * h
        c = pad + r
        lines = [glyphs.chord(c, r, a) for a in np.radians(np.arange(4) * 45 + rng.normal(0, 5))]
        shape = (int(np.ceil(2 * c)), int(np.ceil(2 * c)))
        base = 2 * c + rng.uniform(0.35, 0.55) * h
    elif char == ".":
        s = max(4, int(round(rng.uniform(0.17, 0.24) * h)))
        return np.ones((s, s), np.float32), float(s)
    elif char == ",":
        d = rng.uniform(0.2, 0.3) * h
        lines = [np.array([[pad + 0.1 * d, pad], [pad + 0.35 * d, pad + 0.25 * d], [pad, pad + d]])]
        shape = (int(np.ceil(2 * pad + d)), int(np.ceil(2 * pad + 0.4 * d)))
        base = pad + 0.3 * d
    else:
        raise ValueError(f"no held-out glyph for {char!r}")
    return glyphs._strokes(lines, pen, shape), float(base)


def render_heldout(
    text: str, pool, rng: np.random.Generator, neutral: frozenset[str] = frozenset()
) -> Field:
    """Render ``text`` in the held-out style with digits from ``pool`` (images, labels, rows);
    ``neutral``: the :data:`FACTORS` switched off."""
    unknown = set(neutral) - set(FACTORS)
    if unknown:
        raise ValueError(f"neutral: {sorted(unknown)} not among the factors {FACTORS}")
    images, labels, rows = pool
    h = rng.uniform(24, 36)
    back = rng.uniform(-0.2, 0.05)
    pitch = rng.uniform(0.8, 1.05) * h
    placed, xs, digit_rows = [], [], []
    x = rng.uniform(0.3, 0.8) * h
    prev_right = x
    for char in text:
        if char.isdigit():
            k = rng.choice(np.flatnonzero(labels == int(char)))
            ink, base = glyphs.digit_glyph(images[k], h * rng.uniform(0.9, 1.1))
            if "pen" not in neutral:
                fine = ndimage.gaussian_filter((ink > 0.6).astype(np.float32), 0.5)
                ink = np.clip(fine * 1.6, 0, 1)
            digit_rows.append(int(rows[k]))
        else:
            ink, base = _symbol(char, h, rng)  # drawn either way: the same draws follow
            if "symbols" in neutral:
                ink, base = glyphs.symbol_glyph(char, h, copy.deepcopy(rng))
            digit_rows.append(-1)
        shear = back + rng.normal(0, 0.04)
        ink, base = glyphs.slant(ink, base, 0.0 if "slant" in neutral else shear)
        if char in ".,":
            gap = rng.uniform(-0.06, 0.12) + (0.18 if "points" in neutral else 0.0)
            left = prev_right + gap * h
        else:
            centre = x + pitch / 2 + rng.normal(0, 0.08 * pitch)
            left = centre - ink.shape[1] / 2
            x += pitch if char.isdigit() else max(pitch, ink.shape[1] + 0.1 * h)
        left = max(left, 0.0)
        prev_right = left + ink.shape[1]
        x = max(x, prev_right - 0.3 * pitch) if char in ".," else x
        placed.append((ink, base))
        xs.append(left)
    W = int(np.ceil(max(prev_right, x) + rng.uniform(0.3, 0.8) * h))
    top_margin = rng.uniform(0.5, 1.0) * h
    H = int(np.ceil(top_margin + 1.6 * h))
    baseline = top_margin + h
    bow = rng.uniform(-0.1, 0.1) * h * ("baseline" not in neutral)
    layers = np.zeros((len(text), H, W), np.float32)
    for i, ((ink, base), left) in enumerate(zip(placed, xs, strict=True)):
        l0 = int(round(left))
        mid = (l0 + ink.shape[1] / 2) / W
        top = int(round(baseline + bow * np.sin(np.pi * mid) - base))
        r0, r1 = max(0, top), min(H, top + ink.shape[0])
        c1 = min(W, l0 + ink.shape[1])
        if r1 > r0 and c1 > l0:
            layers[i, r0:r1, l0:c1] = np.maximum(
                layers[i, r0:r1, l0:c1], ink[r0 - top : r1 - top, : c1 - l0]
            )
    ink = layers.max(0)
    owner = np.where(ink > 0.35, layers.argmax(0), -1).astype(np.int8)
    darkness = rng.uniform(0.45, 0.7)
    darkness = 0.95 if "ink" in neutral else darkness
    yy, xx = np.mgrid[0:H, 0:W]
    period = rng.uniform(0.2, 0.35) * h
    pattern = rng.uniform(0.06, 0.15) * (0.5 + 0.5 * np.sin((xx + yy) * 2 * np.pi / period))
    grey = 0.97 - pattern * ("pattern" not in neutral)
    rule = int(round(baseline + rng.uniform(0.04, 0.12) * h))
    if "rule" not in neutral:
        grey[rule : rule + max(1, int(0.06 * h))] = 0.35
    grey = np.minimum(grey, 0.97 - darkness * ink)
    if "scan" not in neutral:  # the low-resolution scan: 2x2 block averages
        H2, W2 = H // 2, W // 2
        grey = grey[: 2 * H2, : 2 * W2].reshape(H2, 2, W2, 2).mean((1, 3))
        owner = owner[: 2 * H2 : 2, : 2 * W2 : 2]
    grey = grey + rng.normal(0, 0.02, grey.shape)
    image = np.clip(np.round(grey * 255), 0, 255).astype(np.uint8)
    quality = int(rng.integers(40, 76))
    image = image if "jpeg" in neutral else jpeg_round_trip(image, quality)
    boxes = np.array([column_span(owner == k) for k in range(len(text))], np.int64).reshape(-1, 2)
    return Field(text, image, owner, boxes, np.array(digit_rows, np.int64))


def generate_heldout(n: int, seed: int, neutral: frozenset[str] = frozenset()):
    """``n`` held-out-style fields of amounts from :func:`.amounts.sample_amount`, digits from
    the MNIST *test* split only; deterministic in (n, seed); ``neutral`` as for
    :func:`render_heldout`."""
    from .data import FieldSet

    pool = mnist.digits("test")
    rng = np.random.default_rng([seed, 77])
    fields = []
    for _ in range(n):
        text = amounts.sample_amount(rng)
        before = copy.deepcopy(rng)
        field = render_heldout(text, pool, rng)  # moves the generator on as the default does
        fields.append(render_heldout(text, pool, before, neutral) if neutral else field)
    return FieldSet("test", fields)
