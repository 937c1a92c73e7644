"""Properties of the dense lattice on drawn long, peaked, one-hot-like and +inf-bearing
emissions (see :mod:`strategies`): batch equals one by one, free energy <= minimum energy,
label posteriors sum to one per frame, and CTC equals torch's."""

import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from gtn.dense_lattice import ctc_graphs, ctc_loss, intersect_dense
from tests.gtn.dense_lattice import brute
from tests.gtn.dense_lattice import logspace_reference as ref
from tests.gtn.dense_lattice.strategies import emissions

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
