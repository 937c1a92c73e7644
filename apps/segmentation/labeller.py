"""The association energies: a small fully convolutional per-pixel labeller.

``Labeller(images)`` maps images [B, H, W] (float, any range) to per-pixel energies
[B, H, W, K] = -log_softmax(logits): exp(-energy) sums to 1 over labels.
Each image is standardised (zero mean, unit variance) first, which removes global brightness
and contrast changes but not uneven illumination. The receptive field is small on purpose
(``receptive_field`` pixels square): the labeller sees local evidence only, and the
interaction energies of :mod:`.cleanup` supply the consistency between neighbours.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Labeller(nn.Module):
    """Conv(3×3, dilation d) + ReLU for each d in ``dilations``, then a 1×1 classifier over
    ``num_labels`` labels.

    >>> net = Labeller(num_labels=5, channels=4, dilations=(1, 2))
    >>> tuple(net(torch.zeros(2, 8, 9)).shape), net.receptive_field
    ((2, 8, 9, 5), 7)
    """

    def __init__(
        self, num_labels: int, channels: int = 16, dilations: tuple[int, ...] = (1, 1, 2, 2)
    ):
        super().__init__()
        self.num_labels, self.channels = int(num_labels), int(channels)
        self.dilations = tuple(int(d) for d in dilations)
        layers: list[nn.Module] = []
        width = 1
        for d in self.dilations:
            conv = nn.Conv2d(width, channels, 3, padding=d, dilation=d, padding_mode="reflect")
            layers += [conv, nn.ReLU()]
            width = channels
        layers.append(nn.Conv2d(width, num_labels, 1))
        self.body = nn.Sequential(*layers)

    @property
    def receptive_field(self) -> int:
        return 2 * sum(self.dilations) + 1

    def config(self) -> dict:
        return {
            "num_labels": self.num_labels,
            "channels": self.channels,
            "dilations": list(self.dilations),
        }

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """images [B, H, W] -> association energies [B, H, W, K] (-log_softmax)."""
        x = images.float()
        mean = x.mean((1, 2), keepdim=True)
        std = x.std((1, 2), keepdim=True).clamp_min(1e-3)
        logits = self.body(((x - mean) / std)[:, None])  # [B, K, H, W]
        return -F.log_softmax(logits, 1).permute(0, 2, 3, 1)

    @torch.no_grad()
    def energies(self, images) -> torch.Tensor:
        """Association energies [N, H, W, K] of a stack of images [N, H, W] (array or
        tensor), 16 images at a time, without gradients."""
        x = torch.as_tensor(images)
        return torch.cat([self(x[i : i + 16]) for i in range(0, len(x), 16)])
