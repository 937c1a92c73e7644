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


def _with(value, dtype=None):
    """An 8 x 8 image of zeros (the check reader's smallest) holding ``value`` at (1, 0)."""
    image = np.zeros((8, 8), dtype or np.asarray(value).dtype)
    image[1, 0] = value
    return image


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (_with(7.5), r"image 0: contains 7\.5 at pixel \(1, 0\), outside \[0, 1\]"),
        (_with(-0.25), r"image 0: contains -0\.25 at pixel \(1, 0\), outside \[0, 1\]"),
        (_with(-1), r"image 0: contains -1 at pixel \(1, 0\); grey levels are never negative"),
        (_with(0, np.complex128), r"image 0: pixels must be real numbers, got dtype complex128"),
    ],
)
def test_values_that_are_not_intensities_are_refused_as_the_check_reader_refuses_them(
    image, message
):
    from apps.check_reading.inputs import check_image

    with pytest.raises(ValueError, match=message):
        check_images([image])
    if image.dtype.kind == "f":  # the reader takes only uint8 and floats: the same words
        with pytest.raises(ValueError, match=message):
            check_image(image)


def test_grey_levels_beyond_eight_bits_and_bool_are_still_scaled():
    wide, mask = np.array([[0, 1000, 4000]] * 3, np.uint16), np.eye(3, dtype=bool)
    np.testing.assert_allclose(check_images([wide])[0][0], [0.0, 0.25, 1.0])
    np.testing.assert_array_equal(check_images([mask])[0], np.eye(3, dtype=np.float32))
