"""Heuristic over-segmentation and the segmentation graph.

Candidate cuts are vertical lines at (1) the middle of every blank column run, (2) the left and
right edges of every connected component, and (3) local minima of the vertical ink projection
plus the upper/lower contour distance; cuts closer than ``min_gap`` are merged, keeping the
stronger kind. This deliberately cuts more than needed: the recogniser and the grammar decide
which cuts are real. Everything happens on the normalised field (:mod:`.normalise`: paper and
printed lines removed, tilt and slant undone, the core band scaled to a fixed height), so the
same settings serve every resolution.

The segmentation graph has one state per cut (left to right) and one arc per candidate segment,
a span of 1..``max_pieces`` consecutive pieces no wider than ``max_width`` core-band heights.
Arc k carries label k (its segment index) and energy 0; start = the first cut, final = the last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

import gtn

from .glyphs import resize
from .normalise import CORE, HEIGHT, Normalised, normalise

SIZE = 32  # recogniser input: SIZE x SIZE
_BAND = 28  # the field's ink band maps to this many rows (2 px margin above and below)
INK = 0.4  # threshold on normalised ink for cut finding
BAND = (0, HEIGHT)  # every row of the normalised field goes into the segment images


@dataclass(frozen=True)
class SegmenterSettings:
    min_gap: float = 0.12  # merge cuts closer than this many band heights
    max_pieces: int = 5
    max_width: float = 1.6  # core-band heights
    min_area: int = 1  # smaller components are specks (3 dropped small dots and fragments)


DEFAULT_SEGMENTER = SegmenterSettings()


@dataclass
class Segmentation:
    """The candidate segments of one field.

    cuts: int [n+1] cut columns, increasing; piece i is columns [cuts[i], cuts[i+1]).
    start, end: int32 [S] the cut indices each segment spans (segment s = [cuts[start], cuts[end])).
    band: (top, bottom) rows of the normalised field that go into the segment images.
    images: uint8 [S, 32, 32] segment ink (255 = ink), the band's height -> 28 rows.
    aspect: float32 [S] log(segment width / core-band height).
    """

    cuts: np.ndarray
    start: np.ndarray
    end: np.ndarray
    band: tuple[int, int]
    images: np.ndarray
    aspect: np.ndarray

    @property
    def num_segments(self) -> int:
        return int(self.start.shape[0])

    def graph(self) -> gtn.Graph:
        """The segmentation graph (see the module docstring)."""
        n = self.cuts.shape[0]
        labels = np.arange(self.num_segments, dtype=np.int32)
        return gtn.Graph.from_arrays(n, self.start, self.end, labels, start=[0], final=[n - 1])


def _clean(ink: np.ndarray, min_area: int) -> tuple[np.ndarray, np.ndarray, int]:
    binary = ink > INK
    labels, count = ndimage.label(binary, structure=np.ones((3, 3)))
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    keep = areas >= min_area
    keep[0] = False
    return keep[labels], labels * keep[labels], count


def find_cuts(ink: np.ndarray, settings: SegmenterSettings = DEFAULT_SEGMENTER):
    """(cuts int [n+1], band (top, bottom)) of a normalised ink image [H, W]; cuts is empty if
    the field has no ink."""
    binary, components, count = _clean(ink, settings.min_area)
    cols = binary.any(0)
    rows = np.flatnonzero(binary.any(1))
    if rows.size == 0:
        return np.zeros(0, np.int64), (0, 0)
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    inked = np.flatnonzero(cols)
    first, last = int(inked[0]), int(inked[-1]) + 1
    strong = [first, last]
    # (1) middles of blank runs between ink
    blank = ~cols[first:last]
    edges = np.flatnonzero(np.diff(np.concatenate([[0], blank.astype(np.int8), [0]])))
    strong += [first + (a + b) // 2 for a, b in zip(edges[::2], edges[1::2], strict=True)]
    # (2) connected-component edges inside an ink run (a blank run already has its cut)
    medium = []
    for sl in ndimage.find_objects(components):
        if sl is not None:
            medium += [
                x
                for x in (sl[1].start, sl[1].stop)
                if 0 < x < cols.size and cols[x - 1] and cols[x]
            ]
    # (3) minima of projection + contour distance, strongest (lowest) first
    projection = binary.sum(0).astype(np.float64)
    h = np.arange(binary.shape[0])[:, None]
    upper = np.where(binary, h, binary.shape[0]).min(0)
    lower = np.where(binary, h, -1).max(0)
    score = projection + np.maximum(lower - upper + 1, 0)
    smooth = np.convolve(np.pad(score, 1, mode="edge"), [0.25, 0.5, 0.25], mode="valid")
    is_min = (smooth <= np.roll(smooth, 1)) & (smooth <= np.roll(smooth, -1)) & cols
    weak = sorted(np.flatnonzero(is_min).tolist(), key=lambda x: smooth[x])
    min_gap = max(2.0, settings.min_gap * (bottom - top))
    accepted: list[int] = []
    for x in [*strong, *medium, *weak]:
        fits = all(abs(x - a) >= min_gap for a in accepted)
        if first <= x <= last and (fits or x in (first, last)):
            accepted.append(int(x))
    return np.unique(np.array(accepted, np.int64)), (top, bottom)


def segment_spans(cuts: np.ndarray, band_height: int, settings: SegmenterSettings):
    """(start, end) int32 [S]: every span of 1..max_pieces pieces within the width limit
    (single pieces are always kept so that the graph has a complete path)."""
    n = cuts.shape[0]
    i, k = np.meshgrid(np.arange(n - 1), np.arange(1, settings.max_pieces + 1), indexing="ij")
    j = i + k
    ok = j < n
    width = cuts[np.minimum(j, n - 1)] - cuts[i]
    ok &= (width <= settings.max_width * band_height) | (k == 1)
    return i[ok].astype(np.int32), j[ok].astype(np.int32)


def segment_images(ink, cuts, start, end, band, core) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [S, 32, 32], aspect float32 [S]: log(width / core)); see
    :class:`Segmentation`."""
    top, bottom = band
    scale = _BAND / max(bottom - top, 1)
    images = np.zeros((start.shape[0], SIZE, SIZE), np.float32)
    x0s, x1s = cuts[start], cuts[end]
    for s, (x0, x1) in enumerate(zip(x0s, x1s, strict=True)):
        width = min(SIZE - 4, max(1, int(round((x1 - x0) * scale))))
        patch = resize(ink[top:bottom, x0:x1], _BAND, width)
        left = (SIZE - width) // 2
        images[s, 2 : 2 + _BAND, left : left + width] = np.clip(patch, 0, 1)
    aspect = np.log(np.maximum(x1s - x0s, 1) / core).astype(np.float32)
    return np.round(images * 255).astype(np.uint8), aspect


