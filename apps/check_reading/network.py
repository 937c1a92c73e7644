"""The check reader's networks (``nn.Module``s; the graphs around them are in :mod:`.model` and
:mod:`.sdnn`). Energies are -log_softmax of the logits.

- :class:`LeNet5`, the recognition transformer's network: every candidate segment gets an
  energy for each character class and for the rubbish class. A segment the net calls rubbish
  has high energy for every character, which keeps wrong segmentations off the best path.
- :class:`SpaceDisplacementNet`: the same kind of network replicated along the whole field,
  an energy for each character and for the CTC blank at every other column.
"""

from __future__ import annotations

import torch
from torch import nn

from .amounts import ALPHABET, NUM_CLASSES
from .segment import SIZE

NUM_LABELS = len(ALPHABET) + 1  # SDNN emission columns: blank + characters
STRIDE = 2  # SDNN: image columns per emission frame
# Both networks keep their convolution weights and inputs channels-last: torch's CPU
# convolutions and max pooling run markedly faster on that layout than on NCHW at these sizes
# (the same values up to float rounding; checkpoints store plain contiguous tensors).
LAYOUT = torch.channels_last


class LeNet5(nn.Module):
    """Input: images [S, 1, 32, 32] (1 = ink) and aspect [S] (log width / band height, the one
    fact the size normalisation hides). Output: energies [S, 15] = -log_softmax(logits).
    LeNet-5's layout (C1 6@28x28, S2, C3 16@10x10, S4, F5 120, F6 84) times ``width`` with ReLU
    and max pooling, which train faster on a short schedule than the original tanh and
    averaging (why width 2: docs/results/check-reading.md, "Training schedule")."""

    def __init__(self, num_classes: int = NUM_CLASSES, width: int = 2):
        super().__init__()
        self.num_classes, self.width = num_classes, width
        c1, c2, f1, f2 = 6 * width, 16 * width, 120 * width, 84 * width
        # Pooling before ReLU (they commute: max and ReLU are both monotone) runs the ReLU
        # and its backward on a quarter of the values: the same outputs, faster training.
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 5),
            nn.MaxPool2d(2),  # 32 -> 28 -> 14
            nn.ReLU(),
            nn.Conv2d(c1, c2, 5),
            nn.MaxPool2d(2),  # 14 -> 10 -> 5
            nn.ReLU(),
            nn.Flatten(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(c2 * 25 + 1, f1),
            nn.ReLU(),
            nn.Linear(f1, f2),
            nn.ReLU(),
            nn.Linear(f2, num_classes),
        )
        self.features.to(memory_format=LAYOUT)

    def config(self) -> dict:
        return {"num_classes": self.num_classes, "width": self.width}

    def forward(self, images: torch.Tensor, aspect: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or tuple(images.shape[1:]) != (1, SIZE, SIZE):
            raise ValueError(f"images must be [S, 1, {SIZE}, {SIZE}], got {list(images.shape)}")
        features = self.features(images.contiguous(memory_format=LAYOUT))
        h = torch.cat([features, aspect.reshape(-1, 1)], 1)
        return -torch.log_softmax(self.classifier(h), dim=1)


class SpaceDisplacementNet(nn.Module):
    """LeNet-style convolutions over a strip [B, 1, 32, W] -> energies [B, W // 2, 15].

    Two 5x5 convolution + pooling stages (32 rows -> 8, W columns -> W/2), a convolution over
    the 8 remaining rows (the replicated "fully connected" layer of a SDNN), then a 1-D
    convolution across neighbouring positions. Receptive field ~34 columns: about one and a half
    digit widths, enough to see where a character starts and ends."""

    def __init__(self, width: int = 2):
        super().__init__()
        c1, c2, c3 = 8 * width, 16 * width, 64 * width
        # Batch normalisation: CTC from scratch on a few thousand fields otherwise sits for
        # epochs on the all-blank plateau.
        self.features = nn.Sequential(
            nn.Conv2d(1, c1, 5, padding=2),
            nn.BatchNorm2d(c1),
            nn.MaxPool2d(2),  # 32 x W -> 16 x W/2 (before ReLU, as in LeNet5)
            nn.ReLU(),
            nn.Conv2d(c1, c2, 5, padding=2),
            nn.BatchNorm2d(c2),
            nn.MaxPool2d((2, 1)),  # -> 8 x W/2
            nn.ReLU(),
            nn.Conv2d(c2, c3, (8, 5), padding=(0, 2)),
            nn.BatchNorm2d(c3),
            nn.ReLU(),  # -> 1 x W/2
        )
        self.head = nn.Sequential(
            nn.Conv1d(c3, c3, 5, padding=2),
            nn.BatchNorm1d(c3),
            nn.ReLU(),
            nn.Conv1d(c3, NUM_LABELS, 1),
        )
        self.features.to(memory_format=LAYOUT)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 1 or images.shape[2] != SIZE:
            raise ValueError(f"strips must be [B, 1, {SIZE}, W], got {list(images.shape)}")
        if images.shape[3] < STRIDE:
            raise ValueError(f"strips must be at least {STRIDE} columns wide")
        h = self.features(images.contiguous(memory_format=LAYOUT)).squeeze(2)  # [B, C, T]
        return -torch.log_softmax(self.head(h), dim=1).transpose(1, 2)

    @staticmethod
    def frames(widths: torch.Tensor) -> torch.Tensor:
        """[B] emission frames of strips ``widths`` columns wide."""
        return widths // STRIDE
