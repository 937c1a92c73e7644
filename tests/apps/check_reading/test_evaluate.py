import numpy as np
import pytest

from apps.check_reading.evaluate import (
    at_error,
    character_accuracy,
    edit_distance,
    error_reject_curve,
)


def test_error_reject_curve_rejects_least_confident_first():
    conf = np.array([0.9, 0.2, 0.8, 0.1, 0.95])
    correct = np.array([True, False, True, False, True])
    reject, error = error_reject_curve(conf, correct)
    assert reject.tolist() == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert error == pytest.approx([0.4, 0.2, 0.0, 0.0, 0.0, 0.0])
    point = at_error(conf, correct, 0.01)
    assert (point.correct, point.reject, point.error) == pytest.approx((0.6, 0.4, 0.0))
    zero = at_error(conf, correct, None)
    assert (zero.correct, zero.reject, zero.error) == pytest.approx((0.6, 0.0, 0.4))


def test_tied_confidences_are_rejected_together():
    reject, _ = error_reject_curve(np.array([0.5, 0.5, 0.9]), np.array([True, False, True]))
    assert reject.tolist() == pytest.approx([0.0, 2 / 3, 1.0])


def test_character_accuracy_uses_edit_distance():
    assert edit_distance("$12.50", "$12.5") == 1 and edit_distance("", "abc") == 3
    assert character_accuracy(["12", "9"], ["12", "8"]) == pytest.approx(2 / 3)
