"""Checks on user input: every problem is a ValueError naming the image index and the problem."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .._common.pixels import check_intensities

MIN_SIDE = 3


def check_images(images: np.ndarray | Sequence[np.ndarray]) -> list[np.ndarray]:
    """Grey images -> a list of float32 arrays [H, W].

    Accepts one image [H, W], a stack [B, H, W] or a list of [H, W] arrays (sizes may differ).
    Pixels are intensities (:func:`apps._common.pixels.check_intensities`: floats in [0, 1],
    integers >= 0, bool); integer images (e.g. uint8 0..255) are scaled to [0, 1]. A colour
    image [H, W, 3] or [H, W, 4] is refused, not read as H images of W x 3 pixels.

    >>> [a.shape for a in check_images(np.zeros((2, 4, 5)))]
    [(4, 5), (4, 5)]
    """
    if hasattr(images, "shape"):  # an array (numpy, torch): one image or a stack
        arr = np.asarray(images)
        if arr.ndim == 2:
            items = [arr]
        elif arr.ndim == 3 and arr.shape[-1] in (3, 4):
            raise ValueError(
                f"image 0: shape {tuple(arr.shape)} looks like one colour image [H, W, "
                f"{arr.shape[-1]}]; give grey images [H, W] or a stack [B, H, W] (e.g. "
                "apps._common.media.read_grey reads an image file as grey)"
            )
        elif arr.ndim == 3:
            items = list(arr)
        else:
            raise ValueError(
                f"image 0: expected one grey image [H, W] or a stack [B, H, W], "
                f"got an array of rank {arr.ndim} and shape {tuple(arr.shape)}"
            )
    else:
        items = [np.asarray(a) for a in images]
    if not items:
        raise ValueError("no images given")
    out = []
    for i, image in enumerate(items):
        if image.ndim != 2:
            raise ValueError(
                f"image {i}: expected a grey image [H, W] (rank 2), got rank {image.ndim} "
                f"with shape {tuple(image.shape)}"
            )
        if image.size == 0:
            raise ValueError(f"image {i}: empty image of shape {tuple(image.shape)}")
        if min(image.shape) < MIN_SIDE:
            raise ValueError(
                f"image {i}: shape {tuple(image.shape)} is too small (each side needs at least "
                f"{MIN_SIDE} pixels)"
            )
        check_intensities(image, f"image {i}")
        if np.issubdtype(image.dtype, np.integer):
            top = 255.0 if image.max() <= 255 else float(image.max())
            image = image / top
        out.append(image.astype(np.float32))
    return out
