"""The apps' global training recipe: Adam, a cosine learning-rate decay and gradients clipped
by norm, run by :class:`factors.trainer.Trainer` (progress bars, atomic checkpoints, resume). One
function, so that every app's global training is the same recipe unless it says otherwise."""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch

from factors.trainer import LossFn, Trainer, cosine_schedule

__all__ = ["fit_adam_cosine"]


def fit_adam_cosine(
    model: torch.nn.Module,
    loss: LossFn,
    batches: Iterable,
    *,
    parameters: Iterable[torch.nn.Parameter] | None = None,
    epochs: int = 1,
    lr: float = 1e-3,
    seed: int = 0,
    grad_clip: float = 5.0,
    checkpoint: str | os.PathLike | None = None,
    progress: bool = True,
) -> list[dict]:
    """Train ``model`` on ``batches`` (an iterable of (x, y), re-iterated each epoch) with
    ``loss(model, x, y)`` -> scalar; Adam on ``parameters`` (default: all of the model's) at
    peak rate ``lr``, cosine decay to 2% of it. Returns the trainer's history."""
    optimizer = torch.optim.Adam(model.parameters() if parameters is None else parameters, lr=lr)
    trainer = Trainer(
        model,
        loss,
        optimizer,
        epochs=epochs,
        seed=seed,
        grad_clip=grad_clip,
        checkpoint=checkpoint,
        schedule=cosine_schedule(),
        progress=progress,
    )
    return trainer.fit(batches)
