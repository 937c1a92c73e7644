"""A short end-to-end run: the labeller, then the interaction energies by the marginal loss
through mean field; cleanup must raise mean IoU over the raw labeller on held-out images."""

import numpy as np
import pytest
import torch

from apps.segmentation import embryo
from apps.segmentation.cleanup import CleanupModel
from apps.segmentation.labeller import Labeller
from apps.segmentation.metrics import scores
from apps.segmentation.train import (
    Interactions,
    interaction_loss,
    train_interactions,
    train_labeller,
)

SMALL = embryo.Geometry(size=44, cells=(1, 4))


@pytest.fixture(scope="module")
def trained():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small tensors: one thread is fastest and does not oversubscribe
    torch.manual_seed(0)
    images, labels = embryo.generate(36, seed=123, geometry=SMALL)
    val_images, val_labels = embryo.generate(8, seed=456, geometry=SMALL)
    labeller = Labeller(5, channels=12)
    losses = train_labeller(labeller, images[:24], labels[:24], epochs=25, progress=False)
    model = CleanupModel(5, 8, learn_unary_weight=True, ranges=(1, 2, 4))
    history = train_interactions(
        model, labeller, images[24:], labels[24:], epochs=6, loss="marginal", progress=False
    )
    with torch.no_grad():
        u = labeller(torch.as_tensor(val_images))
    yield labeller, model, losses, history, u, val_labels
    torch.set_num_threads(threads)


def test_labeller_training_lowers_its_loss(trained):
    _, _, losses, _, _, _ = trained
    assert losses[-1] < 0.8 * losses[0]


def test_marginal_training_lowers_its_loss(trained):
    _, _, _, history, _, _ = trained
    assert history[-1] < history[0]


def test_cleanup_raises_mean_iou_over_the_raw_labeller(trained):
    _, model, _, _, u, truth = trained
    raw = scores(truth, u.argmin(-1).numpy(), 5)
    cleaned = scores(truth, model.infer(u, "mean_field").assignment.numpy(), 5)
    # Measured: mIoU 0.30 -> 0.48, pixel accuracy 0.834 -> 0.865. (Fragments are not asserted:
    # this under-trained labeller misses the thin classes, and the learned tables put them back
    # as extra regions.)
    assert cleaned["mean_iou"] > raw["mean_iou"] + 0.05
    assert cleaned["pixel_accuracy"] > raw["pixel_accuracy"] + 0.015


def test_interaction_losses_are_finite_and_differentiable(trained):
    labeller, _, _, _, u, truth = trained
    for loss in ("marginal", "perceptron", "hinge", "pseudo_likelihood"):
        model = CleanupModel(5, 4)
        value = interaction_loss(loss)(Interactions(model), u[:2], torch.as_tensor(truth[:2]))
        value.backward()
        assert np.isfinite(float(value))
        assert model.tables["horizontal"].grad is not None
    with pytest.raises(ValueError, match="unknown interaction loss"):
        interaction_loss("mse")
