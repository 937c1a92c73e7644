"""The acoustic model: a time-delay (1-D convolutional) network from log-mel frames to
per-frame energies over the topology's emission columns.

Input: features [B, T, 40] (padded) and lengths [B]. Output: energies [B, T', V] with
T' = ceil(T / stride), energies = -log_softmax(logits), and the output
lengths [B]. The first layer subsamples frames by ``stride`` (2: 20 ms per output frame).
"""

from __future__ import annotations

import torch
from torch import nn

from .features import N_MELS


class TDNN(nn.Module):
    """Conv1d stack: (k=5, stride) then dilated k=3 layers (dilations 1, 2, 4, 1) with ReLU
    and batch norm, a 1x1 output layer. Receptive field ~ 0.6 s at stride 2."""

    def __init__(self, num_columns: int, width: int = 256, stride: int = 2, n_mels: int = N_MELS):
        super().__init__()
        self.num_columns, self.width, self.stride, self.n_mels = num_columns, width, stride, n_mels
        layers: list[nn.Module] = [
            nn.Conv1d(n_mels, width, 5, stride=stride, padding=2),
            nn.ReLU(),
            nn.BatchNorm1d(width),
        ]
        for d in (1, 2, 4, 1):
            layers += [
                nn.Conv1d(width, width, 3, padding=d, dilation=d),
                nn.ReLU(),
                nn.BatchNorm1d(width),
            ]
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv1d(width, num_columns, 1)

    def output_lengths(self, lengths: torch.Tensor) -> torch.Tensor:
        """Frames out for ``lengths`` frames in: ceil(T / stride)."""
        return torch.div(
            torch.as_tensor(lengths) + self.stride - 1, self.stride, rounding_mode="floor"
        )

    def forward(
        self, features: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(energies [B, T', V] = -log_softmax, output lengths [B])."""
        if features.dim() != 3 or features.shape[-1] != self.n_mels:
            raise ValueError(f"features must be [B, T, {self.n_mels}], got {list(features.shape)}")
        out_lengths = self.output_lengths(lengths)
        h = features.transpose(1, 2)
        for i, layer in enumerate(self.body):
            if i and isinstance(layer, nn.Conv1d):
                # padding past an utterance's end is not zero after batch norm: zeroed, the
                # utterance reads the same in any batch as alone
                h = h * (torch.arange(h.shape[-1]) < out_lengths[:, None]).unsqueeze(1)
            h = layer(h)
        h = self.out(h).transpose(1, 2)
        return -torch.log_softmax(h, dim=-1), out_lengths

    def config(self) -> dict:
        return {k: getattr(self, k) for k in ("num_columns", "width", "stride", "n_mels")}
