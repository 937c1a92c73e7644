"""The baseline: the same labeller plus hand-tuned Potts smoothing.

E(y) = Σ_i U[i, y_i] + λ Σ_{(i, j) neighbours} [y_i != y_j], lower is better, on the same
neighbourhood as the learned model. λ and the inference method are chosen on the validation
set (best mean IoU); nothing is learned from the training set.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .cleanup import CleanupModel
from .metrics import scores

STRENGTHS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0)


def potts_model(num_labels: int, strength: float, neighbourhood: int = 8) -> CleanupModel:
    """A frozen :class:`CleanupModel` whose tables are λ · (1 - I) (unary weight 1)."""
    model = CleanupModel(num_labels, neighbourhood)
    with torch.no_grad():
        for table in model.tables.values():
            table.copy_(strength * (1.0 - torch.eye(num_labels)))
    model.requires_grad_(False)
    return model


def tune(
    u: torch.Tensor,
    truth: np.ndarray,
    methods: Sequence[str] = ("icm", "mean_field"),
    strengths: Sequence[float] = STRENGTHS,
    neighbourhood: int = 8,
    progress: bool = False,
) -> tuple[float, str, list[dict]]:
    """Pick (λ, method) maximising validation mean IoU. u: validation association energies
    [N, H, W, K]; truth [N, H, W]. Returns (λ, method, every trial's scores)."""
    k = u.shape[-1]
    trials = []
    grid = [(m, s) for m in methods for s in strengths]
    for method, strength in tqdm(grid, desc="potts tuning", disable=not progress, leave=False):
        y = potts_model(k, strength, neighbourhood).infer(u, method).assignment.numpy()
        trials.append({"strength": strength, "method": method, **scores(truth, y, k)})
    best = max(trials, key=lambda t: t["mean_iou"])
    return best["strength"], best["method"], trials
