"""The baseline: the same labeller plus hand-tuned Potts smoothing.

E(y) = Σ_i U[i, y_i] + λ Σ_{(i, j) neighbours} [y_i != y_j], on the same neighbourhood
directions as the learned model. λ, the inference method and the coupling
distances (the plain neighbourhood, or the learned model's longer ``ranges`` with λ shared by
all) are chosen on the validation set (best mean IoU); nothing is learned from the training set.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import product

import numpy as np
import torch
from tqdm.auto import tqdm

from .cleanup import CleanupModel
from .metrics import scores

STRENGTHS = (0.1, 0.25, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)


def potts_model(
    num_labels: int, strength: float, neighbourhood: int = 8, ranges: tuple[int, ...] = (1,)
) -> CleanupModel:
    """A frozen :class:`CleanupModel` whose tables are λ · (1 - I) (unary weight 1)."""
    model = CleanupModel(num_labels, neighbourhood, ranges=ranges)
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
    ranges: Sequence[tuple[int, ...]] = ((1,),),
    progress: bool = False,
) -> tuple[float, str, tuple[int, ...], list[dict]]:
    """Pick (λ, method, ranges) maximising validation mean IoU. u: validation association
    energies [N, H, W, K]; truth [N, H, W]. Long ranges get λ / (number of distances), so that
    a pixel's total coupling stays on the same scale; they are tried under mean field only (ICM
    on the generic engine would take minutes). Returns (λ, method, ranges, every trial's scores).
    """
    k = u.shape[-1]
    trials = []
    distances = list(dict.fromkeys(map(tuple, ranges)))
    every = product(methods, distances, strengths)
    grid = [(m, r, s) for m, r, s in every if m == "mean_field" or r == (1,)]
    for method, dist, strength in tqdm(
        grid, desc="potts tuning", disable=not progress, leave=False
    ):
        lam = strength / len(dist)
        y = potts_model(k, lam, neighbourhood, dist).infer(u, method).assignment.numpy()
        trials.append(
            {"strength": lam, "method": method, "ranges": list(dist), **scores(truth, y, k)}
        )
    best = max(trials, key=lambda t: t["mean_iou"])
    return best["strength"], best["method"], tuple(best["ranges"]), trials
