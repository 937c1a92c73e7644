import numpy as np
import pytest

from apps._common.metrics import edit_distance
from apps.check_reading.evaluate import character_accuracy, format_table, results
from decoders.rejection import error_reject_curve


def test_error_reject_curve_rejects_least_confident_first():
    conf = np.array([0.9, 0.2, 0.8, 0.1, 0.95])
    correct = np.array([True, False, True, False, True])
    curve = error_reject_curve(conf, correct)
    assert curve.reject == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 1.0])
    assert curve.error == pytest.approx([0.4, 0.2, 0.0, 0.0, 0.0, 0.0])
    answers = ["a" if c else "x" for c in correct]
    row, _ = results(answers, conf, ["a"] * 5)
    point = row["error_1"]
    assert (point.correct, point.reject, point.error) == pytest.approx((0.6, 0.4, 0.0))
    zero = row["zero_reject"]
    assert (zero.correct, zero.reject, zero.error) == pytest.approx((0.6, 0.0, 0.4))


def test_tied_confidences_are_rejected_together():
    curve = error_reject_curve(np.array([0.5, 0.5, 0.9]), np.array([True, False, True]))
    assert curve.reject.tolist() == pytest.approx([0.0, 2 / 3, 1.0])


def test_character_accuracy_uses_edit_distance():
    assert edit_distance("$12.50", "$12.5") == 1 and edit_distance("", "abc") == 3
    assert character_accuracy(["12", "9"], ["12", "8"]) == pytest.approx(2 / 3)


def test_the_table_has_one_row_per_system_in_percent():
    row, _ = results(["$1.00", "$2.00"], [0.9, 0.4], ["$1.00", "$3.00"])
    lines = format_table({"global nll": row}).splitlines()
    assert lines[0].startswith("| system | fields | zero rejection corr |")
    assert (
        lines[2]
        == "| global nll | 2 | 50.0 | 0.0 | 50.0 | 50.0 | 50.0 | 0.0 | 50.0 | 50.0 | 0.0 | 50.0 | "
        "50.0 | 90.0 |"
    )


def test_amounts_are_correct_when_the_answer_is_worth_the_truth():
    # a dropped comma, "$" or ".00" keeps the amount; a dropped period does not
    answers = ["1234.00", "$**12", "12", "10992", "", "7"]
    truths = ["$1,234.00", "12.00", "12", "109.92", "0", "7"]
    row, _ = results(answers, [0.9, 0.8, 0.7, 0.95, 0.1, 0.6], truths)
    assert row["zero_reject"].correct == pytest.approx(2 / 6)
    assert row["amount_zero_reject"].correct == pytest.approx(4 / 6)
    # the confident wrong amount (0.95) sets the error-rejection point: all rejected at 1%
    assert row["amount_error_1"].correct == 0.0
    row, _ = results(answers[:3], [0.9, 0.8, 0.7], truths[:3])
    assert row["amount_error_1"].correct == 1.0 and row["error_1"].correct == 0.0
