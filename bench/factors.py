"""Benchmarks for factors: loopy grid inference, and a chain NLL training step vs pytorch-crf.

    .venv/bin/python bench/factors.py            # 256×256 grid, 5 labels
    .venv/bin/python bench/factors.py --size 64  # quicker

Grid: a piecewise-constant 5-label image, unary energies from noisy evidence, Potts pairwise
(strength 1). Each engine starts from the unary argmin; energies are reported relative to the
lowest energy any engine found (0 % = best). Chain: one NLL forward + backward (B=32, T=50,
K=10) of a linear-chain CRF written as a factors chain, against pytorch-crf; a ratio > 1 means
factors is slower.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# This script is named like the package it measures: keep bench/ off the import path.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import torch  # noqa: E402
from torch import nn  # noqa: E402

from factors import StructuredLoss, chain, grid  # noqa: E402


def noisy_labelling(size: int, k: int, seed: int = 0) -> torch.Tensor:
    """Unary energies [1, size, size, k]: blocks of constant label seen through heavy noise."""
    gen = torch.Generator().manual_seed(seed)
    blocks = torch.randint(0, k, (1, 1, size // 16 + 1, size // 16 + 1), generator=gen).float()
    truth = nn.functional.interpolate(blocks, scale_factor=16, mode="nearest")[
        0, 0, :size, :size
    ].long()
    evidence = nn.functional.one_hot(truth, k).float() + 0.9 * torch.randn(
        size, size, k, generator=gen
    )
    return -evidence[None]


def bench_grid(size: int, k: int) -> None:
    unary = noisy_labelling(size, k)
    g = grid(size, size, k, unary=lambda x: unary, pairwise="potts")
    runs = {
        "icm": {},
        "mean_field": {"max_sweeps": 30},
        "min_sum": {"max_iters": 30, "damping": 0.5},
        "gibbs": {"sweeps": 50, "temperature": (2.0, 0.05)},
        "alpha_expansion": {"max_cycles": 3},
    }
    rows = []
    for method, options in runs.items():
        start = time.perf_counter()
        with torch.no_grad():
            result = g.infer(None, method=method, **options)
        rows.append(
            (method, time.perf_counter() - start, float(result.energy[0]), result.iterations)
        )
    best = min(r[2] for r in rows)
    print(f"\nGrid {size}x{size}, {k}-label Potts ({size * size} variables)")
    print(f"{'method':<16} {'time (s)':>9} {'energy':>12} {'vs best':>9} {'sweeps':>7}")
    for method, seconds, energy, iters in rows:
        gap = 100 * (energy - best) / abs(best)
        print(f"{method:<16} {seconds:>9.2f} {energy:>12.1f} {gap:>8.2f}% {iters:>7}")


def bench_chain(batch: int = 32, length: int = 50, k: int = 10, repeats: int = 20) -> None:
    from torchcrf import CRF

    torch.manual_seed(0)
    emissions = torch.randn(batch, length, k, requires_grad=True)
    y = torch.randint(0, k, (batch, length))
    g = chain(length, k, unary=lambda x: -x, pairwise="full", boundary=True)
    crf = CRF(k, batch_first=True)
    nll = StructuredLoss("nll")

    def ours():
        nll(g, emissions, y).backward()

    def theirs():
        (-crf(emissions, y, reduction="mean")).backward()

    times = {}
    for name, step in (("factors", ours), ("pytorch-crf", theirs)):
        step()  # warm-up (numba compilation)
        start = time.perf_counter()
        for _ in range(repeats):
            step()
        times[name] = (time.perf_counter() - start) / repeats
    print(f"\nChain NLL step (B={batch}, T={length}, K={k}): forward + backward")
    for name, seconds in times.items():
        print(f"{name:<12} {1000 * seconds:>8.2f} ms")
    print(f"ratio factors / pytorch-crf: {times['factors'] / times['pytorch-crf']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--labels", type=int, default=5)
    parser.add_argument("--skip-grid", action="store_true")
    args = parser.parse_args()
    bench_chain()
    if not args.skip_grid:
        bench_grid(args.size, args.labels)


if __name__ == "__main__":
    main()
