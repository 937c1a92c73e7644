"""Rejection by confidence: the error-reject curve and the threshold for a target error rate.

A system accepts an answer when its confidence is at least a threshold and rejects it
otherwise. Over n answers, each threshold gives fractions that sum to one: correct (accepted
and right), error (accepted and wrong) and reject. Raising the threshold trades errors for
rejects; the check reader reports "percent correct at 1% error".
"""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

from gtn.utils import atomic_write


class OperatingPoint(NamedTuple):
    """Accept answers with confidence >= ``threshold``; the fractions are of all answers."""

    threshold: float
    correct: float
    error: float
    reject: float


class ErrorRejectCurve(NamedTuple):
    """Operating points [K], from "accept all" (lowest threshold) to "reject all" (+inf).

    Attributes:
        threshold: float64 [K], increasing.
        correct, error, reject: float64 [K] fractions of all answers (they sum to 1).
    """

    threshold: np.ndarray
    correct: np.ndarray
    error: np.ndarray
    reject: np.ndarray

    def point(self, k: int) -> OperatingPoint:
        return OperatingPoint(*(float(column[k]) for column in self))


def error_reject_curve(confidence, correct) -> ErrorRejectCurve:
    """The error-reject curve of answers with ``confidence`` [n] (any real scores, higher is
    more confident) and ``correct`` [n] (bool). One point per distinct confidence, plus
    "reject all".

    >>> c = error_reject_curve([0.9, 0.8, 0.3], [True, False, True])
    >>> c.threshold.tolist(), c.error.round(3).tolist()
    ([0.3, 0.8, 0.9, inf], [0.333, 0.333, 0.0, 0.0])
    """
    conf = np.asarray(confidence, dtype=np.float64).reshape(-1)
    right = np.asarray(correct, dtype=bool).reshape(-1)
    if conf.shape != right.shape:
        raise ValueError(f"{conf.shape[0]} confidences but {right.shape[0]} correctness labels")
    if np.isnan(conf).any():
        raise ValueError(f"confidence {int(np.flatnonzero(np.isnan(conf))[0])} is NaN")
    n = conf.shape[0]
    order = np.argsort(-conf, kind="stable")
    c = conf[order]
    wrong = np.cumsum(~right[order])
    # Accepting everything >= c[i] accepts up to the last copy of c[i].
    last = np.flatnonzero(np.append(c[1:] != c[:-1], True)) if n else np.zeros(0, np.int64)
    accepted = last + 1
    errors = wrong[last]
    scale = 1.0 / max(n, 1)
    threshold = np.append(c[last][::-1], np.inf)
    error = np.append((errors * scale)[::-1], 0.0)
    reject = np.append(((n - accepted) * scale)[::-1], 1.0 if n else 0.0)
    correct_rate = np.append(((accepted - errors) * scale)[::-1], 0.0)
    return ErrorRejectCurve(threshold, correct_rate, error, reject)


def threshold_for_error(curve: ErrorRejectCurve, target_error: float = 0.01) -> OperatingPoint:
    """The operating point that rejects least while its error rate is at most ``target_error``
    (a fraction, 0.01 for 1%). "Reject all" qualifies for any target >= 0.

    >>> c = error_reject_curve([0.9, 0.8, 0.7, 0.2], [True, True, False, True])
    >>> threshold_for_error(c, 0.0)
    OperatingPoint(threshold=0.8, correct=0.5, error=0.0, reject=0.5)
    """
    if not target_error >= 0:
        raise ValueError(f"target_error must be >= 0, got {target_error}")
    ok = np.flatnonzero(curve.error <= target_error + 1e-12)
    return curve.point(int(ok[0]))


def plot_error_reject(
    curve: ErrorRejectCurve,
    path: str | os.PathLike | None = None,
    *,
    ax=None,
    target_error: float | None = 0.01,
    label: str | None = None,
):
    """Plot error rate against reject rate (both in %), marking the operating point for
    ``target_error``; save to ``path`` (atomically; the suffix picks the format) if given.
    Needs matplotlib (the ``apps`` extra). Returns the figure."""
    if ax is None:
        from matplotlib.figure import Figure  # no pyplot: no global state, no display needed

        ax = Figure(figsize=(4.5, 3.5)).add_subplot()
    fig = ax.figure
    ax.plot(100 * curve.reject, 100 * curve.error, drawstyle="steps-post", label=label)
    if target_error is not None:
        p = threshold_for_error(curve, target_error)
        ax.plot([100 * p.reject], [100 * p.error], "o", color="C3")
        ax.annotate(
            f"{100 * p.correct:.1f}% correct at {100 * target_error:g}% error",
            (100 * p.reject, 100 * p.error),
            textcoords="offset points",
            xytext=(6, 6),
        )
    ax.set_xlabel("reject (%)")
    ax.set_ylabel("error (%)")
    ax.set_xlim(0, 100)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    if label is not None:
        ax.legend()
    if path is not None:
        fmt = os.fspath(path).rsplit(".", 1)[-1]
        with atomic_write(path, "wb") as f:
            fig.savefig(f, format=fmt, bbox_inches="tight")
    return fig
