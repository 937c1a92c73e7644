"""Linear-chain CRF negative log-likelihood as one autograd node.

loss[b] = E(tags[b]) - F(all tag sequences of utterance b)

Composing ``path_energy - intersect_dense(...).free_energy()`` costs two autograd nodes, the weight
concatenation's backward and two accumulations of a [B, T, K] emission gradient; at CRF sizes
that fixed cost rivals the kernels. Here one kernel call in the forward computes the losses and
every gradient (path indicator minus label posteriors, and the weights'), which the backward
weights by grad_output. The composition remains for what the kernel leaves (see
:func:`~.criteria.crf_nll`).

A tag sequence through a +inf energy (a forbidden transition, an impossible label) has loss
+inf and zero gradient, like an utterance without a path in :func:`~.intersection.intersect_dense`.
"""

import numpy as np
import torch

from . import _lanes, intersection
from .batch import check_energies
from .intersection import _check_emissions, _np
from .topologies import _check_square


def validate(emissions, tags, transitions, start, end, lengths) -> tuple:
    """Every check of the linear-chain CRF functions, before any kernel runs: returns (tags as
    an int64 tensor, or None when ``tags`` is None; lengths as int64 numpy [B]).

    emissions [B, T, V >= K] float32/float64; tags integer [B, T] in [0, K) on the frames
    t < lengths[b] (padding frames may hold anything); transitions [K, K], start and end [K]:
    tensors with no NaN or -inf; lengths [B] in [1, T]. Emission values are checked by the
    kernels' callers (``intersection._check_values``)."""
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
    if lens.size and lens.min() < 1:
        i = int(np.argmin(lens >= 1))
        raise ValueError(
            f"lengths[{i}] = {int(lens[i])}: a linear-chain CRF scores sequences of at least "
            "one frame"
        )
    for name, t in (("transitions", transitions), ("start", start), ("end", end)):
        check_energies(name, t)
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
    tg = tags.numpy() if tags.device.type == "cpu" else None  # numpy's min / max: faster
    if tg is None or (tg.size and not (tg.min() >= 0 and tg.max() < K)):
        _check_tags_on_device(tags, lens, K)  # padding frames may hold anything
    return tags, lens


def _check_tags_on_device(tags: torch.Tensor, lens: np.ndarray, K: int) -> None:
    """IndexError naming the first tag outside [0, K) on a valid frame (on a GPU: one bool read
    back)."""
    T = tags.shape[1]
    valid = (
        torch.arange(T, device=tags.device)[None, :]
        < torch.from_numpy(lens).to(tags.device)[:, None]
    )
    out = valid & ((tags < 0) | (tags >= K))
    if bool(out.any()):
        b, t = (int(i) for i in torch.nonzero(out)[0])
        raise IndexError(f"tags[{b}, {t}] = {int(tags[b, t])} is outside [0, {K})")


class CrfNll(torch.autograd.Function):
    """apply(emissions [B, T, K], tags [B, T], transitions, start, end, lengths, reduction) ->
    (loss: [B] for 'none', else the sum / mean of the [B] losses; rest: numpy bool [B], the
    utterances the lanes kernel cannot vouch for, whose losses here are 0: the caller adds
    their exact ones). Inputs as :func:`validate` returns them.

    The forward's one kernel call (``_lanes``) computes every gradient; the backward weights
    them by grad_output. The reduction happens here, not in a torch node after: at CRF sizes a
    sum node and its backward cost a noticeable share of the step."""

    @staticmethod
    def forward(ctx, emissions, tags, transitions, start, end, lengths, reduction):
        ctx.args = (*(np.ascontiguousarray(x.detach().numpy()) for x in (emissions, tags)), lengths,
                    *(_np(w) for w in (transitions, start, end)))  # fmt: skip
        lanes = ctx.lanes = _lanes.forward_backward(*ctx.args)
        if not lanes.finite:  # the kernel's values are of no use if this raises
            intersection._check_values(emissions, lengths)
        if lanes.overflow >= 0:  # emissions and weights are checked: finite, too large
            raise ValueError(f"sequence {lanes.overflow}'s path energy overflows float64")
        loss = lanes.loss
        if reduction != "none":
            loss = np.asarray(lanes.total / (len(loss) if reduction == "mean" else 1))
        ctx.reduction, ctx.dtypes = reduction, (transitions.dtype, start.dtype, end.dtype)
        return torch.from_numpy(loss.astype(ctx.args[0].dtype)), lanes.rest

    @staticmethod
    def backward(ctx, grad, _):
        # a second backward recomputes: the first gave the buffers away to its gradients
        lanes, ctx.lanes = ctx.lanes or _lanes.forward_backward(*ctx.args), None
        K, T, B = lanes.alpha.shape
        if ctx.reduction == "none":
            gout = grad.detach().double().numpy()
        else:  # d(sum)/d(loss[b]) = 1, d(mean)/d(loss[b]) = 1/B
            gout = np.full(B, float(grad) / (B if ctx.reduction == "mean" else 1))
        g = np.zeros(K * K + 2 * K)  # transitions, start, end
        arc_grads = any(ctx.needs_input_grad[2:5])
        _lanes.gradients(gout, lanes, ctx.args[1], ctx.args[2], arc_grads, g)
        if not arc_grads:
            return torch.from_numpy(lanes.post), None, None, None, None, None, None
        # numpy's cast to float32: torch's costs several times more at these sizes
        g32 = g.astype(np.float32) if torch.float32 in ctx.dtypes else g
        pieces = [(x[: K * K].reshape(K, K), x[K * K : -K], x[-K:]) for x in (g, g32)]
        ws = [
            torch.from_numpy(b if d == torch.float32 else a).to(d)
            for a, b, d in zip(*pieces, ctx.dtypes, strict=True)
        ]
        return torch.from_numpy(lanes.post), None, *ws, None, None
