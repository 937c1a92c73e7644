"""The evaluation rows and the Potts tuning grid."""

import numpy as np
import torch

from apps.segmentation import potts
from apps.segmentation.cleanup import CleanupModel
from apps.segmentation.evaluate import evaluate


def energies_from(labels: np.ndarray, k: int, wrong: float) -> torch.Tensor:
    """Energies [N, H, W, K] whose argmin is ``labels``, with ``wrong`` pixels flipped."""
    rng = np.random.default_rng(0)
    y = labels.copy()
    flip = rng.random(y.shape) < wrong
    y[flip] = (y[flip] + 1) % k
    return 1.0 - torch.nn.functional.one_hot(torch.as_tensor(y), k).float()


def test_rows_score_the_labeller_alone_when_the_cleanup_used_a_tuned_one():
    truth = np.zeros((2, 6, 7), np.int64)
    truth[:, :, 4:] = 1
    u_alone, u_tuned = energies_from(truth, 2, 0.2), energies_from(truth, 2, 0.5)
    rows, maps = evaluate(CleanupModel(2, 4), u_tuned, truth, ["mean_field"], u_alone=u_alone)
    assert list(rows) == ["labeller", "labeller (joint-tuned, alone)", "learned (mean_field)"]
    np.testing.assert_array_equal(maps["labeller"], u_alone.argmin(-1).numpy())
    alone_acc = (u_alone.argmin(-1).numpy() == truth).mean()
    tuned_acc = (u_tuned.argmin(-1).numpy() == truth).mean()
    assert rows["labeller"]["pixel_accuracy"] == alone_acc
    assert rows["labeller (joint-tuned, alone)"]["pixel_accuracy"] == tuned_acc


def test_potts_tuning_tries_long_ranges_under_mean_field_only():
    truth = np.zeros((2, 8, 8), np.int64)
    truth[:, 4:] = 1
    u = energies_from(truth, 2, 0.15)
    strength, method, ranges, trials = potts.tune(
        u,
        truth,
        ("icm", "mean_field"),
        strengths=(0.5, 2.0),
        neighbourhood=4,
        ranges=[(1,), (1, 2)],
    )
    tried = {(t["method"], tuple(t["ranges"])) for t in trials}
    assert tried == {("icm", (1,)), ("mean_field", (1,)), ("mean_field", (1, 2))}
    assert {t["strength"] for t in trials if t["ranges"] == [1, 2]} == {0.25, 1.0}
    best = max(trials, key=lambda t: t["mean_iou"])
    assert (strength, method, list(ranges)) == (best["strength"], best["method"], best["ranges"])
