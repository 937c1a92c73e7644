"""Properties of the dense lattice on drawn long, peaked, one-hot-like and +inf-bearing
emissions (see :mod:`strategies`): batch equals one by one, free energy <= minimum energy,
label posteriors sum to one per frame, and CTC equals torch's; and, at any beta and with
energies up to 1e30, the free energy within its exact bounds and posteriors that sum to one."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from gtn.dense_lattice import ctc_graphs, ctc_loss, intersect_dense
from tests.gtn.dense_lattice import brute
from tests.gtn.dense_lattice import logspace_reference as ref
from tests.gtn.dense_lattice.strategies import STRESS_KINDS, emissions
from tests.gtn.strategies import STRESS_BETAS

F64 = torch.float64


@given(brute.dense_graphs(max_nodes=4, max_arcs=8), emissions(long_frames=200))
def test_batch_equals_one_by_one(g, e):
    lat = intersect_dense(g, e.energies, e.lengths)
    free, low = lat.free_energy(), lat.min_energy()
    for b, L in enumerate(e.lengths.tolist()):
        one = intersect_dense(g, e.energies[b : b + 1, :L])
        torch.testing.assert_close(one.free_energy()[0], free[b], rtol=1e-9, atol=1e-9)
        torch.testing.assert_close(one.min_energy()[0], low[b], rtol=1e-12, atol=1e-12)


@given(brute.dense_graphs(max_nodes=4, max_arcs=8), emissions(long_frames=200))
def test_free_energy_is_at_most_min_energy_and_both_equal_the_reference(g, e):
    lat = intersect_dense(g, e.energies, e.lengths)
    free, low = lat.free_energy(), lat.min_energy()
    want_free = ref.free_energy(g, e.energies, e.lengths)
    want_low = ref.min_energy(g, e.energies, e.lengths)
    finite = torch.isfinite(want_low)
    assert torch.equal(torch.isfinite(free), finite) and torch.equal(torch.isfinite(low), finite)
    assert (free[finite] <= low[finite] + 1e-9 * low[finite].abs().clamp(min=1)).all()
    torch.testing.assert_close(free[finite], want_free[finite], rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(low[finite], want_low[finite], rtol=1e-12, atol=1e-12)


@given(brute.dense_graphs(max_nodes=4, max_arcs=8), emissions(long_frames=200))
def test_label_posteriors_sum_to_one_per_valid_frame(g, e):
    post = intersect_dense(g, e.energies, e.lengths).label_posteriors()
    assert torch.isfinite(post).all()
    live = torch.isfinite(ref.free_energy(g, e.energies, e.lengths))
    T = e.energies.shape[1]
    valid = torch.arange(T)[None, :] < e.lengths[:, None]
    sums = post.sum(-1)
    torch.testing.assert_close(
        sums[live[:, None] & valid], torch.ones_like(sums[live[:, None] & valid])
    )
    assert (sums[~valid] == 0).all() and (sums[~live] == 0).all()


@given(emissions(num_labels=5, long_frames=300, min_length=1, keep_finite=0), st.data())
def test_ctc_equals_torch_on_peaked_long_and_impossible_labels(e, data):
    B = e.logits.shape[0]
    S = data.draw(st.integers(0, 4))
    labels = st.lists(st.integers(1, 4), min_size=B * S, max_size=B * S)
    targets = torch.tensor(data.draw(labels), dtype=torch.long).reshape(B, S)
    tl = torch.tensor([data.draw(st.integers(0, S)) for _ in range(B)], dtype=torch.long)
    logits = e.logits.clone().requires_grad_(True)
    ours = ctc_loss(-logits.log_softmax(-1), targets, e.lengths, tl, reduction="none")
    if bool(torch.isfinite(e.logits).all()):
        want = F.ctc_loss(logits.log_softmax(-1).transpose(0, 1), targets, e.lengths, tl,
                          reduction="none")  # fmt: skip
    else:  # torch's gradient is NaN at -inf log-probabilities: the log-space reference
        want = ref.free_energy(ctc_graphs(targets, tl), -logits.log_softmax(-1), e.lengths)
    live = torch.isfinite(want.detach())
    assert torch.equal(torch.isfinite(ours.detach()), live)
    if not live.any():
        return
    torch.testing.assert_close(ours[live], want[live], rtol=1e-9, atol=1e-9)
    (g_ours,) = torch.autograd.grad(ours[live].sum(), logits)
    (g_want,) = torch.autograd.grad(want[live].sum(), logits)
    assert torch.isfinite(g_ours).all()
    # torch's rows of infinite losses are NaN even with a zero output gradient: live rows only
    torch.testing.assert_close(g_ours[live], g_want[live], rtol=0, atol=1e-6)
    assert (g_ours[~live] == 0).all()


def _largest_finite(x: torch.Tensor) -> float:
    x = x.detach().abs()
    return float(x[torch.isfinite(x)].max()) if torch.isfinite(x).any() else 0.0


def _largest_partial_energy(graphs, e) -> torch.Tensor:
    """[B] a bound on |energy| of any path prefix: the sum over valid frames of the largest
    finite |emission| and |arc energy|, plus the largest start and final ones."""
    em = e.energies.abs().masked_fill(torch.isinf(e.energies), 0).amax(-1)  # [B, T]
    valid = torch.arange(em.shape[1])[None, :] < e.lengths[:, None]
    per_frame = em.masked_fill(~valid, 0).sum(-1)
    out = []
    for b, g in enumerate(graphs):
        w, sw, fw = (_largest_finite(x) for x in (g.weight, g.start_weight, g.final_weight))
        steps = int(e.lengths[b]) + g.num_nodes  # arcs of a path: a frame each, few epsilons
        out.append(per_frame[b] + steps * w + sw + fw)
    return torch.stack(out)


def _assert_exact_bounds_and_normalised(graphs, e, beta):
    """min E - log(#paths) / beta <= F <= min E (the exact bounds of a log-sum-exp), up to the
    rounding of partial energies; +inf exactly when min E is; and the emission gradient (the
    label posteriors) sums to 1 on every valid frame of a live utterance, 0 elsewhere."""
    em = e.energies.clone().requires_grad_(True)
    lat = intersect_dense(graphs, em, e.lengths)
    free, low = lat.free_energy(beta), lat.min_energy().detach()
    live = torch.isfinite(low)
    assert torch.equal(torch.isfinite(free.detach()), live)
    T = em.shape[1]
    eps = np.finfo(np.float64).eps
    tol = 8 * eps * (T + 8) * _largest_partial_energy(graphs, e)
    for b in torch.nonzero(live).flatten().tolist():
        g = graphs[b]
        paths = brute.log_path_count(g, int(e.lengths[b]))
        F_b, m = float(free[b].detach()), float(low[b])
        tol_b = float(tol[b]) + 8 * eps * (T + 8) * (1 + paths) / beta  # and of the log-sum
        assert m - paths / beta - tol_b <= F_b <= m + tol_b
    if not live.any():
        return
    (grad,) = torch.autograd.grad(free[live].sum(), em)
    assert torch.isfinite(grad).all() and (grad >= 0).all() and (grad <= 1 + 1e-9).all()
    valid = torch.arange(T)[None, :] < e.lengths[:, None]
    rows = grad.sum(-1)
    want = (valid & live[:, None]).to(rows.dtype)
    torch.testing.assert_close(rows, want, rtol=0, atol=1e-9)


@pytest.mark.parametrize("beta", STRESS_BETAS)
@given(brute.stress_dense_graphs(), emissions(kinds=STRESS_KINDS, long_frames=200))
def test_at_any_beta_free_energy_keeps_its_exact_bounds_and_posteriors_sum_to_one(beta, g, e):
    """General graphs (the scaled and the general log-space kernels): beta from 1e-3 to 1e300,
    arc energies and per-frame offsets up to +-1e30. Posteriors summed to 2, 1e46 or NaN at
    beta * ulp(F) >= 1."""
    _assert_exact_bounds_and_normalised([g] * e.logits.shape[0], e, beta)


@pytest.mark.parametrize("beta", STRESS_BETAS)
@given(emissions(num_labels=5, kinds=STRESS_KINDS, long_frames=300, min_length=1), st.data())
def test_ctc_at_any_beta_keeps_its_exact_bounds_and_posteriors_sum_to_one(beta, e, data):
    """CTC (the scaled kernels, then the band kernels, then the general ones when the band's
    exponents would leave float64): +inf from beta = 1e16 on 50 frames, and from 1e11 on one-hot
    0 / 1e4 emissions (the band's 'absent' exponent, -2**60, was above real ones)."""
    B = e.logits.shape[0]
    S = data.draw(st.integers(0, 4))
    labels = st.lists(st.integers(1, 4), min_size=B * S, max_size=B * S)
    targets = torch.tensor(data.draw(labels), dtype=torch.long).reshape(B, S)
    tl = torch.tensor([data.draw(st.integers(0, S)) for _ in range(B)], dtype=torch.long)
    graphs = ctc_graphs(targets, tl, 0, F64)
    _assert_exact_bounds_and_normalised([graphs.graph(b) for b in range(B)], e, beta)
