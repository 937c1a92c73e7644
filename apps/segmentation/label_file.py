"""``ebgtn segment clean``: label one image file with a saved segmenter, draw the labeller's
and the cleaned maps side by side, and optionally write the cleaned label map (.png or .npy)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from gtn.utils import atomic_write

from .._common.media import read_grey
from . import figures
from .segmenter import Segmenter


def label_file(
    image_path: str | os.PathLike,
    model_path: str | os.PathLike,
    method: str | None = None,
    figure: str | os.PathLike | None = None,
    labels_path: str | os.PathLike | None = None,
) -> Path:
    """Label the grey or colour image at ``image_path`` with the segmenter at ``model_path``
    (``method``: one of ``cleanup.METHODS``, "-" allowed for "_"; default the model's own),
    print a summary, write the figure (default IMAGE.labels.png) and return its path. The
    image is read first: a file that is not an image is reported before the model loads."""
    image = read_grey(image_path)
    segmenter = Segmenter.load(model_path)
    result = segmenter.segment(image, method.replace("-", "_") if method else None)
    labels = result.labels[0]
    figure = Path(figure or Path(image_path).with_suffix(".labels.png"))
    maps = {"labeller": result.raw[:1], f"cleaned ({result.method})": result.labels[:1]}
    figures.comparison_figure(image[None], None, maps, segmenter.classes, figure)
    counts = np.bincount(labels.ravel(), minlength=segmenter.num_labels)
    mix = ", ".join(f"{c} {n}" for c, n in zip(segmenter.classes, counts, strict=True))
    print(f"{image_path}: {labels.shape[0]}×{labels.shape[1]} pixels; {mix}")
    print(f"energy {result.energy[0]:.4g} ({result.method}, {1000 * result.seconds[0]:.0f} ms)")
    if labels_path:
        write_labels(labels, labels_path)
    print(f"wrote {figure}")
    return figure


def write_labels(labels: np.ndarray, path: str | os.PathLike) -> None:
    """A label map [H, W] as .npy, or else as an 8-bit PNG, written atomically."""
    with atomic_write(path, "wb") as f:
        if str(path).endswith(".npy"):
            np.save(f, labels, allow_pickle=False)
        else:
            Image.fromarray(labels.astype(np.uint8)).save(f, format="PNG")
