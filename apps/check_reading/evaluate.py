"""Field-level results: correct / rejected / error at three operating points, and character
accuracy. A field is correct when its answer is the truth, character for character; its
*amount* is correct when the answer is worth the truth's amount (:func:`.amounts.amount_value`:
"$", stars, the thousands comma and ".00" do not count), which is what a bank needs of a check.

A field is rejected when its confidence (the posterior of the answer) is below a threshold;
:mod:`decoders.rejection` gives the error-reject curve and the operating points on it.
"""

from __future__ import annotations

import numpy as np

from decoders.rejection import ErrorRejectCurve, error_reject_curve, threshold_for_error

from .._common.metrics import edit_distance
from .._common.report import markdown_table
from .amounts import same_amount

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
    fields), the same with the amounts scored (keys prefixed ``amount_``) and
    ``char_accuracy``; the curve is the strings'."""
    pairs = list(zip(answers, truths, strict=True))
    correct = np.array([a == t for a, t in pairs], dtype=bool)
    worth = np.array([same_amount(a, t) for a, t in pairs], dtype=bool)
    points, curve = operating_points(confidence, correct)
    amounts = {f"amount_{k}": p for k, p in operating_points(confidence, worth)[0].items()}
    accuracy = character_accuracy(answers, truths)
    return {"fields": len(truths), **points, **amounts, "char_accuracy": accuracy}, curve


def format_table(rows: dict[str, dict]) -> str:
    """A markdown table, one row per system: correct / reject / error % at each operating
    point, then the amounts correct % at zero rejection and at <= 1% error, then character
    accuracy %."""
    head = ["system", "fields"]
    for _, title, _ in OPERATING_POINTS:
        head += [f"{title} corr", "rej", "err"]
    head += ["amount corr", "amount at <=1% error"]
    lines = []
    for name, r in rows.items():
        cells = [name, r["fields"]]
        for key, _, _ in OPERATING_POINTS:
            p = r[key]
            cells += [f"{100 * p.correct:.1f}", f"{100 * p.reject:.1f}", f"{100 * p.error:.1f}"]
        cells += [f"{100 * r[f'amount_{k}'].correct:.1f}" for k in ("zero_reject", "error_1")]
        lines.append([*cells, f"{100 * r['char_accuracy']:.1f}"])
    return markdown_table([*head, "char"], lines)
