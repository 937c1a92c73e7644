"""Training the acoustic model globally: MMI (NLL of the transcript against the grammar) with
the HMM topology, or CTC, driven by ``factors.trainer.Trainer``.

- MMI: F(numerator) - F(denominator), the numerator being the transcript through the
  topology and the denominator the digit-loop grammar through it (``gtn.mmi_loss``): the
  negative log-probability of the transcript under the globally normalised model.
- CTC: F(transcript's CTC graph) with locally normalised energies (``gtn.ctc_loss``).

Both are means over utterances of energies per frame.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import DataLoader

import gtn

from .._common.training import fit_adam
from . import augment
from .augment import Augmentation
from .data import PreparedSet
from .features import pad
from .graphs import Topology
from .network import TDNN


class SpeechLoss:
    """``loss(model, x, y)``: x = (features [B, T, 40], lengths [B]), y = word-id tuples;
    "mmi" (HMM topology) or "ctc". Returns the mean over utterances of the loss per frame."""

    def __init__(self, name: str, topology: Topology):
        if name not in ("mmi", "ctc"):
            raise ValueError(f"unknown loss {name!r}: use mmi or ctc")
        if (name == "ctc") != (topology.kind == "ctc"):
            raise ValueError(f"loss {name} needs the {'ctc' if name == 'ctc' else 'hmm'} topology")
        self.name, self.topology = name, topology
        self._numerators: dict[tuple[int, ...], gtn.Graph] = {}

    def numerator(self, words: tuple[int, ...]) -> gtn.Graph:
        if words not in self._numerators:
            self._numerators[words] = self.topology.numerator(words)
        return self._numerators[words]

    def per_utterance(self, model: TDNN, x, y) -> torch.Tensor:
        """[B] loss of each utterance (not normalised)."""
        feats, lengths = x
        energies, out_lengths = model(feats, lengths)
        energies = energies.double()
        if self.name == "ctc":
            targets = torch.tensor([w + 1 for words in y for w in words], dtype=torch.long)
            target_lengths = torch.tensor([len(words) for words in y], dtype=torch.long)
            return gtn.ctc_loss(energies, targets, out_lengths, target_lengths, reduction="none")
        nums = gtn.dense_lattice.GraphBatch.from_graphs([self.numerator(tuple(t)) for t in y])
        return gtn.mmi_loss(energies, nums, self.topology.denominator, out_lengths, "none")

    def __call__(self, model: TDNN, x, y) -> torch.Tensor:
        per = self.per_utterance(model, x, y)
        frames = model.output_lengths(x[1]).to(per.dtype)
        return (per / frames).mean().float()


def loader(
    data: PreparedSet,
    batch_size: int,
    shuffle: bool = True,
    augmentation: Augmentation = augment.NONE,
    seed: int = 0,
) -> DataLoader:
    """Batches (x, y) = ((features, lengths), word tuples) of ``data``; with "specaugment" in
    ``augmentation``, each batch's features get fresh masks (:func:`.augment.spec_augment`)
    from a generator seeded by ``seed``."""
    masks = np.random.default_rng([seed, 77]) if augmentation.uses("specaugment") else None

    def collate(indices):
        feats = [data.features[i] for i in indices]
        if masks is not None:
            feats = [augment.spec_augment(f, augmentation, masks) for f in feats]
        return pad(feats), [data.words[i] for i in indices]

    return DataLoader(range(len(data)), batch_size=batch_size, shuffle=shuffle, collate_fn=collate)


def train(
    model: TDNN,
    topology: Topology,
    data: PreparedSet,
    loss: str,
    epochs: int = 10,
    batch_size: int = 16,
    lr: float = 2e-3,
    seed: int = 0,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = False,
    progress: bool = True,
    schedule=None,
    augmentation: Augmentation = augment.NONE,
) -> list[dict]:
    """Train ``model`` with ``loss`` ("mmi" or "ctc") by Adam; returns the Trainer's history.
    ``schedule``: learning-rate multiplier by training progress (``factors.trainer``), or None;
    ``augmentation``: its SpecAugment masks are applied per batch (the waveform ingredients
    belong to :func:`prepare`)."""
    if model.num_columns != topology.num_columns:
        raise ValueError(
            f"model has {model.num_columns} outputs, topology needs {topology.num_columns}"
        )
    batches = loader(data, batch_size, augmentation=augmentation, seed=seed)
    return fit_adam(
        model, SpeechLoss(loss, topology), batches, lr=lr, epochs=epochs, seed=seed,
        checkpoint=checkpoint, resume=resume, progress=progress, schedule=schedule,
    )  # fmt: skip
