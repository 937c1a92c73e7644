"""Training the check reader: locally on segments, then globally on whole fields.

Local: the recogniser alone, cross-entropy on candidate segments labelled by the renderer's
ownership map (characters as the segmenter cuts them, plus rubbish segments; ambiguous ones
left out). Global: the whole graph-transformer stack on (field, amount) pairs with a loss from
``factors.losses``, run by ``factors.trainer.Trainer``.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

import gtn
from factors import losses
from factors.trainer import cosine_schedule, seed_everything
from gtn.composition import intersect

from .._common.training import fit_adam
from .amounts import RUBBISH
from .data import PreparedSet
from .model import NUM_CHARS, Batch, CheckReaderModel, make_batch, stack_segments


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random small affine distortions of segment images [N, 1, 32, 32] (1 = ink): shift up to
    2 px, scale x (1 +- 0.1), shear +- 0.15. Segments of held-out fields differ from training
    ones in exactly these ways (placement in the band, size, slant)."""
    n = images.shape[0]
    u = torch.rand(n, 4, generator=generator) * 2 - 1
    s = 1 + 0.1 * u[:, 0]
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 1], theta[:, 1, 1] = s, 0.15 * u[:, 1], s
    theta[:, :, 2] = u[:, 2:] * (2 * 2.0 / images.shape[-1])  # 2 px in [-1, 1] coordinates
    grid = torch.nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    return torch.nn.functional.grid_sample(images, grid, align_corners=False)


def train_local(
    model: CheckReaderModel,
    data: PreparedSet,
    epochs: int = 3,
    batch_size: int = 64,
    lr: float = 2e-3,
    seed: int = 0,
    progress: bool = True,
) -> list[float]:
    """Cross-entropy on labelled segments with Adam and a cosine learning-rate decay; returns
    the mean loss per epoch. Each epoch sees every character segment plus as many rubbish
    segments, freshly drawn (rubbish outnumbers characters ~2:1 and is easy), randomly
    distorted by :func:`augment`."""
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    labels = torch.from_numpy(np.concatenate(data.segment_labels))
    keep = torch.nonzero(labels >= 0).flatten()
    # Segments stay uint8 (a quarter of float32's memory: a demo's training set is ~4e5
    # segments) and each batch is converted as make_batch would.
    images, aspect = (torch.from_numpy(a)[keep] for a in stack_segments(data.segmentations))
    labels = labels[keep]
    rubbish = torch.nonzero(labels == RUBBISH).flatten()
    chars = torch.nonzero(labels != RUBBISH).flatten()
    n_rubbish = min(rubbish.shape[0], chars.shape[0])
    steps = epochs * -(-(chars.shape[0] + n_rubbish) // batch_size)
    optimizer = torch.optim.Adam(model.recognizer.parameters(), lr=lr, fused=True)
    # Cosine decay: a high rate early for speed, a small one late to settle (short schedules).
    decay = cosine_schedule()
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda k: decay(min(k / steps, 1.0)))
    history = []
    for epoch in range(epochs):
        extra = rubbish[torch.randperm(rubbish.shape[0])[:n_rubbish]]
        order = torch.cat([chars, extra])[torch.randperm(chars.shape[0] + extra.shape[0])]
        total, desc = 0.0, f"local {epoch + 1}/{epochs}"
        bar = tqdm(range(0, len(order), batch_size), desc, disable=not progress, leave=False)
        for start in bar:
            idx = order[start : start + batch_size]
            x = augment(images[idx].float().div_(255.0).unsqueeze(1), generator)
            energies = model.recognizer(x, aspect[idx])
            loss = energies.gather(1, labels[idx, None]).mean()  # = cross-entropy
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            total += float(loss.detach()) * len(idx)
            bar.set_postfix(loss=f"{float(loss.detach()):.3f}")
        history.append(total / len(order))
    return history


class GraphLoss:
    """A global loss of the check reader, ``loss(model, x, y)`` -> scalar mean over fields.

    - "nll": E_C - F with sum-energies: F(interp o correct) - F(interp o grammar)
      (discriminative forward; -log P(y | x) for beta = 1);
    - "perceptron": E_C - min_Y E with min-energies (discriminative Viterbi);
    - "hinge": max(0, m + E_C - E_I), E_I from lattice o complement(y).

    The recogniser runs once per batch and every graph operation is batched. Fields whose
    correct reading has no segmentation (E_C = +inf: the segmenter missed a cut) cannot be
    learned from and are left out of the mean.
    """

    def __init__(self, name: str, margin: float = 1.0, beta: float = 1.0):
        if name not in ("nll", "perceptron", "hinge"):
            raise ValueError(f"unknown global loss {name!r}: use nll, perceptron or hinge")
        self.name, self.margin, self.beta = name, margin, beta

    def per_example(self, model: CheckReaderModel, x: Batch, y) -> torch.Tensor:
        interps = model.interpretation_graphs(x)
        lattice = model.lattices(interps)
        correct = model.answers(interps, y)
        if self.name == "nll":
            return losses.nll_loss(
                gtn.free_energy(correct, self.beta), gtn.free_energy(lattice, self.beta)
            )
        e_correct = gtn.min_energy(correct)
        if self.name == "perceptron":
            return losses.perceptron_loss(e_correct, gtn.min_energy(lattice))
        wrong = intersect(lattice, [gtn.complement(t, NUM_CHARS) for t in y])
        return losses.hinge_loss(e_correct, gtn.min_energy(wrong), self.margin)

    def __call__(self, model: CheckReaderModel, x: Batch, y) -> torch.Tensor:
        per = self.per_example(model, x, y)
        finite = torch.isfinite(per.detach())
        if not bool(finite.any()):
            return model.recognizer(x.images[:1], x.aspect[:1]).sum() * 0.0
        return per[finite].mean()


def field_loader(data: PreparedSet, batch_size: int) -> DataLoader:
    def collate(indices):
        return (
            make_batch([data.segmentations[i] for i in indices]),
            [data.targets[i] for i in indices],
        )

    return DataLoader(range(len(data)), batch_size=batch_size, shuffle=True, collate_fn=collate)


def train_global(
    model: CheckReaderModel,
    data: PreparedSet,
    loss: str,
    epochs: int = 1,
    batch_size: int = 16,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> list[dict]:
    """Global training with ``loss`` ("nll", "perceptron" or "hinge"), Adam with a cosine
    learning-rate decay; returns the history."""
    model.latent = "sum" if loss == "nll" else "min"
    return fit_adam(
        model, GraphLoss(loss), field_loader(data, batch_size),
        parameters=model.recognizer.parameters(), epochs=epochs, lr=lr, seed=seed,
        progress=progress,
    )  # fmt: skip
