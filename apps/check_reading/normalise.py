"""Normalising a field image before it is read: the reader sees the same thing whatever the
image's resolution, margins, guide lines, slant or slight rotation.

    grey image -> ink (paper and printed lines removed, full ink taken from the writing)
               -> core band estimated; under 40 px: image enlarged bicubically, ink again
               -> baseline tilt and slant estimated -> one resampling to HEIGHT rows

The core band is the digits' body: the rows between the 4th and 96th percentile of the ink's
row mass, widened by 1/0.92 (so that "$", "*" and comma tails, which carry little ink, do not
set the scale). It maps to rows CORE of the output; the tilt is a straight centre line fitted to
the ink's column-chunk centres (|slope| <= 0.1); the slant is the shear in [-0.8, 1.0] that
makes the column histogram of the ink sharpest (vertical strokes stand upright). Printed lines
are near-horizontal lines whose ink spans most of the width (and box edges between them);
their pixels are erased except where a stroke crosses them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

HEIGHT = 64  # rows of a normalised field
CORE = (12, 52)  # the core band maps to these rows
INK = 0.4  # threshold on normalised ink
# A printed line must stand out from the rows beside it by this much cover: rows of heavy
# writing (a 7's bar, the middle of a dense amount) can cover half the width too.
LINE_CONTRAST = 0.3
# Printed lines lighter than the writing (forms printed in pale colours) are sought again in
# faint ink, where the writing's rows reach further still: such a line must span nearly all of it.
FAINT, FAINT_COVER = 0.15, 0.8
# Enlarging a small scan (see normalise): at most this factor, and never past this many pixels
# (a speck on a large blank page must not ask for gigabytes).
ENLARGE, ENLARGED_PIXELS = 4.0, 4_000_000
_PAD = 0.25  # blank columns left and right of the ink, in core heights
_SHEARS = np.linspace(-0.8, 1.0, 37)


@dataclass
class Normalised:
    """ink: float32 [HEIGHT, W] in [0, 1] (1 = ink); ys, xs: float32 [HEIGHT, W] the source
    pixel each output pixel was sampled from (to carry other maps, e.g. the renderer's owner
    map, through the same warp); core: the source image's core-band height in px; slant, tilt:
    the shear and centre-line slope that were removed."""

    ink: np.ndarray
    ys: np.ndarray
    xs: np.ndarray
    core: float
    slant: float
    tilt: float

    def warp(self, source: np.ndarray, fill: int = -1) -> np.ndarray:
        """A label map [H, W] of the source image, resampled by nearest neighbour."""
        return ndimage.map_coordinates(
            source, [self.ys, self.xs], order=0, mode="constant", cval=fill
        ).astype(source.dtype)


def writing_ink(image: np.ndarray) -> np.ndarray:
    """float32 ink in [0, 1] (1 = darkest) of a uint8 image [H, W]: the paper's grey level (the
    median) and its noise (2.5 robust standard deviations of the pixels lighter than the
    median) removed, the darkest 0.5% of pixels taken as full ink, printed lines erased
    (:func:`remove_lines`), then full ink taken again from the darkest 0.5% of what is left: a
    printed line darker than the writing (a black rule under a ballpoint amount) does not set
    the writing's ink level. Full ink is at least 0.15 darker than the paper's floor."""
    ink = 1.0 - image.astype(np.float32) / 255.0
    paper = float(np.median(ink))
    lighter = ink[ink <= paper]
    noise = 1.4826 * float(np.median(paper - lighter)) if lighter.size else 0.0
    floor = paper + 2.5 * noise
    span = max(float(np.percentile(ink, 99.5)) - floor, 0.15)
    writing = remove_lines(np.clip((ink - floor) / span, 0.0, 1.0))
    level = float(np.percentile(writing, 99.5))  # of the first full ink
    return np.clip(writing / max(level, 0.15 / span, 1e-6), 0.0, 1.0) if level < 0.99 else writing


def remove_lines(ink: np.ndarray) -> np.ndarray:
    """ink [H, W] with printed lines erased except where a stroke crosses them: straight lines
    within +-4 degrees of horizontal inked over >= 50% of the inked width (the columns between
    the 0.2% and 99.8% quantiles of the ink) and >= 30% of each eighth of it, or in fainter ink
    (> ``FAINT``) over >= 80% of it, that cover ``LINE_CONTRAST`` more of the width than the
    rows two beyond either of their edges (thin lines, not rows of writing); then, when there
    is such a line, near-vertical box edges in the outer 15% of that width inked over >= 70%
    of the height between the first and last line (>= 80% of the image's height when only one
    line was found). A faint line's ends beyond the inked width stay (below INK, they are not
    ink there)."""
    out = ink.copy()
    # Lines are measured against the inked extent, not the image: a scan's blank margins may
    # reach far beyond the printed line.
    cols = (ink > INK).sum(0).astype(np.float64)
    if cols.sum() == 0:
        return out
    cum = np.cumsum(cols)
    lo, hi = np.searchsorted(cum, [0.002 * cum[-1], 0.998 * cum[-1]])
    inked = out[:, lo : hi + 1]  # a view: erased in place
    lines = _erase_lines(inked, 0.5, contrast=LINE_CONTRAST)
    lines += _erase_lines(inked, FAINT_COVER, threshold=FAINT, contrast=LINE_CONTRAST)
    if lines:  # a box's edges; a dashed side may have gone undetected
        top, bottom, cover = 0, ink.shape[0], 0.8
        if len(lines) >= 2:
            top = int(max(0, min(a for a, _ in lines)))
            bottom = int(min(ink.shape[0], max(b for _, b in lines)))
            cover = 0.7
        if bottom - top >= 4:
            inner = np.ascontiguousarray(inked[top:bottom].T)
            edge = np.zeros(inner.shape[0], bool)
            k = max(1, int(0.15 * inner.shape[0]))
            edge[:k] = edge[-k:] = True
            _erase_lines(inner, cover, rows_allowed=edge)
            inked[top:bottom] = inner.T
    return out


_SLOPES = np.tan(np.radians(np.linspace(-4, 4, 17)))


def _erase_lines(
    ink, min_cover, rows_allowed=None, threshold=INK, contrast=None
) -> list[tuple[float, float]]:
    """Erase, in place, near-horizontal lines of ``ink`` [H, W] inked above ``threshold``;
    returns each erased line's (top, bottom) rows at the middle column. ``contrast``: a line
    must also cover that much more of the width than the rows two beyond each of its edges
    (a thin line, not a band of writing)."""
    binary = ink > threshold
    H, W = binary.shape
    if W < 8 or not binary.any():
        return []
    ys, xs = np.nonzero(binary)
    part = np.minimum(8 * xs // W, 7)
    best = None
    for slope in _SLOPES:
        r = np.round(ys - slope * (xs - W / 2)).astype(np.int64) + W  # >= 0
        counts = np.bincount(r * 8 + part, minlength=8 * (H + 2 * W)).reshape(-1, 8)
        cover = counts.sum(1) / W
        ok = (cover >= min_cover) & (counts.min(1) >= 0.3 * W / 8)
        if contrast is not None:
            ok = _thin(ok, cover, contrast)
        if ok.any() and (best is None or cover[ok].sum() > best[0]):
            best = (cover[ok].sum(), slope, ok)
    if best is None:
        return []
    _, slope, ok = best
    if rows_allowed is not None:
        ok = ok & np.isin(np.arange(ok.size) - W, np.flatnonzero(rows_allowed))
    yy, xx = np.mgrid[0:H, 0:W]
    r_all = np.round(yy - slope * (xx - W / 2)).astype(np.int64) + W
    cols = np.arange(W)
    found = []
    for r0, r1 in runs(ok):
        r0, r1 = r0 - 1, r1 + 1  # the line's anti-aliased edges

        def inked(r):
            y = np.round(r - W + slope * (cols - W / 2)).astype(np.int64)
            inside = (y >= 0) & (y < H)
            return np.where(inside, binary[np.clip(y, 0, H - 1), cols], False)

        # a stroke crossing the line leaves ink just above and just below it
        above = ndimage.binary_dilation(inked(r0 - 1), iterations=1)
        crossing = above & ndimage.binary_dilation(inked(r1), iterations=1)
        band = (r_all >= r0) & (r_all < r1) & ~crossing[None, :]
        ink[band] = 0.0
        found.append((float(r0 - W), float(r1 - W)))
    return found


def _thin(ok: np.ndarray, cover: np.ndarray, contrast: float) -> np.ndarray:
    """``ok`` without its runs whose mean cover exceeds that of the rows two beyond either
    edge by less than ``contrast``."""
    out = ok.copy()
    for r0, r1 in runs(ok):
        outside = max(cover[max(r0 - 2, 0)], cover[min(r1 + 1, cover.size - 1)])
        if cover[r0:r1].mean() - outside < contrast:
            out[r0:r1] = False
    return out


def runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, stop) of every run of True in a bool vector."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], mask.astype(np.int8), [0]])))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _core(ys: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """(centre, height) of the core band of ink rows ``ys`` weighted by ``weights``."""
    order = np.argsort(ys)
    cum = np.cumsum(weights[order])
    lo, hi = np.interp([0.04 * cum[-1], 0.96 * cum[-1]], cum, ys[order])
    return 0.5 * (lo + hi), max((hi - lo) / 0.92, 2.0)


def normalise(image: np.ndarray) -> Normalised | None:
    """The normalised field of a uint8 image [H, W] (dark ink on white), or None when it holds
    no ink. An image whose core band is under the output's (``CORE``, 40 rows) is first
    enlarged bicubically until it is not (within ``ENLARGE`` and ``ENLARGED_PIXELS``), and
    normalised from there: the ink level, the thresholds and the slant's one-pixel bins then
    see a small scan's strokes as they see a large one's, so the same field reads nearly alike
    at any resolution (measured in docs/results/check-reading.md, "Any resolution")."""
    ink = writing_ink(image)
    pixels = _inked(ink)
    if pixels is None:
        return None
    h, w = image.shape
    factor = min((CORE[1] - CORE[0]) / pixels[3], ENLARGE, np.sqrt(ENLARGED_PIXELS / (h * w)))
    if factor <= 1.0:
        return _normalise(ink, pixels)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    big = np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC), np.uint8)
    big_ink = writing_ink(big)
    big_pixels = _inked(big_ink)
    if big_pixels is None:
        return None
    out = _normalise(big_ink, big_pixels)
    fy, fx = h / size[1], w / size[0]  # source px per enlarged px
    out.ys = ((out.ys + 0.5) * fy - 0.5).astype(np.float32)
    out.xs = ((out.xs + 0.5) * fx - 0.5).astype(np.float32)
    out.core *= fy
    return out


def _inked(ink: np.ndarray):
    """(ys, xs, weights, core height) of the inked pixels of ``ink`` [H, W], each weighted by
    its ink (thresholded extents shrink at low resolution); None when nothing is inked."""
    if not (ink > INK).any():
        return None
    ys, xs = np.nonzero(ink > 0.25)
    w = ink[ys, xs].astype(np.float64)
    return ys, xs, w, _core(ys.astype(np.float64), w)[1]


def _normalise(ink: np.ndarray, pixels) -> Normalised:
    """:func:`normalise` of the ink [H, W] of an image whose core band needs no enlarging, with
    its :func:`_inked` ``pixels``."""
    ys, xs, w, core = pixels
    tilt = _tilt(ys, xs, w, core)
    ys_flat = ys - tilt * (xs - xs.mean())
    centre, core = _core(ys_flat, w)
    # the rows that can matter: the output window around the core
    slant = _slant(ys_flat, xs, w, centre, core)
    scale = (CORE[1] - CORE[0]) / core  # output px per source px
    x_upright = xs + slant * (ys_flat - centre)  # sheared back to upright, in source px
    pad = _PAD * core
    # the ink's extent, without the outermost 0.3% of its mass (a speck in the margin)
    order = np.argsort(x_upright)
    cum = np.cumsum(w[order])
    lo, hi = np.interp([0.003 * cum[-1], 0.997 * cum[-1]], cum, x_upright[order])
    x0, x1 = lo - pad, hi + pad
    width = max(2, int(np.ceil((x1 - x0) * scale)))
    v, u = np.mgrid[0:HEIGHT, 0:width].astype(np.float64)
    x_lin = x0 + (u + 0.5) / scale - 0.5
    y_flat = centre + (v + 0.5 - 0.5 * (CORE[0] + CORE[1])) / scale
    src_y = y_flat + tilt * (x_lin - xs.mean())
    src_x = x_lin - slant * (y_flat - centre)
    source = ink
    if scale < 0.7:  # downsampling: low-pass first so that thin strokes do not alias away
        source = ndimage.gaussian_filter(ink, 0.45 / scale)
    out = ndimage.map_coordinates(source, [src_y, src_x], order=1, mode="constant", cval=0.0)
    return Normalised(
        np.clip(out, 0.0, 1.0).astype(np.float32),
        src_y.astype(np.float32),
        src_x.astype(np.float32),
        float(core),
        float(slant),
        float(tilt),
    )


def _tilt(ys, xs, w, core) -> float:
    """Slope of the line through the ink's centres in column chunks one core height wide."""
    chunk = np.floor((xs - xs.min()) / max(core, 1.0)).astype(np.int64)
    n = int(chunk.max()) + 1
    if n < 3:
        return 0.0
    mass = np.bincount(chunk, w, n)
    ok = mass > 0
    cy = np.bincount(chunk, w * ys, n)[ok] / mass[ok]
    cx = np.bincount(chunk, w * xs, n)[ok] / mass[ok]
    if ok.sum() < 3:
        return 0.0
    slope = np.polyfit(cx, cy, 1, w=np.sqrt(mass[ok]))[0]
    return float(np.clip(slope, -0.1, 0.1))


def _slant(ys, xs, w, centre, core) -> float:
    """The shear (x moved by shear * height above the centre) that sharpens the column
    histogram of the core band's ink the most; 0 when the field is too small to tell."""
    inside = np.abs(ys - centre) <= 0.6 * core
    if inside.sum() < 10:
        return 0.0
    ys, xs, w = ys[inside], xs[inside], w[inside]
    best, best_score = 0.0, -np.inf
    for k in _SHEARS:
        x = xs + k * (ys - centre)
        bins = np.floor(x - x.min()).astype(np.int64)
        hist = np.bincount(bins, w)
        score = float((hist**2).sum())
        if score > best_score + 1e-9:
            best, best_score = float(k), score
    return best
