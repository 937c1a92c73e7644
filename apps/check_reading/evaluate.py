"""Field-level results: correct / rejected / error, the error-reject curve, character accuracy.

A field is rejected when its confidence (the posterior of the answer) is below a threshold;
the curve sweeps the threshold from rejecting nothing to rejecting everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def error_reject_curve(confidence: np.ndarray, correct: np.ndarray):
    """(reject, error) float arrays [n+1]: after rejecting the k least confident fields
    (k = 0..n), the fraction rejected and the fraction of *all* fields accepted but wrong.
    Ties in confidence are rejected together, so every point is achievable by a threshold."""
    confidence = np.asarray(confidence, np.float64)
    correct = np.asarray(correct, bool)
    n = confidence.shape[0]
    order = np.argsort(confidence, kind="stable")
    wrong_sorted = ~correct[order]
    # errors left after rejecting the first k: total errors - errors among them
    errors_left = wrong_sorted.sum() - np.concatenate([[0], np.cumsum(wrong_sorted)])
    k = np.arange(n + 1)
    conf_sorted = confidence[order]
    achievable = np.concatenate([[True], conf_sorted[1:] != conf_sorted[:-1], [True]])
    return (k / max(n, 1))[achievable], (errors_left / max(n, 1))[achievable]


@dataclass
class OperatingPoint:
    correct: float
    reject: float
    error: float


def at_error(confidence, correct, max_error: float | None) -> OperatingPoint:
    """The operating point with the least rejection whose error is <= max_error (None: reject
    nothing). Fractions of all fields."""
    reject, error = error_reject_curve(confidence, correct)
    i = 0 if max_error is None else int(np.flatnonzero(error <= max_error + 1e-12)[0])
    return OperatingPoint(1.0 - reject[i] - error[i], reject[i], error[i])


def edit_distance(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def character_accuracy(answers: list[str], truths: list[str]) -> float:
    """1 - (total edit distance) / (total characters of the truths)."""
    errors = sum(edit_distance(a, t) for a, t in zip(answers, truths, strict=True))
    return 1.0 - errors / max(sum(len(t) for t in truths), 1)


def summarise(answers: list[str], confidence, truths: list[str]) -> dict:
    """Rows of the results table: operating points at zero rejection, 1% and 0.5% error."""
    correct = np.array([a == t for a, t in zip(answers, truths, strict=True)])
    conf = np.asarray(confidence, np.float64)
    return {
        "fields": len(truths),
        "zero_reject": at_error(conf, correct, None),
        "error_1": at_error(conf, correct, 0.01),
        "error_0.5": at_error(conf, correct, 0.005),
        "char_accuracy": character_accuracy(answers, truths),
    }


def format_table(rows: dict[str, dict]) -> str:
    """A plain-text table: one line per system."""
    w = max([18, *(len(name) + 1 for name in rows)])
    head = (
        f"{'system':<{w}}{'fields':>7} | {'zero rejection':^20} | {'at <=1% error':^20} | "
        f"{'at <=0.5% error':^20} | {'char':>6}"
    )
    sub = f"{'':<{w}}{'':>7} | " + " | ".join([f"{'corr':>6}{'rej':>7}{'err':>7}"] * 3) + " |"
    lines = [head, sub, "-" * len(head)]
    for name, r in rows.items():
        cells = " | ".join(
            f"{100 * p.correct:6.1f}{100 * p.reject:7.1f}{100 * p.error:7.1f}"
            for p in (r["zero_reject"], r["error_1"], r["error_0.5"])
        )
        lines.append(f"{name:<{w}}{r['fields']:>7} | {cells} | {100 * r['char_accuracy']:6.1f}")
    return "\n".join(lines)
