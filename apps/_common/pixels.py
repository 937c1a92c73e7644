"""Grey images from callers: the values every app takes as intensities, checked in one place.

An intensity is a real number that is never negative, and a float one lies in [0, 1] (0 black,
1 white). Which dtypes an app then accepts, and how it scales integers, is the app's own (the
check reader takes uint8 or float; segmentation any integer grey levels, bool or float).
"""

from __future__ import annotations

import numpy as np


def check_intensities(image: np.ndarray, where: str) -> None:
    """ValueError naming ``where`` and the first offending pixel unless ``image`` holds grey
    intensities: bool, integers >= 0, or floats in [0, 1] (NaN and infinities refused).

    >>> check_intensities(np.array([[0.0, 7.5]]), "image 0")
    Traceback (most recent call last):
    ...
    ValueError: image 0: contains 7.5 at pixel (0, 1), outside [0, 1] (0 black, 1 white)
    """
    kind = image.dtype.kind
    if kind not in "biuf":
        raise ValueError(f"{where}: pixels must be real numbers, got dtype {image.dtype}")
    if kind == "f":
        for bad, what in ((np.isnan(image), "NaN"), (np.isinf(image), "±inf")):
            if bad.any():
                raise ValueError(f"{where}: contains {what} at pixel {_first(bad)}")
        bad = (image < 0) | (image > 1)
        if bad.any():
            pixel = _first(bad)
            raise ValueError(
                f"{where}: contains {image[pixel]:g} at pixel {pixel}, outside [0, 1] "
                "(0 black, 1 white)"
            )
    elif kind == "i":
        bad = image < 0
        if bad.any():
            pixel = _first(bad)
            raise ValueError(
                f"{where}: contains {image[pixel]} at pixel {pixel}; grey levels are never negative"
            )


def _first(bad: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(bad)[0])
