"""Linear-chain CRF negative log-likelihood as one autograd node.

loss[b] = E(tags[b]) - F(all tag sequences of utterance b)

Composing ``path_energy - intersect_dense(...).free_energy()`` costs two autograd nodes, the weight
concatenation's backward and two accumulations of a [B, T, K] emission gradient; at CRF sizes
that fixed cost rivals the kernels. Here the forward runs both kernels and the backward writes
one emission gradient (path indicator minus label posteriors) and the weight gradients
straight into transitions [K, K], start [K] and end [K].

A tag sequence through a +inf energy (a forbidden transition, an impossible label) has loss
+inf and zero gradient, like an utterance without a path in :func:`~.intersection.intersect_dense`.
"""

import numpy as np
import torch

from . import _lanes, _path, intersection
from .intersection import (
    DenseLattice,
    _check_emissions,
    _free_backward_buffers,
    _free_forward,
)
from .topologies import _chain_template, _check_square


def validate(emissions, tags, transitions, start, end, lengths) -> tuple:
    """Every check of the linear-chain CRF functions, before any kernel runs: returns (tags as
    an int64 tensor, or None when ``tags`` is None; lengths as int64 numpy [B]).

    emissions [B, T, V >= K] float32/float64; tags integer [B, T] in [0, K) on the frames
    t < lengths[b] (padding frames may hold anything); transitions [K, K], start and end [K]:
    tensors with no NaN or -inf; lengths [B] in [1, T]. Emission values are checked by the
    kernels' callers (see :func:`chain_lattice`)."""
    for name, t in (("transitions", transitions), ("start", start), ("end", end)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    K = _check_square("transitions", transitions)
    emissions, lens = _check_emissions(emissions, lengths, values=False)
    B, T, V = emissions.shape
    if start.shape != (K,) or end.shape != (K,) or V < K:
        raise ValueError(
            f"start and end must have shape [{K}] and emissions at least {K} labels, got "
            f"{list(start.shape)}, {list(end.shape)}, {list(emissions.shape)}"
        )
    short = np.flatnonzero(lens < 1)
    if short.size:
        i = int(short[0])
        raise ValueError(
            f"lengths[{i}] = {int(lens[i])}: a linear-chain CRF scores sequences of at least "
            "one frame"
        )
    # numpy, not torch, for these small checks on the CPU: see intersection._check_values; on
    # another device, torch there (one bool read back)
    for name, t in (("transitions", transitions), ("start", start), ("end", end)):
        a = t.detach().numpy() if t.device.type == "cpu" else t.detach()
        if not bool((a > -np.inf).all()):  # NaN or -inf
            at = [int(i) for i in torch.nonzero(~(t.detach() > -np.inf))[0]]  # the first
            raise ValueError(
                f"{name}[{', '.join(str(i) for i in at)}] is {float(a[tuple(at)])}; "
                "energies must be finite or +inf"
            )
    if tags is None:
        return None, lens
    if not isinstance(tags, torch.Tensor):
        raise TypeError(f"tags must be an integer torch.Tensor [B, T], got {type(tags).__name__}")
    if tags.dtype.is_floating_point or tags.dtype.is_complex or tags.dtype == torch.bool:
        raise TypeError(f"tags must be integers, got {tags.dtype}")
    if tags.shape != (B, T):
        raise ValueError(
            f"tags must have shape [B, T] = [{B}, {T}] like the emissions, got {list(tags.shape)}"
        )
    tags = tags.detach().long()
    if tags.device.type != "cpu":
        _check_tags_on_device(tags, lens, K)
        return tags, lens
    tg = tags.numpy()
    if tg.size and not (tg.min() >= 0 and tg.max() < K):  # padding frames may hold anything
        out = (np.arange(T)[None, :] < lens[:, None]) & ((tg < 0) | (tg >= K))
        if out.any():
            b, t = (int(i) for i in np.argwhere(out)[0])
            raise IndexError(f"tags[{b}, {t}] = {int(tg[b, t])} is outside [0, {K})")
    return tags, lens


def _check_tags_on_device(tags: torch.Tensor, lens: np.ndarray, K: int) -> None:
    T = tags.shape[1]
    valid = (
        torch.arange(T, device=tags.device)[None, :]
        < torch.from_numpy(lens).to(tags.device)[:, None]
    )
    out = valid & ((tags < 0) | (tags >= K))
    if bool(out.any()):
        b, t = (int(i) for i in torch.nonzero(out)[0])
        raise IndexError(f"tags[{b}, {t}] = {int(tags[b, t])} is outside [0, {K})")


def _em(emissions: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(emissions.detach().numpy())


def _np64(t: torch.Tensor) -> np.ndarray:
    t = t.detach()
    return (t if t.dtype == torch.float64 else t.double()).numpy()


def chain_lattice(emissions, transitions, start, end, lengths) -> DenseLattice:
    """``intersect_dense(linear_chain_graphs(transitions, start, end), emissions, lengths)`` for
    the kernels only: the weights are assembled in numpy (the torch ops of
    ``linear_chain_graphs`` cost more than they do) and live in ``lat.np_weights``;
    ``lat.graphs`` is the weightless chain template. Inputs as :func:`validate` returns them."""
    K = transitions.shape[0]
    # with V == K the dense forward kernel reads every energy of every valid frame: it checks
    # them for NaN / -inf there instead of a separate pass over the tensor
    fused = emissions.shape[2] == K
    if not fused:
        intersection._check_values(emissions, lengths)
    w = np.concatenate([_np64(transitions).reshape(-1), _np64(start)])
    sw = np.full(K + 1, np.inf)
    sw[K] = 0.0  # the initial state
    fw = np.append(_np64(end), np.inf)
    lat = DenseLattice(_chain_template(K), emissions, lengths, shared=emissions.shape[0] != 1)
    lat.np_weights = (w, sw, fw)  # what the kernels read instead of lat.graphs' weights
    lat.unchecked = fused
    return lat


# From this batch size on, the lanes kernel (``_lanes``) is faster than one utterance at a time
LANES_MIN_BATCH = 8


class CrfNll(torch.autograd.Function):
    """apply(emissions [B, T, K], tags [B, T], transitions, start, end, lengths,
    reduction='none') -> [B] ('none'), or the sum / mean of the [B] losses as a scalar.
    Inputs as :func:`validate` returns them.

    The forward computes every gradient at once (the lanes kernel, for batches of at least
    LANES_MIN_BATCH) and the backward weights them by grad_output; the utterances the lanes
    cannot vouch for, and every utterance of smaller batches, take the dense lattice's exact
    path (forward here, backward there). The reduction happens here, not in a torch node after:
    at CRF sizes a sum node and its backward cost a noticeable share of the step."""

    @staticmethod
    def forward(ctx, emissions, tags, transitions, start, end, lengths, reduction="none"):
        B = emissions.shape[0]
        ctx.lanes = ctx.exact = None
        intersection._check_values(emissions, lengths)  # dead utterances included
        tg = np.ascontiguousarray(tags.numpy())
        if B >= LANES_MIN_BATCH:
            ctx.lanes_args = (_em(emissions), tg, lengths, _np64(transitions), _np64(start),
                              _np64(end))  # fmt: skip
            ctx.lanes = _lanes.forward_backward(*ctx.lanes_args)
        path = None if ctx.lanes is None else ctx.lanes.path
        if path is None or not (path > -np.inf).all():  # the error names the culprit
            path = np.empty(B)
            _path.energy(emissions, tags, transitions, start, end, lengths, path)
        # an impossible tag sequence: +inf, not inf - inf (F is +inf too when no path exists)
        ctx.dead = ~np.isfinite(path)
        free = np.full(B, np.inf) if ctx.lanes is None else ctx.lanes.energy
        rest = ~ctx.dead if ctx.lanes is None else ~ctx.lanes.ok & ~ctx.dead
        if rest.any():
            idx = np.flatnonzero(rest)
            em = emissions if idx.size == B else emissions[torch.from_numpy(idx)]
            lat = chain_lattice(em, transitions, start, end, lengths[idx])
            saved = _free_forward(lat, 1.0)
            free[idx] = saved.energy
            ctx.exact = (idx, lat, saved)
        ctx.tags, ctx.lengths, ctx.reduction = tg, lengths, reduction
        ctx.shape = (*emissions.shape, transitions.shape[0], emissions.dtype)
        ctx.dtypes = (transitions.dtype, start.dtype, end.dtype)
        loss = np.where(ctx.dead, np.inf, path - np.where(ctx.dead, 0.0, free))
        if reduction != "none":
            loss = np.asarray(loss.sum() if reduction == "sum" else loss.mean())
        return torch.from_numpy(loss).to(emissions.dtype)

    @staticmethod
    def backward(ctx, grad):
        B, T, V, K, edt = ctx.shape
        if ctx.reduction == "none":
            gout = np.ascontiguousarray(grad.detach().double().numpy())
        else:  # d(sum)/d(loss[b]) = 1, d(mean)/d(loss[b]) = 1/B
            g = float(grad) / (B if ctx.reduction == "mean" else 1)
            gout = np.full(B, g)
        gout = np.where(ctx.dead, 0.0, gout)  # no gradient through an infinite loss
        arc_grads = any(ctx.needs_input_grad[2:5])
        g_tr, g_st, g_en = np.zeros((K, K)), np.zeros(K), np.zeros(K)
        g_em = None
        if ctx.lanes is not None:
            g_em = _lanes_grads(ctx, gout, arc_grads, g_tr, g_st, g_en)
        if ctx.exact is not None:
            g_em = _exact_grads(ctx.exact, gout, arc_grads, g_em, g_tr, g_st, g_en)
        if g_em is None:  # every utterance is dead
            g_em = np.zeros((B, T, V), torch.empty(0, dtype=edt).numpy().dtype)
        _path.grads(gout, ctx.tags, ctx.lengths, g_em, g_tr, g_st, g_en)
        # numpy's cast to float32: torch's costs several times more at these sizes
        ws = [
            torch.from_numpy(x.astype(np.float32) if d == torch.float32 else x).to(d)
            for x, d in zip((g_tr, g_st, g_en), ctx.dtypes, strict=True)
        ]
        return (torch.from_numpy(g_em), None, *(ws if arc_grads else (None,) * 3), None, None)


def _lanes_grads(ctx, gout, arc_grads, g_tr, g_st, g_en) -> np.ndarray:
    """The lanes' share: gout times minus their posteriors into the weight gradients; returns
    the emission gradient [B, T, V] (the saved buffer the first time, used once)."""
    lanes = ctx.lanes
    if lanes.post is None:  # a second backward: recompute
        lanes = _lanes.forward_backward(*ctx.lanes_args)
    ctx.lanes = lanes._replace(post=None)
    # lanes not vouched for or with an impossible tag sequence hold zeros (weight 0); with the
    # same gout for all others (a 'sum' or 'mean'), one factor c scales the sums
    use = lanes.ok & ~ctx.dead
    w = np.where(use, gout, 0.0)
    c = w[use][0] if use.any() else 0.0
    uniform = bool((w[use] == c).all())
    g_em = lanes.post
    if not (uniform and c == 1.0):
        g_em *= c if uniform else w[:, None, None]
    if arc_grads:
        K, T, B = lanes.alpha.shape
        xi = np.empty((K, K))
        f = lanes.f if uniform else lanes.f * w
        _lanes.xi_sums(lanes.alpha.reshape(K, -1), f.reshape(K, -1), B, xi)
        g_tr -= lanes.p * xi * (c if uniform else 1.0)
        ends = np.einsum("skb,b->sk", lanes.ends, w)  # not a BLAS call: see _dense.backward
        g_st -= ends[0]
        g_en -= ends[1]
    return g_em


def _exact_grads(exact, gout, arc_grads, g_em, g_tr, g_st, g_en) -> np.ndarray:
    """The exactly computed utterances' share: minus their posteriors times gout into the
    weight gradients and into g_em (None: the batch's emission gradient is theirs alone)."""
    idx, lat, saved = exact
    B, K = gout.shape[0], g_st.shape[0]
    em, g_w, _, _, g_fw = _free_backward_buffers(
        lat, saved, -gout[idx], arc_grads, emissions_only=not arc_grads
    )
    if g_em is None and idx.size == B:
        g_em = em
    else:
        g_em = np.zeros((B, *em.shape[1:]), em.dtype) if g_em is None else g_em
        g_em[idx] += em
    if arc_grads:  # the chain's arcs: transitions i-major, then start (see linear_chain_graphs)
        w = np.zeros(K * K + K)
        w[lat.structure.csr_arc] = g_w.sum(0)
        g_tr += w[: K * K].reshape(K, K)
        g_st += w[K * K :]
        g_en += g_fw.sum(0)[:K]
    return g_em
