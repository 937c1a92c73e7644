"""The Segmenter API: save / load round trip, bad input, bad files."""

import numpy as np
import pytest
import torch

from apps.segmentation import Segmenter
from apps.segmentation.cleanup import CleanupModel
from apps.segmentation.labeller import Labeller


@pytest.fixture
def segmenter():
    torch.manual_seed(0)
    labeller = Labeller(3, channels=4, dilations=(1, 2))
    cleanup = CleanupModel(3, 8)
    with torch.no_grad():
        for t in cleanup.tables.values():
            t.copy_(torch.randn(3, 3))
        cleanup.unary_weight.fill_(1.3)
    return Segmenter(labeller, cleanup, ("a", "b", "c"), "icm", {"task": "toy"})


def test_segment_returns_label_maps_and_energies(segmenter):
    images = np.random.default_rng(0).random((2, 9, 11)).astype(np.float32)
    result = segmenter.segment(images)
    assert result.labels.shape == (2, 9, 11) and result.raw.shape == (2, 9, 11)
    assert result.energy.shape == (2,) and result.method == "icm"
    assert result.labels.min() >= 0 and result.labels.max() < 3
    u = segmenter.association_energies(images[:1])[0]
    e = segmenter.cleanup.energy(u, torch.as_tensor(result.labels[:1]))
    assert float(e[0]) == pytest.approx(result.energy[0], abs=1e-4)


def test_images_of_different_sizes_come_back_as_lists(segmenter):
    result = segmenter.segment([np.zeros((5, 6)), np.ones((7, 4))])
    assert [m.shape for m in result.labels] == [(5, 6), (7, 4)]


def test_save_load_round_trip_gives_identical_answers(segmenter, tmp_path):
    images = np.random.default_rng(1).random((3, 8, 8)).astype(np.float32)
    path = segmenter.save(tmp_path / "model.pt")
    loaded = Segmenter.load(path)
    assert loaded.classes == segmenter.classes and loaded.info == {"task": "toy"}
    for method in ("icm", "mean_field", "alpha_expansion"):
        a, b = segmenter.segment(images, method), loaded.segment(images, method)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.energy, b.energy, rtol=1e-6)


def test_long_ranges_bias_and_reference_labeller_survive_the_round_trip(tmp_path):
    torch.manual_seed(1)
    cleanup = CleanupModel(3, 4, learn_unary_weight=True, ranges=(1, 3))
    with torch.no_grad():
        for t in cleanup.tables.values():
            t.copy_(torch.randn(3, 3))
        cleanup.unary_bias.copy_(torch.randn(3))
    tuned, alone = Labeller(3, channels=4, dilations=(1,)), Labeller(3, channels=4, dilations=(1,))
    path = Segmenter(tuned, cleanup, "abc", reference=alone).save(tmp_path / "joint.pt")
    loaded = Segmenter.load(path)
    images = np.random.default_rng(2).random((2, 10, 9)).astype(np.float32)
    x = torch.as_tensor(images)
    assert torch.equal(loaded.reference(x), alone(x)) and torch.equal(loaded.labeller(x), tuned(x))
    assert loaded.cleanup.ranges == (1, 3) and loaded.method == "mean_field"
    a, b = Segmenter(tuned, cleanup, "abc").segment(images), loaded.segment(images)
    np.testing.assert_array_equal(a.labels, b.labels)
    np.testing.assert_allclose(a.energy, b.energy, rtol=1e-6)
    assert (
        Segmenter.load(Segmenter(tuned, cleanup, "abc").save(tmp_path / "a.pt")).reference is None
    )


def test_bad_input_names_the_image(segmenter):
    with pytest.raises(ValueError, match="image 1: contains NaN"):
        segmenter.segment([np.zeros((5, 5)), np.full((5, 5), np.nan)])
    with pytest.raises(ValueError, match="image 0: empty image"):
        segmenter.segment([np.zeros((0, 4))])


def test_a_file_that_is_not_a_model_is_a_clear_error(tmp_path):
    path = tmp_path / "junk.pt"
    path.write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.pt is not a readable checkpoint"):
        Segmenter.load(path)
    torch.save({"something": 1}, path)
    with pytest.raises(ValueError, match="is not a segmenter checkpoint"):
        Segmenter.load(path)
