"""Energy of given tag sequences under a linear-chain CRF, as one numba gather (and scatter for
the gradient) instead of a dozen small torch ops: at CRF sizes their fixed cost dominated.

E[b] = start[y_0] + sum_{t < L_b} em[b, t, y_t] + sum_{0 < t < L_b} trans[y_{t-1}, y_t]
       + end[y_{L_b - 1}]   (frames t >= L_b are ignored)

Shapes: em [B, T, K], tags [B, T] int64, trans [K, K], start/end [K], lengths [B] int64 >= 1
(checked by ``_crf.validate`` before these run); sums in float64. A sequence through a +inf
energy has energy +inf and zero gradient.
"""

import numba as nb
import numpy as np
import torch


@nb.njit(cache=True)
def sequence_energies(em, tags, trans, start, end, lengths, out):
    for b in range(em.shape[0]):
        L = lengths[b]
        y = tags[b]
        acc = np.float64(start[y[0]]) + np.float64(end[y[L - 1]]) + np.float64(em[b, 0, y[0]])
        for t in range(1, L):
            acc += np.float64(em[b, t, y[t]]) + np.float64(trans[y[t - 1], y[t]])
        out[b] = acc


@nb.njit(cache=True)
def grads(gout, tags, lengths, g_em, g_trans, g_start, g_end):
    """Adds gout[b] at every term of sequence b's energy (see the module docstring)."""
    for b in range(gout.shape[0]):
        L = lengths[b]
        g = gout[b]
        y = tags[b]
        g_start[y[0]] += g
        g_end[y[L - 1]] += g
        g_em[b, 0, y[0]] += g
        for t in range(1, L):
            g_em[b, t, y[t]] += g
            g_trans[y[t - 1], y[t]] += g


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().numpy())


def energy(em, tags, trans, start, end, lengths, out) -> np.ndarray:
    """Path energies of tensors into ``out`` [B] float64; returns the tags as int64 numpy.
    ValueError naming the emission if one on a path is NaN or -inf (the weights are checked
    before: only the emissions the paths read are, here)."""
    tg = _np(tags.long())
    sequence_energies(_np(em), tg, _np(trans), _np(start), _np(end), lengths, out)
    if not (out > -np.inf).all():  # NaN or -inf: name the first culprit
        on_path = em.detach().gather(2, torch.from_numpy(tg).clamp(min=0)[:, :, None])[..., 0]
        bad = torch.isnan(on_path) | (on_path == -np.inf)
        bad &= torch.arange(em.shape[1])[None, :] < torch.from_numpy(lengths)[:, None]
        if not bad.any():  # finite energies whose sum left float64's range
            raise ValueError(f"sequence {np.argmin(out > -np.inf)}'s path energy overflows float64")
        b, t = (int(i) for i in torch.nonzero(bad)[0])
        raise ValueError(
            f"emissions[{b}, {t}, {int(tg[b, t])}] is {float(on_path[b, t])}; "
            "energies must be finite or +inf"
        )
    return tg


class PathEnergy(torch.autograd.Function):
    """apply(emissions, tags, transitions, start, end, lengths) -> [B] in emissions' dtype;
    inputs as ``_crf.validate`` returns them."""

    @staticmethod
    def forward(ctx, em, tags, trans, start, end, lengths):
        out = np.empty(em.shape[0])
        ctx.tags = energy(em, tags, trans, start, end, lengths, out)
        ctx.lengths, ctx.shape = lengths, (em.shape, em.dtype, trans.dtype)
        ctx.dead = ~np.isfinite(out)
        return torch.from_numpy(out).to(em.dtype)

    @staticmethod
    def backward(ctx, grad):
        (B, T, K), edt, tdt = ctx.shape
        g_em = np.zeros((B, T, K), torch.empty(0, dtype=edt).numpy().dtype)  # one add each: exact
        g_tr, g_st, g_en = np.zeros((K, K)), np.zeros(K), np.zeros(K)
        gout = np.ascontiguousarray(grad.detach().to(torch.float64).numpy())
        gout = np.where(ctx.dead, 0.0, gout)  # no gradient through an infinite energy
        grads(gout, ctx.tags, ctx.lengths, g_em, g_tr, g_st, g_en)

        g_em, g_tr, g_st, g_en = (
            torch.from_numpy(x).to(dt)
            for x, dt in ((g_em, edt), (g_tr, tdt), (g_st, tdt), (g_en, tdt))
        )
        return g_em, None, g_tr, g_st, g_en, None
