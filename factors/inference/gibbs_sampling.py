"""Gibbs sampling from P(y) ∝ exp(-E(y) / T) with an annealed temperature T (simulated
annealing as T → 0). The seed's cleanup model used this sampler."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from ..terms import EnergyTerms
from .loopy import BestSoFar, color_classes, starting_point
from .result import InferenceResult


def temperature_schedule(start: float, end: float, sweeps: int) -> list[float]:
    """Geometric schedule from ``start`` to ``end`` over ``sweeps`` sweeps.

    >>> [round(t, 3) for t in temperature_schedule(1.0, 0.01, 3)]
    [1.0, 0.1, 0.01]
    """
    if sweeps == 1:
        return [float(end)]
    ratio = math.log(end / start) / (sweeps - 1)
    return [float(start * math.exp(ratio * i)) for i in range(sweeps)]


@torch.no_grad()
def gibbs(
    terms: EnergyTerms,
    init: torch.Tensor | None = None,
    sweeps: int = 100,
    temperature: float | tuple[float, float] | Sequence[float] = (2.0, 0.05),
    seed: int | None = 0,
) -> InferenceResult:
    """Block Gibbs sampling (one colour class at a time) under a temperature schedule.

    Args:
        temperature: a constant T, a (start, end) pair annealed geometrically, or one T per sweep.
        seed: seeds a private generator (None: torch's global RNG).

    Returns the lowest-energy sample seen (never worse than ``init``); ``converged`` is True
    where the last sweep changed no label (the chain froze).
    """
    t = terms.detach()
    if isinstance(temperature, int | float):
        temps = [float(temperature)] * sweeps
    elif len(temperature) == 2 and sweeps != 2:
        temps = temperature_schedule(float(temperature[0]), float(temperature[1]), sweeps)
    else:
        temps = [float(v) for v in temperature]
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    y = starting_point(t, init)
    best = BestSoFar(t, y)
    changed = torch.ones(t.batch_size, dtype=torch.bool)
    for temp in temps:
        changed = torch.zeros(t.batch_size, dtype=torch.bool)
        for idx in color_classes(t):
            logits = -t.conditional(y, idx) / temp
            u = torch.rand(logits.shape, generator=gen, dtype=logits.dtype).clamp_min(1e-20)
            sample = (logits - torch.log(-torch.log(u))).argmax(-1)  # Gumbel-max
            changed |= (sample != y[:, idx]).any(1)
            y[:, idx] = sample
        best.offer(y)
        best.record()
    return InferenceResult(best.y, best.energy, ~changed, len(temps), "gibbs", best.trace)
