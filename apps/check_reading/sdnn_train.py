"""Training the space-displacement reader on whole fields: no segment labels, no segmenter.

The loss is CTC, i.e. the NLL of the field's transcript with the alignment (where each character
sits along the field) as a latent variable summed out: F(transcript through the CTC topology)
over -log_softmax column energies. The network learns where characters are from transcripts
alone, which is what the segmenting reader needs its ownership-map labels for. Trained with the
apps' recipe (:func:`apps._common.training.fit_adam`).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from .._common.training import fit_adam
from .amounts import encode
from .network import SpaceDisplacementNet
from .sdnn import SdnnReader, stack_strips, transcript_energies


def distort(images: torch.Tensor, generator: torch.Generator, shear: float = 0.15) -> torch.Tensor:
    """Random shear (+- ``shear``, a change of slant) and vertical shift (+- 2 px) of strips
    [B, 1, 32, W]: held-out fields differ from training ones in slant and placement."""
    B, _, H, W = images.shape
    u = torch.rand(B, 2, generator=generator) * 2 - 1
    theta = torch.zeros(B, 2, 3)
    theta[:, 0, 0] = theta[:, 1, 1] = 1.0
    theta[:, 0, 1] = shear * u[:, 0] * H / W  # shear in pixels, in normalised coordinates
    theta[:, 1, 2] = u[:, 1] * (4.0 / H)
    grid = torch.nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    return torch.nn.functional.grid_sample(images, grid, align_corners=False)


class SimilarWidths(Sampler[int]):
    """A random order of the strips in which every run of ``batch_size`` holds strips of
    similar width: each epoch the strips are shuffled, each pool of ``pool`` batches' worth
    sorted by width and cut into batches, and the full batches shuffled (a short last batch
    stays last, so that the runs stay aligned). A batch is padded to its widest strip, and
    field widths vary about eightfold: in batches drawn at random nearly half of the
    columns would be padding."""

    def __init__(self, widths: list[int], batch_size: int, pool: int = 8):
        self.widths, self.batch_size, self.pool = list(widths), batch_size, pool

    def __len__(self) -> int:
        return len(self.widths)

    def __iter__(self):
        n, size = len(self.widths), self.batch_size * self.pool
        order = torch.randperm(n).tolist()
        batches = []
        for p in range(0, n, size):
            chunk = sorted(order[p : p + size], key=self.widths.__getitem__)
            batches += [
                chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)
            ]
        short = batches.pop() if batches and len(batches[-1]) < self.batch_size else []
        for k in torch.randperm(len(batches)).tolist():
            yield from batches[k]
        yield from short


def strip_loader(
    strips: list[np.ndarray],
    texts: list[str],
    batch_size: int,
    generator: torch.Generator | None = None,
) -> DataLoader:
    """Batches ((images [B, 1, 32, W], widths [B]), targets) with CTC labels (1 + character),
    of strips of similar width in random order (:class:`SimilarWidths`); distorted by
    :func:`distort` when a ``generator`` is given."""
    targets = [[1 + c for c in encode(t)] for t in texts]

    def collate(indices):
        images, widths = stack_strips([strips[i] for i in indices])
        if generator is not None:
            images = distort(images, generator)
        return (images, widths), [targets[i] for i in indices]

    sampler = SimilarWidths([s.shape[1] for s in strips], batch_size)
    return DataLoader(
        range(len(strips)), batch_size=batch_size, sampler=sampler, collate_fn=collate
    )


def ctc_field_loss(network: SpaceDisplacementNet, x, y) -> torch.Tensor:
    """Mean over fields of F(transcript) (CTC); fields too short for their transcript (no
    alignment, +inf) are left out."""
    images, widths = x
    emissions = network(images)
    loss = transcript_energies(emissions, SpaceDisplacementNet.frames(widths), y)
    finite = torch.isfinite(loss.detach())
    if not bool(finite.any()):
        return emissions.sum() * 0.0
    return loss[finite].mean()


def train_sdnn(
    reader: SdnnReader,
    strips: list[np.ndarray],
    texts: list[str],
    epochs: int = 10,
    batch_size: int = 32,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = True,
) -> list[dict]:
    """Train ``reader.network`` with CTC on field strips and their amount strings (Adam, cosine
    learning-rate decay)."""
    generator = torch.Generator().manual_seed(seed)
    batches = strip_loader(strips, texts, batch_size, generator)
    return fit_adam(
        reader.network, ctc_field_loss, batches, epochs=epochs, lr=lr, seed=seed,
        progress=progress,
    )  # fmt: skip
