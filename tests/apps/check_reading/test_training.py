"""A small end-to-end run: training must beat the untrained start by a clear margin."""

import numpy as np
import pytest
import torch

from apps.check_reading import CheckReaderModel, data
from apps.check_reading.data import prepare
from apps.check_reading.evaluate import character_accuracy
from apps.check_reading.experiment import read_all
from apps.check_reading.model import make_batch
from apps.check_reading.train import GraphLoss, train_global, train_local


def test_global_nll_training_lowers_the_loss_from_the_untrained_start(small_prepared):
    torch.manual_seed(0)
    model = CheckReaderModel()
    data16 = small_prepared.head(16)
    x, y = make_batch(data16.segmentations), data16.targets
    loss = GraphLoss("nll")
    with torch.no_grad():
        start = float(loss(model, x, y))
    train_global(model, data16, "nll", epochs=6, batch_size=8, lr=5e-3, progress=False)
    with torch.no_grad():
        end = float(loss(model, x, y))
    assert np.isfinite(end) and end < 0.9 * start


@pytest.mark.slow
def test_local_then_global_training_beats_the_untrained_start():
    torch.manual_seed(0)
    train = prepare(data.generate("train", 150, seed=21))
    test_fields = data.generate("test", 40, seed=21)
    test = prepare(test_fields)
    model = CheckReaderModel()
    before = character_accuracy(read_all(model, test)[0], test_fields.texts)
    history = train_local(model, train, epochs=4, lr=2e-3, progress=False)
    assert history[-1] < 0.8 * history[0]
    after_local = character_accuracy(read_all(model, test)[0], test_fields.texts)
    assert after_local > before + 0.15

    x, y = make_batch(train.segmentations[:16]), train.targets[:16]
    loss = GraphLoss("nll")
    with torch.no_grad():
        start = float(loss(model, x, y))
    train_global(model, train.head(16), "nll", epochs=3, batch_size=8, lr=1e-3, progress=False)
    with torch.no_grad():
        end = float(loss(model, x, y))
    assert np.isfinite(end) and end < 0.9 * start
