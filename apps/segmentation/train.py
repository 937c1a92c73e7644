"""Training: the labeller first (per-pixel cross-entropy), then the interaction energies, each
by :class:`factors.Trainer`; the interactions' loss is a :class:`factors.StructuredLoss`.

The default loss is the marginal loss through mean field, because it trains the tables with the
truncated inference that will use them (the losses tried and their numbers:
docs/results/segmentation.md).

The interaction stage sees association energies of a labeller that has *not* been trained on
the same images (``train_interactions`` is given a separate split of the training data): a
labeller is over-confident on its own training images, and interactions learned there would be
too weak.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import factors
from factors.inference import icm
from factors.trainer import cosine_schedule

from .._common.training import fit_adam
from .cleanup import CleanupModel
from .labeller import Labeller

LOSSES = ("marginal", "pseudo_likelihood", "perceptron", "hinge")
ICM_SWEEPS = 6
"""Sweeps of the (loss-augmented) ICM inside the perceptron and hinge losses: an approximate
most-offending answer, as in any loopy max-margin training."""


class Interactions(nn.Module):
    """The cleanup model as a :class:`factors.EnergyModel` over association energies
    U [B, H, W, K] (label maps y [B, H, W]; energies, lower is better).

    With a ``labeller`` the inputs are images [B, H, W] and the labeller is trained through
    the loss too; ``prepare`` runs it once per batch. ``infer`` and ``most_offending`` are
    ICM started at the labeller's own labelling argmin U (loss-augmented with a cost).
    """

    def __init__(self, cleanup: CleanupModel, labeller: Labeller | None = None):
        super().__init__()
        self.cleanup, self.labeller = cleanup, labeller

    def prepare(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Association energies U [B, H, W, K] of the batch."""
        return self.labeller(x) if self.labeller is not None else x

    def energy(self, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.cleanup.energy(u, y)

    def marginals(self, u: torch.Tensor) -> torch.Tensor:
        return self.cleanup.marginals(u)

    def terms(self, u: torch.Tensor) -> factors.EnergyTerms:
        return self.cleanup.terms(u)

    def infer(self, u: torch.Tensor, **options) -> factors.InferenceResult:
        return self.cleanup.infer(u.detach(), "icm", **options)

    @torch.no_grad()
    def most_offending(self, u: torch.Tensor, y: torch.Tensor, cost=None, **options):
        """argmin_y' E(y') - Δ(y, y') by ICM from argmin U: [B, H, W]; ``cost`` "hamming"
        or a table [B, H·W, K]."""
        b, n = len(y), y[0].numel()
        terms = self.cleanup.terms(u).detach()
        if cost is not None:
            table = self.cleanup.graph(*u.shape[1:3]).cost_table(y.reshape(b, n), cost)
            terms = terms.with_unary(-table)
        start = u.detach().reshape(b, n, -1).argmin(-1)
        return icm(terms, init=start, **options).assignment.reshape(y.shape)


def interaction_loss(name: str = "marginal") -> factors.StructuredLoss:
    """The structured loss ``name`` (one of ``LOSSES``) for :class:`Interactions`, per pixel:
    the perceptron against ICM's answer, the hinge with a Hamming margin (max-margin Markov
    networks, loss-augmented ICM), pseudo-likelihood, or the marginal loss through mean field.
    """
    if name not in LOSSES:
        raise ValueError(f"unknown interaction loss {name!r}; choose from {', '.join(LOSSES)}")
    hinge = {"margin": 0.0, "cost": "hamming"} if name == "hinge" else {}
    inference = {"max_sweeps": ICM_SWEEPS} if name in ("perceptron", "hinge") else {}
    return factors.StructuredLoss(name, inference=inference, per_variable=True, **hinge)


def pixel_cross_entropy(labeller: Labeller, images: torch.Tensor, y: torch.Tensor):
    """Mean -log P(y_i | image) over pixels: the labeller's energies are -log_softmax."""
    return labeller(images).gather(-1, y[..., None]).mean()


def _loader(x: torch.Tensor, y: np.ndarray, batch_size: int) -> DataLoader:
    return DataLoader(TensorDataset(x, torch.as_tensor(y)), batch_size=batch_size, shuffle=True)


def train_labeller(
    labeller: Labeller,
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int = 10,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Per-pixel cross-entropy training (Adam, learning rate 0.01, 4 images a batch).
    images [N, H, W], labels [N, H, W]. Returns the mean loss of each epoch."""
    history = fit_adam(
        labeller, pixel_cross_entropy, _loader(torch.as_tensor(images), labels, 4),
        lr=1e-2, epochs=epochs, seed=seed, progress=progress, grad_clip=None, schedule=None,
    )  # fmt: skip
    return [record["loss"] for record in history]


def train_interactions(
    model: CleanupModel,
    labeller: Labeller,
    images: np.ndarray,
    labels: np.ndarray,
    epochs: int = 20,
    loss: str = "marginal",
    joint: bool = False,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Learn the interaction energies (and the association weight and bias, when the model
    learns them) with ``loss``; Adam, 8 images a batch, the learning rate 0.05 decayed to 0
    along a cosine.

    With ``joint=False`` the labeller is frozen and its energies are computed once; with
    ``joint=True`` the labeller is fine-tuned through the same loss (learning rate 0.05 / 50).
    Returns the mean loss of each epoch.
    """
    structured = interaction_loss(loss)
    groups = [{"params": [p for p in model.parameters() if p.requires_grad], "lr": 0.05}]
    if joint:
        groups.append({"params": list(labeller.parameters()), "lr": 0.05 / 50})
        x = torch.as_tensor(images)
    else:
        x = labeller.energies(images)
    history = fit_adam(
        Interactions(model, labeller if joint else None), structured,
        _loader(x, labels, 8), parameters=groups, epochs=epochs, seed=seed,
        progress=progress, grad_clip=None, schedule=cosine_schedule(floor=0.0),
    )  # fmt: skip
    return [record["loss"] for record in history]
