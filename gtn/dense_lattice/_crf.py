"""Linear-chain CRF negative log-likelihood as one autograd node.

loss[b] = E(tags[b]) - F(all tag sequences of utterance b)   (energies, lower is better)

Composing ``path_energy - intersect(...).free_energy()`` costs two autograd nodes, the weight
concatenation's backward and two accumulations of a [B, T, K] emission gradient; at CRF sizes
that fixed cost rivals the kernels. Here the forward runs both kernels and the backward writes
one emission gradient (path indicator minus label posteriors) and the weight gradients
straight into transitions [K, K], start [K] and end [K].
"""

import numpy as np
import torch

from . import _path
from .intersect import DenseLattice, _check_emissions, _free_backward_buffers, _free_forward
from .topologies import _chain_template, _check_square


def _np64(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    return (t if t.dtype == torch.float64 else t.double()).numpy()


def chain_lattice(emissions, transitions, start, end, lengths) -> DenseLattice:
    """``intersect(linear_chain(transitions, start, end), emissions, lengths)`` with the
    weights assembled in numpy: the torch ops of ``linear_chain`` cost more than they do."""
    emissions, lens = _check_emissions(emissions, lengths)
    K = _check_square("transitions", transitions)
    if start.shape != (K,) or end.shape != (K,) or emissions.shape[2] < K:
        raise ValueError(
            f"start and end must have shape [{K}] and emissions at least {K} labels, got "
            f"{list(start.shape)}, {list(end.shape)}, {list(emissions.shape)}"
        )
    w = np.concatenate([_np64(transitions).reshape(-1), _np64(start)])
    sw = np.full(K + 1, np.inf)
    sw[K] = 0.0  # the initial state
    fw = np.append(_np64(end), np.inf)
    graph = _chain_template(K).with_weights(*(torch.from_numpy(x) for x in (w, sw, fw)))
    return DenseLattice(graph, emissions, lens, shared=emissions.shape[0] != 1)


class CrfNll(torch.autograd.Function):
    """apply(emissions [B, T, K], tags [B, T], transitions, start, end, lengths) -> [B]."""

    @staticmethod
    def forward(ctx, emissions, tags, transitions, start, end, lengths):
        lat = chain_lattice(emissions, transitions, start, end, lengths)
        saved = _free_forward(lat, 1.0)
        path = np.empty(emissions.shape[0])
        tg = _path.energy(emissions, tags, transitions, start, end, lat.lengths, path)
        ctx.lat, ctx.saved, ctx.tags = lat, saved, tg
        ctx.dtypes = (transitions.dtype, start.dtype, end.dtype)
        return torch.from_numpy(path - saved["energy"]).to(emissions.dtype)

    @staticmethod
    def backward(ctx, grad):
        lat = ctx.lat
        st = lat.structure
        gout = np.ascontiguousarray(grad.detach().double().numpy())
        arc_grads = any(ctx.needs_input_grad[2:5])
        g_em, g_w, _, _, g_fw = _free_backward_buffers(lat, ctx.saved, -gout, arc_grads)
        K = lat.emissions.shape[2]
        w = np.zeros(K * K + K)
        g_en = np.zeros(K)
        if arc_grads:  # the chain's arcs: transitions i-major, then start (see linear_chain)
            w[st.csr_arc] = g_w.sum(0)
            g_en += g_fw.sum(0)[:K]
        g_tr, g_st = w[: K * K].reshape(K, K), w[K * K :]
        _path.grads(gout, ctx.tags, lat.lengths, g_em, g_tr, g_st, g_en)
        ws = [
            torch.from_numpy(x).to(d) for x, d in zip((g_tr, g_st, g_en), ctx.dtypes, strict=True)
        ]
        return (torch.from_numpy(g_em), None, *(ws if arc_grads else (None,) * 3), None)
