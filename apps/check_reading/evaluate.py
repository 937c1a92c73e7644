"""Field-level results: correct / rejected / error at three operating points, and character
accuracy.

A field is rejected when its confidence (the posterior of the answer) is below a threshold;
:mod:`decoders.rejection` gives the error-reject curve and the operating points on it.
"""

from __future__ import annotations

import numpy as np

from decoders.rejection import ErrorRejectCurve, error_reject_curve, threshold_for_error

from .._common.metrics import edit_distance
from .._common.report import markdown_table

# (key, column title, largest error) of the table's operating points; None: reject nothing.
OPERATING_POINTS = (
    ("zero_reject", "zero rejection", None),
    ("error_1", "at <=1% error", 0.01),
    ("error_0.5", "at <=0.5% error", 0.005),
)


def character_accuracy(answers: list[str], truths: list[str]) -> float:
    """1 - (total edit distance) / (total characters of the truths)."""
    errors = sum(edit_distance(t, a) for a, t in zip(answers, truths, strict=True))
    return 1.0 - errors / max(sum(len(t) for t in truths), 1)


def operating_points(confidence, correct) -> tuple[dict, ErrorRejectCurve]:
    """(key -> ``decoders.OperatingPoint`` for each of :data:`OPERATING_POINTS`, the
    error-reject curve) of answers with ``confidence`` [n] and ``correct`` bool [n]."""
    curve = error_reject_curve(confidence, correct)
    points = {
        key: curve.point(0) if max_error is None else threshold_for_error(curve, max_error)
        for key, _, max_error in OPERATING_POINTS
    }
    return points, curve


def results(answers: list[str], confidence, truths: list[str]) -> tuple[dict, ErrorRejectCurve]:
    """(summary row, error-reject curve) of one reader's answers. The row holds ``fields``, the
    operating points of :data:`OPERATING_POINTS` (correct, error, reject as fractions of all
    fields) and ``char_accuracy``."""
    correct = np.array([a == t for a, t in zip(answers, truths, strict=True)], dtype=bool)
    points, curve = operating_points(confidence, correct)
    row = {"fields": len(truths), **points, "char_accuracy": character_accuracy(answers, truths)}
    return row, curve


def format_table(rows: dict[str, dict]) -> str:
    """A markdown table, one row per system: correct / reject / error % at each operating
    point, then character accuracy %."""
    head = ["system", "fields"]
    for _, title, _ in OPERATING_POINTS:
        head += [f"{title} corr", "rej", "err"]
    lines = []
    for name, r in rows.items():
        cells = [name, r["fields"]]
        for key, _, _ in OPERATING_POINTS:
            p = r[key]
            cells += [f"{100 * p.correct:.1f}", f"{100 * p.reject:.1f}", f"{100 * p.error:.1f}"]
        lines.append([*cells, f"{100 * r['char_accuracy']:.1f}"])
    return markdown_table([*head, "char"], lines)
