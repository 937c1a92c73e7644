"""Hypothesis strategies for dense-lattice emissions: the inputs real training sends (long,
peaked, one-hot-like, with impossible labels), not only ``randn``. Energies, lower is better:
emissions = -log_softmax(logits)."""

from __future__ import annotations

import math

import torch
from hypothesis import strategies as st

from tests.gtn.strategies import STRESS_OFFSETS

F64 = torch.float64
KINDS = ("plain", "peaked", "onehot", "inf")
STRESS_KINDS = (*KINDS, "offset")  # and large partial energies (see emissions())


class Emissions:
    """Drawn logits [B, T, V], their energies -log_softmax(logits) (plus per-frame offsets
    [B, T] if given) and lengths [B]."""

    def __init__(self, logits: torch.Tensor, lengths: torch.Tensor, kind: str, offsets=None):
        self.logits = logits
        self.energies = -logits.log_softmax(-1)
        if offsets is not None:
            self.energies = self.energies + offsets[:, :, None]
        self.lengths = lengths
        self.kind = kind

    def __repr__(self) -> str:
        B, T, V = self.logits.shape
        return f"Emissions({self.kind}, B={B}, T={T}, V={V}, lengths={self.lengths.tolist()})"


@st.composite
def emissions(
    draw,
    num_labels: int = 3,
    max_batch: int = 3,
    min_batch: int = 1,
    max_frames: int = 12,
    long_frames: int = 400,
    kinds=KINDS,
    min_length: int = 0,
    keep_finite: int | None = None,
) -> Emissions:
    """Emissions of one of ``kinds``:

    - plain: logits randn;
    - peaked: logits randn / temperature, temperature in [0.01, 0.1] (a confident model);
    - onehot: energy 0 for one label per frame, 1e4 for the others;
    - inf: +inf energies (impossible labels) at random, except label ``keep_finite`` if given;
    - offset (in STRESS_KINDS): plain, each frame's energies shifted by one of
      ``STRESS_OFFSETS`` (up to +-1e30): partial energies that round the small parts away.

    One draw in four is long (up to ``long_frames`` frames); lengths vary within the batch."""
    kind = draw(st.sampled_from(kinds))
    B = draw(st.integers(min_batch, max_batch))
    long = draw(st.integers(0, 3)) == 0
    T = draw(st.integers(max(min_length, 1), long_frames if long else max(max_frames, 1)))
    lengths = torch.tensor(
        [T] + [draw(st.integers(min_length, T)) for _ in range(B - 1)], dtype=torch.long
    )
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    V = num_labels
    logits = torch.randn(B, T, V, generator=gen, dtype=F64)
    if kind == "peaked":
        logits = logits / draw(st.sampled_from([0.1, 0.05, 0.02, 0.01]))
    elif kind == "onehot":
        hot = torch.randint(0, V, (B, T, 1), generator=gen)
        logits = torch.full((B, T, V), -1e4, dtype=F64).scatter_(2, hot, 0.0)
    elif kind == "inf":
        drop = torch.rand(B, T, V, generator=gen, dtype=F64) < draw(st.sampled_from([0.2, 0.5]))
        if keep_finite is not None:
            drop[:, :, keep_finite] = False
        else:  # never every label of a frame: -log_softmax would be NaN
            drop &= torch.arange(V) != torch.randint(0, V, (B, T, 1), generator=gen)
        logits = logits.masked_fill(drop, -math.inf)
    offsets = None
    if kind == "offset":
        pick = torch.randint(0, len(STRESS_OFFSETS), (B, T), generator=gen)
        offsets = torch.tensor(STRESS_OFFSETS, dtype=F64)[pick]
    return Emissions(logits, lengths, kind, offsets)
