"""Which implementation runs a dense lattice: the numba kernels (CPU) or the device-agnostic
torch kernels (:mod:`._torch`).

Emissions on any device other than the CPU take the torch path. On the CPU the numba kernels
are the default; ``EBGTN_BACKEND=torch`` in the environment forces the torch path there (for
tests, and to compare the two). The variable is read once per lattice (each ``intersect_dense`` and
each loss call), so it can be changed between calls.
"""

import os

import torch

BACKENDS = ("numba", "torch")


def backend(emissions: torch.Tensor) -> str:
    """'torch' or 'numba' for a call with these emissions."""
    name = os.environ.get("EBGTN_BACKEND", "") or "numba"
    if name not in BACKENDS:
        raise ValueError(f"EBGTN_BACKEND must be 'numba' or 'torch', got {name!r}")
    if emissions.device.type != "cpu":
        return "torch"
    return name
