"""The :class:`~.intersection.DenseLattice` operations on the torch kernels (:mod:`._torch`):
free energy and minimum energy as autograd functions with explicit backward passes, best
alignments and label posteriors. Results and gradients come back on the emissions' device;
gradients of the graph weights come back on each weight's own device and dtype."""

from __future__ import annotations

import torch

from . import _torch


def _finite_only(grad: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
    """grad where the returned energy ``out`` is finite, else 0: an energy beyond its dtype's
    range (float32 2e38 * 3) is infinite, and an infinite result has zero gradient."""
    return torch.where(torch.isfinite(out), grad, 0.0)


def _weights_like(grads, inputs, needs) -> tuple:
    return tuple(
        g.to(x.device, x.dtype) if g is not None and n else None
        for g, x, n in zip(grads, inputs, needs, strict=True)
    )


class FreeEnergy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, lat, beta, dtype, emissions, weight, start_weight, final_weight):
        run = _torch._run(lat, (weight, start_weight, final_weight))
        alpha, energy = _torch.forward(run, beta)
        ctx.run, ctx.alpha, ctx.energy, ctx.beta = run, alpha, energy, beta
        ctx.weights = (weight, start_weight, final_weight)
        out = energy.to(dtype)
        ctx.out = out.detach()
        return out

    @staticmethod
    def backward(ctx, grad):
        needs = ctx.needs_input_grad
        gout = _finite_only(grad.detach(), ctx.out)
        g_em, *gw = _torch.backward(
            ctx.run, ctx.beta, ctx.alpha, ctx.energy, gout, needs[4], ctx.run.em.dtype
        )
        return (
            None,
            None,
            None,
            g_em if needs[3] else None,
            *_weights_like(gw, ctx.weights, needs[4:]),
        )


class MinEnergy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, lat, emissions, weight, start_weight, final_weight):
        run = _torch._run(lat, (weight, start_weight, final_weight))
        alpha, energy = _torch.forward(run, None)
        ctx.run, ctx.alpha, ctx.energy = run, alpha, energy
        ctx.weights = (weight, start_weight, final_weight)
        out = energy.to(emissions.dtype)
        ctx.out = out.detach()
        return out

    @staticmethod
    def backward(ctx, grad):
        needs = ctx.needs_input_grad
        _, _, (g_em, *gw) = _torch.backtrack(
            ctx.run, ctx.alpha, ctx.energy, _finite_only(grad.detach(), ctx.out), ctx.run.em.dtype
        )
        return (None, g_em if needs[1] else None, *_weights_like(gw, ctx.weights, needs[2:]))


def free_energy(lat, beta: float, dtype: torch.dtype) -> torch.Tensor:
    g = lat.graphs
    return FreeEnergy.apply(
        lat, beta, dtype, lat.emissions, g.weight, g.start_weight, g.final_weight
    )


def min_energy(lat) -> torch.Tensor:
    g = lat.graphs
    return MinEnergy.apply(lat, lat.emissions, g.weight, g.start_weight, g.final_weight)


def best_alignment(lat) -> tuple:
    """(labels [B, T], arcs [B, T], energy [B]) of a minimum-energy path per utterance."""
    with torch.no_grad():
        run = _torch._run(lat)
        alpha, energy = _torch.forward(run, None)
        labels, arcs, _ = _torch.backtrack(run, alpha, energy, None, lat.emissions.dtype)
    return labels, arcs, energy.to(lat.emissions.dtype)


def label_posteriors(lat, beta: float) -> torch.Tensor:
    with torch.no_grad():
        run = _torch._run(lat)
        alpha, energy = _torch.forward(run, beta)
        ones = torch.ones_like(energy)
        return _torch.backward(run, beta, alpha, energy, ones, False, lat.emissions.dtype)[0]
