"""The reader's input convention, checked once for every reader: a field image is a 2-D numpy
array, dark ink on white, uint8 0-255 or float 0-1, at least 8 pixels each way. Files are read
into this convention by :func:`.folder.load_field_image`."""

from __future__ import annotations

import numpy as np

from .._common.pixels import check_intensities


def check_image(image, index: int = 0) -> np.ndarray:
    """A field image as uint8 [H, W] (dark ink on white); ValueError naming the problem."""
    where = f"image {index}"
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{where} is a {type(image).__name__}, not a numpy array")
    if image.ndim == 3:
        raise ValueError(
            f"{where} has shape {image.shape}: a colour image; give a 2-D grey "
            "image (e.g. image.mean(axis=2))"
        )
    if image.ndim != 2:
        raise ValueError(f"{where} must be 2-D [H, W], got shape {image.shape}")
    if image.size == 0 or min(image.shape) < 8:
        raise ValueError(f"{where} is empty or too small: shape {image.shape}")
    if image.dtype == np.uint8:
        return image
    if not np.issubdtype(image.dtype, np.floating):
        raise TypeError(f"{where} has dtype {image.dtype}; use uint8 (0-255) or float (0-1)")
    check_intensities(image, where)
    return np.round(image * 255).astype(np.uint8)


def check_images(images) -> list[np.ndarray]:
    """:func:`check_image` of each image of a sequence; TypeError for one 2-D array."""
    if isinstance(images, np.ndarray) and images.ndim == 2:
        raise TypeError("read() takes a list of images; wrap a single image as [image]")
    return [check_image(im, i) for i, im in enumerate(images)]
