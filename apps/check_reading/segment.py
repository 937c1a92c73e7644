"""Heuristic over-segmentation and the segmentation graph.

Straight candidate cuts are vertical lines at (1) the middle of every blank column run, (2) the
left and right edges of every connected component, and (3) local minima of the vertical ink
projection plus the upper/lower contour distance; straight cuts closer than ``min_gap`` are
merged, keeping the stronger kind. Where a straight cut crosses ink, (4) a shortest-path cut is
sought near it: the top-to-bottom path (one column per row, at most one column of drift per
row, within ``curve_radius`` of the straight cut) that crosses the least ink; it is kept when it
crosses at least ``curve_gain`` less ink than the straight cut (two digits that overlap in
columns, or touch at a thin joint; a period tucked under a digit). (5) Every blob (a small
component on the baseline: a period or a comma) gets a cut on each side, the least-ink path
that passes just beside it at its centre row (``blob_cuts``): straight cuts around a blob are
often merged away (closer than ``min_gap``), miss its faint fringe, or cross the digit it is
tucked against; with ``blob_strong``, blobs are also sought where only the darker ink is
kept (a period joined to its digit by a faint smear). A cut is therefore a column per row
(``Segmentation.paths``). This deliberately cuts more than needed: the recogniser and the
grammar decide which cuts are real. Everything happens on the normalised field
(:mod:`.normalise`: paper and printed lines removed, tilt and slant undone, the core band
scaled to a fixed height), so the same settings serve every resolution.

The segmentation graph has one state per cut, ordered by mean column, and one arc per candidate
segment: the region between two cuts that do not cross (the right one lies right of the left
one in every row), holding at most ``max_pieces`` pieces (the cuts inside it, + 1) and no wider
than ``max_width`` core-band heights; each cut's nearest non-crossing cut to the right is always
an arc, so the graph has a complete path. Arc k carries label k (its segment index) and energy
0; start = the first cut (the ink's left edge), final = the last.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

import gtn

from .glyphs import resize
from .normalise import CORE, HEIGHT, Normalised, normalise, runs

SIZE = 32  # recogniser input: SIZE x SIZE
_BAND = 28  # the field's ink band maps to this many rows (2 px margin above and below)
INK = 0.4  # threshold on normalised ink for cut finding
BAND = (0, HEIGHT)  # every row of the normalised field goes into the segment images


@dataclass(frozen=True)
class SegmenterSettings:
    min_gap: float = 0.15  # merge straight cuts closer than this many band heights
    max_pieces: int = 10
    max_width: float = 2.5  # core-band heights (a narrow digit between wide gaps spans > 2)
    min_area: int = 1  # smaller components are specks (3 dropped small dots and fragments)
    curve_radius: float = 0.35  # shortest-path cuts wander this many band heights (0: none)
    curve_gain: float = 0.5  # a curved cut must cross this much less ink than its seed
    seed_step: float = 0.0  # also seek curved cuts every this many band heights (0: no)
    curve_merge: float = 0.06  # paths closer than this many band heights everywhere are one
    blob_size: float = 0.4  # a blob (period, comma) is at most this many core heights tall
    # and wide, and gets a cut on each side (0: no blob cuts)
    blob_min_area: int = 10  # smaller components are specks, not blobs
    blob_margin: int = 2  # blob cuts pass this many columns outside its ink (its faint fringe)
    blob_strong: float = 0.6  # also seek blobs among the components of ink above this (0: no)


DEFAULT_SEGMENTER = SegmenterSettings()


@dataclass
class Segmentation:
    """The candidate segments of one field.

    cuts: int [n+1] cut columns, increasing; piece i is columns [cuts[i], cuts[i+1]).
    start, end: int32 [S] the cut indices each segment spans (segment s = [cuts[start], cuts[end])).
    band: (top, bottom) rows of the normalised field that go into the segment images.
    images: uint8 [S, 32, 32] segment ink (255 = ink), the band's height -> 28 rows.
    aspect: float32 [S] log(segment width / core-band height).
    paths: int64 [n+1, HEIGHT] each cut's column in every row of the normalised field (a
        straight cut is one column throughout); segment s is the pixels with
        paths[start[s], y] <= x < paths[end[s], y]. cuts[k] is cut k's mean column.
    """

    cuts: np.ndarray
    start: np.ndarray
    end: np.ndarray
    band: tuple[int, int]
    images: np.ndarray
    aspect: np.ndarray
    paths: np.ndarray

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
    """(cuts int [n+1], band (top, bottom)) of a normalised ink image [H, W]: the straight cuts'
    columns (see the module docstring); cuts is empty if the field has no ink."""
    binary, components, _ = _clean(ink, settings.min_area)
    cols = binary.any(0)
    rows = np.flatnonzero(binary.any(1))
    if rows.size == 0:
        return np.zeros(0, np.int64), (0, 0)
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    inked = np.flatnonzero(cols)
    first, last = int(inked[0]), int(inked[-1]) + 1
    strong = [first, last]
    # (1) middles of blank runs between ink
    strong += [first + (a + b) // 2 for a, b in runs(~cols[first:last])]
    # (2) connected-component edges inside an ink run (a blank run already has its cut)
    spans = [sl[1] for sl in ndimage.find_objects(components) if sl is not None]
    edges = [x for span in spans for x in (span.start, span.stop)]
    medium = [x for x in edges if 0 < x < cols.size and cols[x - 1] and cols[x]]
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


def path_cuts(
    ink: np.ndarray,
    seeds: np.ndarray,
    radius: int,
    rows: tuple[int, int],
    through: np.ndarray | None = None,
):
    """Shortest-path cuts: for each seed column x0, the top-to-bottom path through ``ink``
    [H, W] (one column per row, moving at most one column per row) within x0 +- radius that
    crosses the least ink; rows outside ``rows`` (top, bottom) continue the path straight.
    ``through`` (int [K], optional): a row where seed k's path must be at column x0 (an
    anchored cut, e.g. beside a small blob); -1 or None: no anchor.
    Returns (paths int64 [K, H], cost float64 [K]: the ink crossed, in pixels)."""
    H, W = ink.shape
    top, bottom = rows
    K, span = seeds.shape[0], 2 * radius + 1
    if K == 0:
        return np.zeros((0, H), np.int64), np.zeros(0)
    x = seeds[:, None] + np.arange(-radius, radius + 1)[None, :]  # [K, span]
    inside = (x >= 0) & (x < W)
    xc = np.clip(x, 0, W - 1)
    # a step away from the seed costs a little, so that flat stretches keep the seed's column
    drift = _DRIFT * np.abs(np.arange(-radius, radius + 1))[None, :] / max(radius, 1)
    big = np.float64(1e9)
    anchor = np.full(K, -1) if through is None else np.asarray(through)
    off_seed = np.where(np.arange(-radius, radius + 1) == 0, 0.0, big)[None, :]  # [1, span]

    def pinned(y: int) -> np.ndarray:
        return np.where((anchor == y)[:, None], off_seed, 0.0)

    total = np.where(inside, ink[top, xc] + drift, big) + pinned(top)
    back = np.zeros((bottom - top, K, span), np.int8)
    left, right = np.full((K, span), big), np.full((K, span), big)
    for y in range(top + 1, bottom):
        left[:, 1:] = total[:, :-1] + _STEP
        right[:, :-1] = total[:, 1:] + _STEP
        options = np.stack([left, total, right])  # from x-1, x, x+1
        choice = options.argmin(0)
        back[y - top] = choice.astype(np.int8) - 1
        total = np.take_along_axis(options, choice[None], 0)[0]
        total = total + np.where(inside, ink[y, xc] + drift, big) + pinned(y)
    j = total.argmin(1)
    cost = total[np.arange(K), j] - drift[0, j]
    paths = np.empty((K, H), np.int64)
    for y in range(bottom - 1, top - 1, -1):
        paths[:, y] = xc[np.arange(K), j]
        if y > top:
            j = j + back[y - top, np.arange(K), j]
    paths[:, :top] = paths[:, top : top + 1]
    paths[:, bottom:] = paths[:, bottom - 1 : bottom]
    return paths, cost


_DRIFT = 0.05  # cost of the full radius away from the seed, per row (ink crossed costs ~1/px)
_STEP = 0.02  # cost of a diagonal step
_BLOB_BELOW = 0.05  # a blob's centre may lie this many core heights below the baseline


def find_paths(ink: np.ndarray, settings: SegmenterSettings = DEFAULT_SEGMENTER):
    """(paths int64 [n+1, H], band): every cut of a normalised ink image [H, W] as a column per
    row, ordered left to right by mean column (see the module docstring); paths is empty if
    the field has no ink."""
    cuts, band = find_cuts(ink, settings)
    H = ink.shape[0]
    straight = np.repeat(cuts[:, None], H, 1)
    if cuts.size < 2 or settings.curve_radius <= 0:
        return straight, band
    top, bottom = band
    height = bottom - top
    binary, components, _ = _clean(ink, settings.min_area)
    masked = np.where(binary, ink, 0.0)
    # a straight cut through ink may have a curved neighbour that crosses less of it
    step = max(1, int(round(settings.seed_step * height))) if settings.seed_step > 0 else 0
    grid = np.arange(cuts[0] + 1, cuts[-1], step) if step else np.zeros(0, np.int64)
    seeds = np.union1d(cuts[1:-1], grid)
    seeds = seeds[binary[:, seeds].any(0)]
    across = masked[top:bottom, seeds].sum(0)
    radius = max(1, int(round(settings.curve_radius * height)))
    curved, cost = path_cuts(masked, seeds, radius, band)
    keep = (curved.max(1) - curved.min(1) > 1) & (cost < across - settings.curve_gain)
    curved, cost = curved[keep], cost[keep]
    accepted = list(straight)
    # blob cuts come before the other curved cuts: a blob cut a column or two from a kept
    # path still matters (the blob is small), so only exact duplicates are dropped
    blobs = blob_cuts(ink, components, band, radius, settings)
    if settings.blob_strong > 0:  # a period joined to a digit by faint ink stands apart here
        strong = ndimage.label(ink > settings.blob_strong, structure=np.ones((3, 3)))[0]
        blobs = np.concatenate([blobs, blob_cuts(ink, strong, band, radius, settings)])
    for p in blobs:
        if all(np.any(p != a) for a in accepted):
            accepted.append(p)
    for p in curved[np.argsort(cost, kind="stable")]:  # the least ink first
        if all(np.abs(p - a).max() > settings.curve_merge * height for a in accepted):
            accepted.append(p)
    paths = np.array(accepted, np.int64)
    mean = np.round(paths.mean(1)).astype(np.int64)
    # one cut per mean column (straight cuts come first, so they win ties), left to right
    _, first_of = np.unique(mean, return_index=True)
    paths = paths[first_of]
    return paths[np.argsort(paths.mean(1), kind="stable")], band


def blob_cuts(ink, components, band, radius: int, settings: SegmenterSettings):
    """Paths (int64 [K, H]) on each side of every blob (a period or a comma: a component of
    ``components`` [H, W] at most ``blob_size`` core heights tall and wide, no wider than twice
    its height, centred between the core band's middle and just below its baseline): the path
    through ``ink`` [H, W] that crosses the least ink and passes ``blob_margin`` columns left
    of (right of) the blob at its centre row, so that a blob tucked under or against a digit is
    cut out on its own. The grey ink, not the thresholded one, is the cost: the truth and the
    recogniser both see a stroke's faint fringe."""
    H, W = ink.shape
    core = CORE[1] - CORE[0]
    limit = settings.blob_size * core
    if limit <= 0:
        return np.zeros((0, H), np.int64)
    areas = np.bincount(components.ravel())
    seeds, rows = [], []
    for c, sl in enumerate(ndimage.find_objects(components), start=1):
        if sl is None or areas[c] < settings.blob_min_area:
            continue
        h, w = sl[0].stop - sl[0].start, sl[1].stop - sl[1].start
        centre = (sl[0].start + sl[0].stop - 1) // 2
        # on the baseline, not a flat dash of a dotted rule below it
        low = (CORE[0] + CORE[1]) / 2 <= centre <= CORE[1] + _BLOB_BELOW * core
        if h <= limit and w <= limit and w <= 2 * h and low:
            seeds += [sl[1].start - 1 - settings.blob_margin, sl[1].stop + settings.blob_margin]
            rows += [centre, centre]
    seeds_a = np.clip(np.array(seeds, np.int64), 0, W - 1)
    return path_cuts(ink, seeds_a, radius, band, np.array(rows, np.int64))[0]


def segment_spans(paths: np.ndarray, band_height: int, settings: SegmenterSettings):
    """(start, end) int32 [S]: every pair of cuts i < j that do not cross (cut j right of cut i
    in every row) with at most ``max_pieces`` pieces (cuts inside the pair's region, + 1) and
    width (the region's column extent) within ``max_width`` band heights; the nearest such j
    of every i is always kept, so that the graph has a complete path."""
    n = paths.shape[0]
    if n < 2:
        return np.zeros(0, np.int32), np.zeros(0, np.int32)
    le = np.all(paths[:, None, :] <= paths[None, :, :], axis=2)  # [i, j]: j right of i
    upper = np.triu(np.ones((n, n), bool), 1)
    order = le & upper
    pieces = 1 + np.einsum("ik,kj->ij", order.astype(np.int32), order.astype(np.int32))
    width = paths.max(1)[None, :] - paths.min(1)[:, None]
    ok = order & (pieces <= settings.max_pieces) & (width <= settings.max_width * band_height)
    nearest = np.where(order.any(1), order.argmax(1), -1)
    has = nearest >= 0
    ok[np.flatnonzero(has), nearest[has]] = True
    i, j = np.nonzero(ok)
    return i.astype(np.int32), j.astype(np.int32)


def segment_images(ink, paths, start, end, core) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [S, 32, 32], aspect float32 [S]: log(width / core)) of the segments of a
    normalised field ``ink`` [HEIGHT, W], every row of it (``BAND``); see :class:`Segmentation`."""
    scale = _BAND / ink.shape[0]
    images = np.zeros((start.shape[0], SIZE, SIZE), np.float32)
    x0s, x1s = paths[start].min(1), paths[end].max(1)
    curved = np.any(paths != paths[:, :1], axis=1)
    for s, (x0, x1) in enumerate(zip(x0s, x1s, strict=True)):
        region = ink[:, x0:x1]
        if curved[start[s]] or curved[end[s]]:  # a curved cut: only the pixels between the two
            columns = np.arange(x0, x1)[None, :]
            inside = (columns >= paths[start[s], :, None]) & (columns < paths[end[s], :, None])
            region = np.where(inside, region, 0.0)
        width = min(SIZE - 4, max(1, int(round((x1 - x0) * scale))))
        patch = resize(region, _BAND, width)
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
    paths = np.zeros((0, HEIGHT), np.int64) if norm is None else find_paths(norm.ink, settings)[0]
    core = CORE[1] - CORE[0]
    start, end = segment_spans(paths, core, settings)
    if paths.shape[0] < 2:  # no segment
        images, aspect = np.zeros((0, SIZE, SIZE), np.uint8), np.zeros(0, np.float32)
        return Segmentation(np.zeros(0, np.int64), start, end, BAND, images, aspect, paths)
    images, aspect = segment_images(norm.ink, paths, start, end, core)
    cuts = np.round(paths.mean(1)).astype(np.int64)
    return Segmentation(cuts, start, end, BAND, images, aspect, paths)


def normalised_view(image: np.ndarray) -> np.ndarray:
    """The field as the segmenter sees it: uint8 [HEIGHT, W] dark ink on white (for figures)."""
    norm = normalise(image)
    ink = np.zeros((HEIGHT, 8), np.float32) if norm is None else norm.ink
    return np.round(255 * (1 - ink)).astype(np.uint8)
