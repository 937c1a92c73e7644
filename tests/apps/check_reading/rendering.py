"""What the renderer's tests share: a narrow style to switch nuisances on one at a time, and how
often adjacent digits touch."""

import numpy as np

from apps.check_reading.render import FieldStyle

LEGACY_STYLE = FieldStyle(
    digit_px=(16.0, 29.0),
    aspect=(1.0, 1.0),
    aspect_jitter=0.0,
    baseline_drift=0.0,
    slant=(-0.1, 0.35),
    stroke=(0.0, 0.0),
    symbol_styles=(0,),
    overlap=0.25,
    gap=(0.03, 0.6),
    symbol_gap=(0.03, 0.6),
    margin=(0.2, 0.5),
    rotation=(0.0, 0.0),
    underline=0.0,
    top_line=0.0,
    box=0.0,
    paper=(0.88, 1.0),
    ink=(0.7, 0.95),
    blur=(0.0, 0.0),
    gamma=(1.0, 1.0),
    noise=(0.02, 0.06),
    specks_per_pixel=(1 / 2500, 1 / 2500),
    jpeg=0.0,
)
"""Close to the first renderer's narrow distribution."""


def touching_fraction(boxes_per_field: list[np.ndarray], texts: list[str]) -> float:
    """Fraction of adjacent digit pairs whose ink boxes touch or overlap."""
    touching = total = 0
    for boxes, text in zip(boxes_per_field, texts, strict=True):
        for i in range(len(text) - 1):
            if text[i].isdigit() and text[i + 1].isdigit():
                total += 1
                touching += boxes[i + 1, 0] <= boxes[i, 1]
    return touching / max(total, 1)
