"""Figure/ground segmentation of scikit-image's horse silhouette, made hard on purpose.

``skimage.data.horse()`` is one 328×400 binary silhouette (the horse is ``False``). Each example
takes a random scale, a random crop window (``Settings.size``) placed so that most of the horse
stays in view, and a random left–right flip; the label map is the exact silhouette in that
window (1 = horse, 0 = ground). The network's input is rendered from the label map with:

* a small figure/ground contrast (``contrast``) under a random smooth illumination field;
* background clutter: smooth random blobs with the horse's brightness (``clutter``);
* occluders: bars and rectangles of random brightness over the scene (``occluders``); the label
  underneath stays "horse", as a person would label it;
* optical blur and strong Gaussian noise (``noise``).

Caveat (documented in the README): every split uses the same silhouette; splits differ in
scale, crop, flip, clutter, occluders and noise, drawn from distinct seeds.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import numpy as np
from scipy import ndimage

CLASSES = ("ground", "horse")


@dataclass(frozen=True)
class Settings:
    """Crops and rendering (intensities in [0, 1] before noise).

    Attributes:
        size: (height, width) of each example.
        scale: range of the zoom applied to the 328×400 silhouette.
        visible: the crop keeps at least this fraction of the scaled horse in view.
        contrast: horse minus ground brightness.
        clutter: blob coverage of the background (fraction of pixels).
        occluders: inclusive range of the number of occluding bars and rectangles.
        noise: std of the additive Gaussian noise.
        blur: optical blur (Gaussian sigma, pixels).
    """

    size: tuple[int, int] = (64, 80)
    scale: tuple[float, float] = (0.19, 0.27)
    visible: float = 0.7
    contrast: float = 0.3
    clutter: float = 0.06
    occluders: tuple[int, int] = (1, 3)
    noise: float = 0.4
    blur: float = 0.8


DEFAULT_SETTINGS = Settings()


@cache
def silhouette() -> np.ndarray:
    """The horse silhouette [328, 400] as float (1 = horse)."""
    from skimage import data

    return (~data.horse()).astype(np.float64)


def draw_labels(rng: np.random.Generator, s: Settings = DEFAULT_SETTINGS) -> np.ndarray:
    """One label map [h, w] (int64, 1 = horse) from a random scale, crop and flip."""
    h, w = s.size
    zoom = rng.uniform(*s.scale)
    scaled = ndimage.zoom(silhouette(), zoom, order=1) > 0.5
    if rng.random() < 0.5:
        scaled = scaled[:, ::-1]
    # Pad so that crops may show ground around the horse, then pick a window keeping it in view.
    pad = ((h, h), (w, w))
    big = np.pad(scaled, pad)
    total = scaled.sum()
    integral = np.pad(big.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    rows = np.arange(big.shape[0] - h + 1)[:, None]
    cols = np.arange(big.shape[1] - w + 1)[None, :]
    inside = (
        integral[rows + h, cols + w]
        - integral[rows, cols + w]
        - integral[rows + h, cols]
        + integral[rows, cols]
    )
    ok = np.argwhere(inside >= s.visible * min(total, inside.max()))
    r, c = ok[rng.integers(len(ok))]
    return big[r : r + h, c : c + w].astype(np.int64)


def _blobs(rng: np.random.Generator, shape: tuple[int, int], coverage: float) -> np.ndarray:
    field = ndimage.gaussian_filter(rng.normal(0, 1, shape), rng.uniform(1.5, 2.5))
    return field > np.quantile(field, 1 - coverage)


def render(labels: np.ndarray, rng: np.random.Generator, s: Settings = DEFAULT_SETTINGS):
    """A float32 image [h, w] in [0, 1] rendered from a horse label map (see :class:`Settings`)."""
    h, w = labels.shape
    ground = rng.uniform(0.3, 0.45)
    horse = ground + s.contrast
    scene = np.where(labels == 1, horse, ground)
    clutter = _blobs(rng, (h, w), s.clutter) & (labels == 0)
    scene = np.where(clutter, horse + rng.normal(0, 0.03), scene)
    rows, cols = np.mgrid[0:h, 0:w]
    for _ in range(int(rng.integers(s.occluders[0], s.occluders[1] + 1))):
        if rng.random() < 0.5:  # a bar across the image
            angle, offset = rng.uniform(0, np.pi), rng.uniform(-0.3, 0.3) * min(h, w)
            d = (cols - w / 2) * np.sin(angle) - (rows - h / 2) * np.cos(angle) - offset
            mask = np.abs(d) < rng.uniform(1.5, 3.5)
        else:
            rh, rw = rng.integers(6, h // 3), rng.integers(6, w // 3)
            r0, c0 = rng.integers(0, h - rh), rng.integers(0, w - rw)
            mask = (rows >= r0) & (rows < r0 + rh) & (cols >= c0) & (cols < c0 + rw)
        scene = np.where(mask, rng.uniform(0.1, 0.9), scene)
    light = ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 12)
    scene = scene * (1 + 0.25 * light / max(1e-6, np.abs(light).max()))
    image = ndimage.gaussian_filter(scene, s.blur) + rng.normal(0, s.noise, (h, w))
    return np.clip(image, 0, 1).astype(np.float32)


def generate(n: int, seed: int, s: Settings = DEFAULT_SETTINGS) -> tuple[np.ndarray, np.ndarray]:
    """``n`` examples: images [n, h, w] float32 and labels [n, h, w] int64 (1 = horse).

    Example i depends only on (seed, i, settings)."""
    h, w = s.size
    images = np.zeros((n, h, w), np.float32)
    labels = np.zeros((n, h, w), np.int64)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        labels[i] = draw_labels(rng, s)
        images[i] = render(labels[i], rng, s)
    return images, labels