def segment(image: np.ndarray, settings: SegmenterSettings = DEFAULT_SEGMENTER) -> Segmentation:
    """Over-segment a field image (uint8 [H, W], dark ink on white), after normalising it
    (:func:`.normalise.normalise`): cuts are columns of the normalised field."""
    return segment_normalised(normalise(image), settings)


def segment_normalised(norm: Normalised | None, settings: SegmenterSettings = DEFAULT_SEGMENTER):
    """:func:`segment` of an already normalised field (None: a field with no ink)."""
    cuts = np.zeros(0, np.int64) if norm is None else find_cuts(norm.ink, settings)[0]
    if cuts.shape[0] < 2:
        empty = np.zeros(0, np.int32)
        return Segmentation(
            cuts, empty, empty, BAND, np.zeros((0, SIZE, SIZE), np.uint8), np.zeros(0, np.float32)
        )
    core = CORE[1] - CORE[0]
    start, end = segment_spans(cuts, core, settings)
    images, aspect = segment_images(norm.ink, cuts, start, end, BAND, core)
    return Segmentation(cuts, start, end, BAND, images, aspect)


def normalised_view(image: np.ndarray) -> np.ndarray:
    """The field as the segmenter sees it: uint8 [HEIGHT, W] dark ink on white (for figures)."""
    norm = normalise(image)
    ink = np.zeros((HEIGHT, 8), np.float32) if norm is None else norm.ink
    return np.round(255 * (1 - ink)).astype(np.uint8)
