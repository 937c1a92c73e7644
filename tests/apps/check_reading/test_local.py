"""Local-training details: truth labels for small symbols, augmentation, learning."""

import numpy as np
import torch

from apps.check_reading.amounts import ALPHABET, RUBBISH
from apps.check_reading.segment import Segmentation
from apps.check_reading.train import augment, train_local
from apps.check_reading.truth import segment_truth


def _seg(cuts, spans, height=10):
    start, end = (np.array(a, np.int32) for a in zip(*spans, strict=True))
    n = len(spans)
    return Segmentation(
        np.array(cuts),
        start,
        end,
        (0, height),
        np.zeros((n, 32, 32), np.uint8),
        np.zeros(n, np.float32),
        np.repeat(np.array(cuts, np.int64)[:, None], height, axis=1),  # straight cuts
    )


def test_a_digit_with_a_period_is_rubbish_not_the_digit():
    # "0." : a 100-pixel "0" in columns 0-9, a 4-pixel "." in columns 12-13.
    owner = np.full((10, 14), -1, np.int8)
    owner[:, :10] = 0
    owner[4:6, 12:14] = 1
    seg = _seg([0, 11, 14], [(0, 1), (1, 2), (0, 2)])
    labels, _ = segment_truth(seg, owner, "0.")
    assert labels.tolist() == [ALPHABET.index("0"), ALPHABET.index("."), RUBBISH]


def test_augment_keeps_shape_and_ink():
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(8, 1, 32, 32)
    x[:, :, 8:24, 12:20] = 1.0
    y = augment(x, g)
    assert y.shape == x.shape and not torch.equal(x, y)
    assert torch.allclose(y.sum((1, 2, 3)), x.sum((1, 2, 3)), rtol=0.35)


def test_local_training_with_augmentation_and_decay_lowers_the_loss(small_prepared):
    """A few seconds on 45 fields: the augmented, cosine-decayed schedule still learns."""
    from apps.check_reading.model import CheckReaderModel

    history = train_local(
        CheckReaderModel(), small_prepared.head(45), epochs=6, batch_size=32, progress=False
    )
    assert np.all(np.isfinite(history)) and history[-1] < 0.85 * history[0]
