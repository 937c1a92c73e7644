"""The second held-out style ("phone", :mod:`.heldout_phone`): deterministic, MNIST test digits
only, every character owned, printed lines owned by none, and unlike the ledger style in the ways
its docstring says (measured on the ownership maps and images, never by a reader)."""

import numpy as np
import pytest
from scipy import ndimage
from skimage.morphology import skeletonize

from apps.check_reading import heldout, heldout_phone, mnist
from apps.check_reading.render import column_span


@pytest.fixture(scope="module")
def phone():
    return heldout_phone.generate_heldout(40, seed=1)


@pytest.fixture(scope="module")
def ledger():
    return heldout.generate_heldout(40, seed=1)


def test_phone_fields_are_deterministic_in_n_and_seed(phone):
    again = heldout_phone.generate_heldout(6, seed=1)  # the first six of the same stream
    for f, g in zip(phone.fields[:6], again.fields, strict=True):
        assert f.text == g.text and np.array_equal(f.image, g.image)
        assert np.array_equal(f.owner, g.owner) and np.array_equal(f.digit_rows, g.digit_rows)
    other = heldout_phone.generate_heldout(6, seed=2)
    assert other.texts != again.texts
    assert not any(
        f.image.shape == g.image.shape and np.array_equal(f.image, g.image)
        for f, g in zip(other.fields, again.fields, strict=True)
    )


def test_phone_fields_use_only_test_digits_and_show_every_character(phone):
    test_rows = set(mnist.split_indices("test").tolist())
    _, all_labels = mnist._load()
    assert phone.split == "test" and len(phone) == 40
    for f in phone.fields:
        assert f.image.dtype == np.uint8 and f.image.ndim == 2
        assert f.owner.dtype == np.int8 and f.owner.shape == f.image.shape
        digit = np.array([c.isdigit() for c in f.text])
        rows = f.digit_rows[digit]
        assert set(rows.tolist()) <= test_rows and (f.digit_rows[~digit] == -1).all()
        assert all_labels[rows].tolist() == [int(c) for c in f.text if c.isdigit()]
        assert -1 <= f.owner.min() and f.owner.max() < len(f.text)
        owned = np.bincount(f.owner[f.owner >= 0].astype(np.int64), minlength=len(f.text))
        assert owned.min() > 0, f.text
        assert f.boxes.tolist() == [list(column_span(f.owner == k)) for k in range(len(f.text))]
        # the owner map lies on the ink: owned pixels are far darker than the rest
        assert np.median(f.image[f.owner >= 0]) < np.median(f.image[f.owner < 0]) - 80


def test_printed_grid_or_box_shows_and_belongs_to_no_character():
    pool, rng = mnist.digits("test"), np.random.default_rng(3)
    for text in ["$1,234.56", "**45.00", "109.92", "7", "$0.51", "88"]:
        f, ink, printed = heldout_phone.render_parts(text, pool, rng)
        assert ink.shape == printed.shape == f.image.shape
        assert np.array_equal(f.owner >= 0, ink >= heldout_phone.INKED)
        lines = (printed > 0.8) & (ink == 0)
        assert lines.sum() > 300 and (f.owner[printed > 0] >= 0).sum() <= (ink > 0).sum()
        assert (f.owner[printed > 0][ink[printed > 0] < heldout_phone.INKED] == -1).all()
        paper = (printed == 0) & (ink == 0)
        assert f.image[lines].mean() < f.image[paper].mean() - 3  # printed: darker than paper


def _digit_measures(fields):
    """Per digit: stroke width (px, from the distance transform on its centre line), ink height
    (px), and its lean (horizontal shift per row upwards, a least-squares fit of its pixels)."""
    widths, heights, leans = [], [], []
    for f in fields.fields:
        for k, c in enumerate(f.text):
            if not c.isdigit():
                continue
            mask = f.owner == k
            centre = skeletonize(mask)
            widths.append(2 * np.median(ndimage.distance_transform_edt(mask)[centre]) - 1)
            rows = np.flatnonzero(mask.any(1))
            heights.append(rows[-1] - rows[0] + 1)
            ys, xs = np.nonzero(mask)
            up, right = ys.mean() - ys, xs - xs.mean()
            leans.append((up * right).mean() / (up * up).mean())
    return np.array(widths), np.array(heights), np.array(leans)


