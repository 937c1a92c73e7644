"""The error-reject curve and thresholds on hand-made answers."""

from __future__ import annotations

import numpy as np
import pytest

import decoders
from decoders.rejection import OperatingPoint

# Ten answers: confidences and whether each was right. Sorted by confidence the wrong ones
# are the 4th (0.7) and the 9th (0.2) most confident.
CONFIDENCE = [0.95, 0.9, 0.85, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1]
CORRECT = [True, True, True, False, True, True, True, True, False, True]


def test_curve_fractions_at_each_threshold():
    c = decoders.error_reject_curve(CONFIDENCE, CORRECT)
    assert c.threshold.tolist() == sorted(CONFIDENCE) + [np.inf]
    # Accept all: 8 right, 2 wrong. Reject all: everything rejected.
    assert c.point(0) == OperatingPoint(0.1, 0.8, 0.2, 0.0)
    assert c.point(len(c.threshold) - 1) == OperatingPoint(np.inf, 0.0, 0.0, 1.0)
    # Threshold 0.85 accepts the three most confident, all right.
    k = c.threshold.tolist().index(0.85)
    assert c.point(k) == pytest.approx(OperatingPoint(0.85, 0.3, 0.0, 0.7))
    np.testing.assert_allclose(c.correct + c.error + c.reject, 1.0)
    assert np.all(np.diff(c.error) <= 0) and np.all(np.diff(c.reject) >= 0)


def test_threshold_for_target_error_rejects_least():
    c = decoders.error_reject_curve(CONFIDENCE, CORRECT)
    # At most 10% error: accept down to 0.3 (one error among 8 accepted).
    assert decoders.threshold_for_error(c, 0.10) == pytest.approx(
        OperatingPoint(0.3, 0.7, 0.1, 0.2)
    )
    # No error at all: only the three answers above the first wrong one.
    assert decoders.threshold_for_error(c, 0.0).threshold == 0.85
    assert decoders.threshold_for_error(c, 0.2).reject == 0.0


def test_tied_confidences_are_accepted_or_rejected_together():
    c = decoders.error_reject_curve([0.5, 0.5, 0.9], [True, False, True])
    assert c.threshold.tolist() == [0.5, 0.9, np.inf]
    assert c.error.tolist() == pytest.approx([1 / 3, 0.0, 0.0])


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="3 confidences but 2"):
        decoders.error_reject_curve([0.1, 0.2, 0.3], [True, False])


def test_plot_writes_a_figure(tmp_path):
    pytest.importorskip("matplotlib")
    c = decoders.error_reject_curve(CONFIDENCE, CORRECT)
    path = tmp_path / "er.png"
    decoders.plot_error_reject(c, path, target_error=0.1, label="test")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["er.png"]  # no temporary left behind
