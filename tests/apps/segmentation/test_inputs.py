"""Bad input gives a ValueError that names the image index and the problem."""

import numpy as np
import pytest

from apps.segmentation.inputs import check_images


def test_good_inputs_become_float_images():
    out = check_images([np.zeros((4, 5), np.uint8) + 255, np.ones((6, 3))])
    assert [a.shape for a in out] == [(4, 5), (6, 3)]
    assert out[0].dtype == np.float32 and out[0].max() == 1.0
    assert len(check_images(np.zeros((4, 4)))) == 1


def test_wrong_rank():
    with pytest.raises(ValueError, match=r"image 1: expected a grey image \[H, W\] \(rank 2\)"):
        check_images([np.zeros((4, 4)), np.zeros((4, 4, 3))])
    with pytest.raises(ValueError, match="image 0: .* rank 4"):
        check_images(np.zeros((1, 2, 4, 4)))


def test_empty_image():
    with pytest.raises(ValueError, match=r"image 2: empty image of shape \(0, 5\)"):
        check_images([np.zeros((4, 4)), np.zeros((4, 4)), np.zeros((0, 5))])


def test_nan_and_inf_name_the_pixel():
    bad = np.zeros((4, 4))
    bad[2, 3] = np.nan
    with pytest.raises(ValueError, match=r"image 1: contains NaN at pixel \(2, 3\)"):
        check_images([np.zeros((4, 4)), bad])
    bad[2, 3] = np.inf
    with pytest.raises(ValueError, match="image 0: contains ±inf"):
        check_images([bad])


def test_too_small_and_no_images():
    with pytest.raises(ValueError, match="image 0: shape \\(2, 9\\) is too small"):
        check_images([np.zeros((2, 9))])
    with pytest.raises(ValueError, match="no images"):
        check_images([])
