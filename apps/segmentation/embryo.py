"""Procedural microscopy-like C. elegans embryo images with exact 5-class ground truth.

An embryo is an ellipse whose rim is the cell wall (the eggshell). Inside it, 1–8 cells tile the
ellipse (a Voronoi partition of random seeds); the boundaries between cells are cell wall too.
Each cell holds a nucleus (a wobbly disc) ringed by its nuclear membrane, in granular cytoplasm.
Outside is the external medium.

Labels (``CLASSES``): 0 nucleus, 1 nuclear membrane, 2 cytoplasm, 3 cell wall, 4 external medium.

The ground truth is drawn first, exactly, on the pixel grid; the image is then rendered from it
with the imaging effects of :class:`Imaging` (documented there, every setting a field):
per-class brightness that overlaps between classes, cytoplasm granules, optical blur, uneven
illumination, out-of-focus haze from a blurred copy of the scene, and shot (Poisson) noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

CLASSES = ("nucleus", "nuclear membrane", "cytoplasm", "cell wall", "external medium")
NUCLEUS, MEMBRANE, CYTOPLASM, WALL, EXTERNAL = range(5)


@dataclass(frozen=True)
class Geometry:
    """Shapes, in pixels (image ``size`` × ``size``).

    Attributes:
        size: image side.
        axes: range of the embryo's semi-major axis as a fraction of ``size``; the minor axis is
            ``aspect`` times it.
        cells: inclusive range of the number of cells.
        wall: thickness of the cell wall (eggshell and cell–cell boundaries).
        membrane: thickness of the nuclear membrane ring.
        nucleus: nucleus radius as a fraction of the free radius around the cell's seed.
    """

    size: int = 80
    axes: tuple[float, float] = (0.36, 0.45)
    aspect: tuple[float, float] = (0.55, 0.75)
    cells: tuple[int, int] = (1, 8)
    wall: float = 1.6
    membrane: float = 1.5
    nucleus: tuple[float, float] = (0.55, 0.8)


@dataclass(frozen=True)
class Imaging:
    """How the scene is rendered (intensities in [0, 1] before noise).

    Attributes:
        brightness: mean intensity per class (nucleus, membrane, cytoplasm, wall, external).
            Nucleus and external medium are deliberately close, and membranes and granules are
            both dark, so a pixel's own value is ambiguous and context must decide.
        class_jitter: per-image random shift of each class's brightness (std).
        granules: density of dark cytoplasm granules (fraction of cytoplasm pixels).
        granule_depth: how much darker a granule is.
        blur: optical point-spread (Gaussian sigma, pixels).
        illumination: amplitude of the smooth multiplicative illumination field (±).
        haze: weight of an out-of-focus copy of the scene (Gaussian sigma ``haze_sigma``).
        photons: expected photon count at intensity 1 (shot noise: lower is noisier).
        read_noise: additive Gaussian camera noise (std).
    """

    brightness: tuple[float, ...] = (0.42, 0.25, 0.64, 0.85, 0.46)
    class_jitter: float = 0.04
    granules: float = 0.06
    granule_depth: float = 0.25
    blur: float = 1.0
    illumination: float = 0.1
    haze: float = 0.1
    haze_sigma: float = 6.0
    photons: float = 12.0
    read_noise: float = 0.03


DEFAULT_GEOMETRY = Geometry()
DEFAULT_IMAGING = Imaging()


def _seeds(rng: np.random.Generator, inside: np.ndarray, n: int, spacing: float) -> np.ndarray:
    """``n`` points [n, 2] (row, col) inside the mask, at least ``spacing`` apart when possible."""
    candidates = np.argwhere(inside).astype(float)
    points: list[np.ndarray] = []
    for _ in range(200 * n):
        p = candidates[rng.integers(len(candidates))] + rng.uniform(-0.5, 0.5, 2)
        if all(np.hypot(*(p - q)) >= spacing for q in points):
            points.append(p)
            if len(points) == n:
                break
    return np.array(points)


def draw_labels(rng: np.random.Generator, geometry: Geometry = DEFAULT_GEOMETRY) -> np.ndarray:
    """One exact label map [size, size] (int64, values in 0..4, see ``CLASSES``)."""
    g = geometry
    s = g.size
    rows, cols = np.mgrid[0:s, 0:s].astype(float)
    a = rng.uniform(*g.axes) * s
    b = a * rng.uniform(*g.aspect)
    theta = rng.uniform(0, np.pi)
    centre = s / 2 + rng.uniform(-0.05, 0.05, 2) * s
    dr, dc = rows - centre[0], cols - centre[1]
    u = dc * np.cos(theta) + dr * np.sin(theta)
    v = -dc * np.sin(theta) + dr * np.cos(theta)
    rho = np.hypot(u / a, v / b)  # 1 on the ellipse
    inside = rho < 1.0
    # Distance to the eggshell (exact on the grid, via the distance transform).
    depth = ndimage.distance_transform_edt(inside)
    n = int(rng.integers(g.cells[0], g.cells[1] + 1))
    seeds = _seeds(rng, depth > 3 * g.wall + 2, n, spacing=2.2 * np.sqrt(np.pi * a * b / n) / 2)
    labels = np.full((s, s), EXTERNAL, np.int64)
    labels[inside] = CYTOPLASM
    labels[inside & (depth <= g.wall)] = WALL
    if len(seeds) == 0:
        return labels
    d = np.hypot(rows[..., None] - seeds[:, 0], cols[..., None] - seeds[:, 1])  # [s, s, n]
    order = np.sort(d, axis=-1)
    if len(seeds) > 1:
        # Cell–cell boundary: points nearly equidistant from the two nearest seeds.
        gap = (order[..., 1] - order[..., 0]) / 2
        labels[inside & (gap <= g.wall / 2)] = WALL
    owner = d.argmin(-1)
    for k, p in enumerate(seeds):
        others = np.delete(seeds, k, axis=0)
        to_neighbour = np.hypot(*(others - p).T).min() / 2 if len(others) else np.inf
        to_shell = depth[int(round(p[0])), int(round(p[1]))]
        free = min(to_neighbour, to_shell) - g.wall - g.membrane - 1.0
        radius = max(1.5, rng.uniform(*g.nucleus) * free)
        phase, wobble = rng.uniform(0, 2 * np.pi, 2), rng.uniform(0.0, 0.12, 2)
        angle = np.arctan2(rows - p[0], cols - p[1])
        r = radius * (
            1 + wobble[0] * np.cos(2 * angle + phase[0]) + wobble[1] * np.cos(3 * angle + phase[1])
        )
        dist = np.hypot(rows - p[0], cols - p[1])
        mine = (owner == k) & inside & (labels != WALL)
        labels[mine & (dist < r + g.membrane)] = MEMBRANE
        labels[mine & (dist < r)] = NUCLEUS
    return labels


def render(
    labels: np.ndarray, rng: np.random.Generator, imaging: Imaging = DEFAULT_IMAGING
) -> np.ndarray:
    """A float32 image [h, w] in [0, 1] rendered from a label map (see :class:`Imaging`)."""
    m = imaging
    h, w = labels.shape
    level = np.asarray(m.brightness) + rng.normal(0, m.class_jitter, len(m.brightness))
    scene = level[labels]
    cyto = labels == CYTOPLASM
    granule = (rng.random((h, w)) < m.granules) & cyto
    scene = scene - m.granule_depth * ndimage.gaussian_filter(granule.astype(float), 0.7) * 2.5
    # Faint texture everywhere (out-of-plane debris, dust).
    scene = scene + 0.05 * ndimage.gaussian_filter(rng.normal(0, 1, (h, w)), 1.5)
    optical = ndimage.gaussian_filter(scene, m.blur)
    haze = ndimage.gaussian_filter(scene, m.haze_sigma)
    image = (1 - m.haze) * optical + m.haze * haze
    rows, cols = np.mgrid[0:h, 0:w] / max(h, w)
    tilt = rng.normal(0, 1, 3)
    field = tilt[0] * (rows - 0.5) + tilt[1] * (cols - 0.5) + tilt[2] * (rows - 0.5) * (cols - 0.5)
    field = 1 + m.illumination * field / max(1e-6, np.abs(field).max())
    image = np.clip(image * field, 0, None)
    counts = rng.poisson(image * m.photons) / m.photons
    image = counts + rng.normal(0, m.read_noise, (h, w))
    return np.clip(image, 0, 1).astype(np.float32)


def generate(
    n: int,
    seed: int,
    geometry: Geometry = DEFAULT_GEOMETRY,
    imaging: Imaging = DEFAULT_IMAGING,
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` embryos: images [n, size, size] float32 in [0, 1] and labels [n, size, size] int64.

    Image i depends only on (seed, i, settings), so sets of different sizes share a prefix.
    """
    s = geometry.size
    images = np.zeros((n, s, s), np.float32)
    labels = np.zeros((n, s, s), np.int64)
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        labels[i] = draw_labels(rng, geometry)
        images[i] = render(labels[i], rng, imaging)
    return images, labels