def test_phone_digits_are_larger_thicker_and_lean_forward_unlike_the_ledgers(phone, ledger):
    width, height, lean = _digit_measures(phone)
    l_width, l_height, l_lean = _digit_measures(ledger)
    assert 40 * 0.85 <= np.median(height) <= 64 * 1.15 and np.median(height) > 2 * np.median(
        l_height
    )
    assert width.mean() > 5 and (width / height).mean() > 1.4 * (l_width / l_height).mean()
    assert lean.mean() > 0.2 and lean.mean() > l_lean.mean() + 0.15


def _two_bars(f, k) -> bool:
    """Whether a row in the top fifth of character ``k``'s ink crosses exactly two runs of it."""
    mask = f.owner == k
    rows = np.flatnonzero(mask.any(1))
    runs = [(np.diff(np.r_[0, mask[r].astype(int), 0]) == 1).sum() for r in rows[: len(rows) // 5]]
    return 2 in runs


def test_phone_dollar_has_two_bars_the_ledgers_one(phone, ledger):
    ours = [_two_bars(f, k) for f in phone.fields for k, c in enumerate(f.text) if c == "$"]
    theirs = [_two_bars(f, k) for f in ledger.fields for k, c in enumerate(f.text) if c == "$"]
    assert len(ours) >= 10 and all(ours)
    assert len(theirs) >= 10 and np.mean(theirs) < 0.5


def test_phone_comma_descends_and_points_stand_apart(phone):
    drop = {",": [], ".": []}  # below the neighbouring digits' feet, in their heights
    for f in phone.fields:
        for k, c in enumerate(f.text):
            if c not in ",.":
                continue
            a, b = f.boxes[k]  # a gap either side: no column shared with a neighbour
            assert f.boxes[k - 1][1] <= a and b <= f.boxes[k + 1][0], f.text
            feet = [np.flatnonzero((f.owner == j).any(1)) for j in (k - 1, k + 1)]
            foot = np.mean([r[-1] for r in feet])
            tall = np.mean([r[-1] - r[0] + 1 for r in feet])
            drop[c].append((np.flatnonzero((f.owner == k).any(1))[-1] - foot) / tall)
    assert len(drop[","]) >= 5 and len(drop["."]) >= 10
    assert min(drop[","]) > 0.1 and np.abs(drop["."]).max() < 0.2


def test_a_character_is_warped_only_where_its_box_lands_and_nothing_is_lost_elsewhere():
    rng = np.random.default_rng(0)
    H, W = 60, 140
    for _ in range(20):
        corners = np.array([[0, 0], [W, 0], [W, H], [0, H]], float)
        moved = corners + rng.uniform(-8, 8, corners.shape)
        moved -= moved.min(0)
        W2, H2 = (int(np.ceil(m)) for m in moved.max(0))
        back = heldout_phone._homography(moved, corners)
        yy, xx = np.mgrid[0:H2, 0:W2] + 0.5
        p = back @ np.stack([xx.ravel(), yy.ravel(), np.ones(xx.size)])
        u, v = (p[0] / p[2]).reshape(H2, W2), (p[1] / p[2]).reshape(H2, W2)
        top, left = int(rng.integers(0, H - 10)), int(rng.integers(0, W - 10))
        bottom = top + int(rng.integers(1, min(30, H - top)))
        right = left + int(rng.integers(1, min(40, W - left)))
        layer = np.zeros((H, W), np.float32)
        layer[top:bottom, left:right] = rng.uniform(0.01, 1, (bottom - top, right - left))
        whole = ndimage.map_coordinates(layer, [v - 0.5, u - 0.5], order=1, cval=0.0)
        rows, cols = heldout_phone._photo_span(
            np.linalg.inv(back), (top, left, bottom, right), H2, W2
        )
        part = np.zeros_like(whole)
        part[rows, cols] = ndimage.map_coordinates(
            layer, [v[rows, cols] - 0.5, u[rows, cols] - 0.5], order=1, cval=0.0
        )
        assert whole.any() and np.array_equal(part, whole)
        assert part[rows, cols].size < whole.size  # the span is smaller than the page
