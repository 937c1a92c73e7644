"""Pixel accuracy, IoU and fragment counts on hand-made label maps."""

import numpy as np
import pytest

from apps.segmentation.metrics import fragments, iou, scores

TRUTH = np.array([[[0, 0, 1], [0, 1, 1], [2, 2, 2]]])
PRED = np.array([[[0, 1, 1], [0, 1, 1], [2, 2, 0]]])


def test_scores_of_a_hand_example():
    s = scores(TRUTH, PRED, 3)
    assert s["pixel_accuracy"] == pytest.approx(7 / 9)
    # class 0: inter 2, union 4; class 1: inter 3, union 4; class 2: inter 2, union 3
    assert s["iou"] == pytest.approx([2 / 4, 3 / 4, 2 / 3])
    assert s["mean_iou"] == pytest.approx((2 / 4 + 3 / 4 + 2 / 3) / 3)
    # prediction: {0 top-left, 0 bottom-right}, {1}, {2} -> 4 regions
    assert s["fragments"] == 4


def test_absent_class_is_left_out_of_the_mean():
    values = iou(np.array([[5, 0, 0], [0, 3, 0], [0, 0, 0]]))
    assert np.isnan(values[2])
    assert scores(np.zeros((1, 2, 2), int), np.zeros((1, 2, 2), int), 3)["mean_iou"] == 1.0


def test_fragments_use_four_connectivity():
    checker = np.indices((3, 3)).sum(0) % 2
    assert fragments(checker) == 9
    assert fragments(np.zeros((4, 4), int)) == 1


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ in shape"):
        scores(TRUTH, PRED[:, :2], 3)
