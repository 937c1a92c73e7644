"""The apps' training loop: Adam run by :class:`factors.trainer.Trainer` (progress bars, atomic
checkpoints, resume), by default with the apps' recipe, gradients clipped by norm and a cosine
learning-rate decay. One function, so that every app trains the same way unless it says
otherwise."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from factors.trainer import LossFn, Trainer, cosine_schedule

__all__ = ["RECIPE", "fit_adam"]

RECIPE = {"grad_clip": 5.0, "schedule": cosine_schedule()}
"""Trainer options every app uses unless it says otherwise: gradient norm clipped at 5, the
learning rate decayed along a cosine to 2% of its peak."""


def fit_adam(
    model: torch.nn.Module,
    loss: LossFn,
    batches: Iterable,
    *,
    parameters: Iterable | None = None,
    lr: float = 1e-3,
    **options: Any,
) -> list[dict]:
    """Train ``model`` on ``batches`` (an iterable of (x, y), re-iterated each epoch) with
    ``loss(model, x, y)`` -> scalar; Adam on ``parameters`` (default: all of the model's; or
    parameter groups) at peak rate ``lr``. ``options``: :class:`factors.trainer.TrainingOptions`
    fields (epochs, seed, checkpoint, resume, validate, progress, ...), over :data:`RECIPE`.
    Returns the trainer's history."""
    # Fused: one kernel for every parameter's update instead of several per tensor; the same
    # update up to float rounding.
    params = model.parameters() if parameters is None else parameters
    optimizer = torch.optim.Adam(params, lr=lr, fused=True)
    return Trainer(model, loss, optimizer, **{**RECIPE, **options}).fit(batches)
