"""Rendering an amount string into a grey-level field image, with documented difficulty.

Difficulty (fixed; ``FieldStyle`` holds the numbers):
- field height 32-48 px; digit height 50-60% of it; per-character scale x U(0.85, 1.15);
- baseline jitter N(0, 4% of the digit height) per character;
- slant: a per-field shear U(-0.1, 0.35) plus N(0, 0.06) per character;
- gap between adjacent characters' boxes, as a fraction of the mean width of the pair: for two
  digits, with probability 0.4 U(-25%, 0%) (boxes touch or overlap; the ink often touches),
  otherwise, and always next to a symbol, U(3%, 60%);
- a broken stroke (a 1-2 px erased band) in 10% of characters (not periods and commas);
- noise: paper tint U(0.88, 1), ink darkness U(0.7, 0.95), Gaussian pixel noise with sigma
  U(0.02, 0.06), and about one ink speck per 2,500 px.
Dark ink on white, uint8.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from . import glyphs


@dataclass(frozen=True)
class FieldStyle:
    height: tuple[int, int] = (32, 48)
    digit_height: tuple[float, float] = (0.5, 0.6)
    scale: float = 0.15
    baseline_jitter: float = 0.04
    slant: tuple[float, float] = (-0.1, 0.35)
    slant_jitter: float = 0.06
    touch_probability: float = 0.4
    overlap: float = 0.25
    gap: float = 0.6
    broken: float = 0.1
    noise: tuple[float, float] = (0.02, 0.06)
    specks_per_pixel: float = 1 / 2500

    def as_dict(self) -> dict:
        return asdict(self)


DEFAULT_STYLE = FieldStyle()


@dataclass
class Field:
    """A rendered field: image uint8 [H, W] (dark ink on white); owner int8 [H, W], the index of
    the character whose ink dominates each inked pixel (-1 elsewhere); boxes int [n, 2], each
    character's ink columns [left, right); digit_rows: MNIST row of each digit (-1 for symbols)."""

    text: str
    image: np.ndarray
    owner: np.ndarray
    boxes: np.ndarray
    digit_rows: np.ndarray


def _glyph(char, height, pool, rng, style):
    images, labels, rows = pool
    if char.isdigit():
        choice = rng.choice(np.flatnonzero(labels == int(char)))
        ink, base = glyphs.digit_glyph(images[choice], height)
        row = int(rows[choice])
    else:
        ink, base = glyphs.symbol_glyph(char, height, rng)
        row = -1
    # A period or comma is a dot a few pixels wide: a band erased across it would wipe out the
    # whole character, leaving the amount's text with a symbol the image does not show.
    if rng.random() < style.broken and char not in ".,":
        ink = glyphs.break_stroke(ink, rng)
    return ink, base, row


def render_field(text: str, pool, rng: np.random.Generator, style: FieldStyle = DEFAULT_STYLE):
    """Render ``text`` with digits drawn from ``pool`` = (images, labels, rows) of one split.

    Returns a :class:`Field`.
    """
    H = int(rng.integers(style.height[0], style.height[1] + 1))
    h = H * rng.uniform(*style.digit_height)
    field_slant = rng.uniform(*style.slant)
    baseline = 0.8 * H
    placed = []
    for char in text:
        size = h * rng.uniform(1 - style.scale, 1 + style.scale)
        ink, base, row = _glyph(char, size, pool, rng, style)
        ink, base = glyphs.slant(ink, base, field_slant + rng.normal(0, style.slant_jitter))
        base += rng.normal(0, style.baseline_jitter * h)
        placed.append((ink, base, row))
    # Horizontal layout: each gap is a fraction of the mean width of its two characters.
    x = rng.uniform(0.1, 0.5) * h
    lefts = []
    for i, (ink, _, _) in enumerate(placed):
        if i:
            prev_w = placed[i - 1][0].shape[1]
            mean_w = 0.5 * (prev_w + ink.shape[1])
            # Only digit pairs touch: a period or comma under a digit would be unreadable.
            digits = text[i - 1].isdigit() and text[i].isdigit()
            if digits and rng.random() < style.touch_probability:
                frac = rng.uniform(-style.overlap, 0.0)
            else:
                frac = rng.uniform(0.03, style.gap)
            x = lefts[-1] + prev_w + frac * mean_w
        lefts.append(x)
    lefts = np.round(np.array(lefts)).astype(int)
    W = int(lefts[-1] + placed[-1][0].shape[1] + rng.uniform(0.1, 0.5) * h) + 1
    layers = np.zeros((len(text), H, W), np.float32)
    for i, ((ink, base, _), left) in enumerate(zip(placed, lefts, strict=True)):
        top = int(round(baseline - base))
        r0, r1 = max(0, top), min(H, top + ink.shape[0])
        if r1 > r0:
            layers[i, r0:r1, left : left + ink.shape[1]] = ink[r0 - top : r1 - top]
    ink = layers.max(0)
    owner = np.where(ink > 0.35, layers.argmax(0), -1).astype(np.int8)
    boxes = np.array([_columns(layer) for layer in layers], np.int64).reshape(-1, 2)
    image = _paper(ink, rng, style)
    rows = np.array([r for _, _, r in placed], np.int64)
    return Field(text, image, owner, boxes, rows)


def _columns(layer: np.ndarray) -> tuple[int, int]:
    cols = np.flatnonzero(layer.max(0) > 0.35)
    return (int(cols[0]), int(cols[-1]) + 1) if cols.size else (0, 0)


def _paper(ink: np.ndarray, rng: np.random.Generator, style: FieldStyle) -> np.ndarray:
    H, W = ink.shape
    specks = rng.poisson(H * W * style.specks_per_pixel)
    ink = ink.copy()
    ys, xs = rng.integers(0, H, specks), rng.integers(0, W, specks)
    ink[ys, xs] = np.maximum(ink[ys, xs], rng.uniform(0.3, 0.8, specks))
    paper = rng.uniform(0.88, 1.0) - rng.uniform(0.7, 0.95) * ink
    paper = paper + rng.normal(0, rng.uniform(*style.noise), ink.shape)
    return np.clip(np.round(paper * 255), 0, 255).astype(np.uint8)


def touching_fraction(boxes_per_field: list[np.ndarray], texts: list[str]) -> float:
    """Fraction of adjacent digit pairs whose ink boxes touch or overlap."""
    touching = total = 0
    for boxes, text in zip(boxes_per_field, texts, strict=True):
        for i in range(len(text) - 1):
            if text[i].isdigit() and text[i + 1].isdigit():
                total += 1
                touching += boxes[i + 1, 0] <= boxes[i, 1]
    return touching / max(total, 1)
