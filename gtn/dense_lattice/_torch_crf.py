"""Linear-chain CRF loss and path energy on the torch path (any device): plain tensor ops,
vectorised over the batch and the frames, with the partition function from the dense lattice
on the chain graph (:mod:`._torch_lattice` there; on the CPU, where ``crf_nll`` takes this
composition for what the lanes kernel leaves, the numba one). Inputs as ``_crf.validate``
returns them.

E[b] = start[y_0] + sum_{t < L_b} em[b, t, y_t] + sum_{0 < t < L_b} trans[y_{t-1}, y_t]
       + end[y_{L_b - 1}];   loss[b] = E[b] - F[b].
"""

from __future__ import annotations

import numpy as np
import torch

from . import _torch
from .intersection import intersect_dense
from .topologies import linear_chain_graphs

INF = float("inf")


def path_energy(em, tags, trans, start, end, lengths: np.ndarray, check=True) -> torch.Tensor:
    """[B] energies of the tag sequences (accumulated like the lattice, see ``_torch``), in
    the emissions' dtype; +inf with zero gradient for a sequence through a +inf energy.
    With ``check``, ValueError naming the first NaN or -inf emission on a path (one bool read
    back from the device; :func:`crf_nll` has checked every valid frame before)."""
    return _path_energy(em, tags, trans, start, end, lengths, check).to(em.dtype)


def _path_energy(em, tags, trans, start, end, lengths: np.ndarray, check) -> torch.Tensor:
    """:func:`path_energy` in the accumulation dtype: :func:`crf_nll` subtracts the free
    energy from it before rounding (a float32 path energy of 1e7 is off by up to 0.5)."""
    acc = _torch.accumulate_dtype()
    dev = em.device
    B, T, _ = em.shape
    lens = _torch.to_device(lengths, dev)
    valid = torch.arange(T, device=dev)[None, :] < lens[:, None]
    y = torch.where(valid, _torch.to_device(tags, dev), 0)
    on_path = em.gather(2, y[:, :, None])[..., 0]
    trans, start, end = (x.to(dev) for x in (trans, start, end))  # differentiable
    e = torch.where(valid, on_path.to(acc), 0.0).sum(1)
    tr = torch.where(valid[:, 1:], trans[y[:, :-1], y[:, 1:]].to(acc), 0.0).sum(1)
    last = y.gather(1, (lens - 1).clamp(min=0)[:, None])[:, 0]
    energy = start[y[:, 0]].to(acc) + e + tr + end[last].to(acc)
    bad = (torch.isnan(on_path.detach()) | (on_path.detach() == -INF)) & valid
    if check and bool(bad.any() | (energy.detach() == -INF).any()):
        if not bad.any():  # finite energies whose sum left the accumulation dtype's range
            b = int(torch.nonzero(energy.detach() == -INF)[0, 0])
            raise ValueError(f"sequence {b}'s path energy overflows {str(acc)[6:]}")
        b, t = (int(i) for i in torch.nonzero(bad)[0])
        raise ValueError(
            f"emissions[{b}, {t}, {int(y[b, t])}] is {float(on_path[b, t])}; "
            "energies must be finite or +inf"
        )
    # a sequence through a +inf energy: no gradient (as the numba path), not ones
    return torch.where(torch.isfinite(energy), energy, energy.detach())


def crf_nll(em, tags, trans, start, end, lengths: np.ndarray, reduction: str) -> torch.Tensor:
    """E(tags) - F(all sequences) per utterance, reduced ('none', 'sum', 'mean')."""
    acc = _torch.accumulate_dtype()
    chain = linear_chain_graphs(*(x.to(em.device) for x in (trans, start, end)))
    lattice = intersect_dense(chain, em, lengths)  # checks every valid frame's emissions
    path = _path_energy(em, tags, trans, start, end, lengths, check=False)
    free = lattice.free_energy(dtype=acc)
    dead = ~torch.isfinite(path)  # +inf, not inf - inf (F is +inf too when no path exists)
    loss = torch.where(dead, INF, path - torch.where(dead, 0.0, free))
    if reduction != "none":
        loss = loss.sum() if reduction == "sum" else loss.mean()
    return loss.to(em.dtype)
