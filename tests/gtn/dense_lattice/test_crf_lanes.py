"""The CRF NLL's lanes kernel (``_lanes``: the batch in SIMD lanes, loss and every gradient in
one call from the forward) against the float64 log-space reference, on its own risks: batches
from ``LANES_MIN_BATCH`` up and of sizes that are no multiple of the vector width, lanes of
different lengths, an utterance the kernel cannot vouch for (recomputed on the exact path)
beside others that it can, impossible tag sequences, weighted and mean reductions, a second
backward, blocks of one lane on two threads, and B = 1 in the kernel itself."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gtn import dense_lattice as dl
from gtn.dense_lattice import _lanes
from tests.gtn.dense_lattice import logspace_reference as ref
from tests.gtn.dense_lattice import stress_grid as grid
from tests.gtn.dense_lattice.strategies import emissions

F32, F64 = torch.float32, torch.float64
INF = math.inf
MIN_B = 8  # crf_nll takes the lanes kernel from this batch size on, whatever K


def _losses_and_grads(fn, leaves, tags, lengths, w):
    """fn(em, tags, tr, st, en, lengths) -> [B] losses; (losses, gradients of sum_b w[b] loss[b]
    over the finite losses)."""
    loss = fn(*leaves[:1], tags, *leaves[1:], lengths)
    live = torch.isfinite(loss.detach())
    if not live.any():
        return loss.detach().double(), [torch.zeros_like(x) for x in leaves]
    gs = torch.autograd.grad((loss[live] * w[live].to(loss.dtype)).sum(), leaves, allow_unused=True)
    grads = [torch.zeros_like(x) if g is None else g for x, g in zip(leaves, gs, strict=True)]
    return loss.detach().double(), grads


def _reference_nll(em, tags, tr, st_, en, lengths):
    path = ref.chain_path_energy(em, tags, tr, st_, en, lengths)
    loss = path - ref.free_energy(dl.linear_chain_topology(tr, st_, en), em, lengths)
    return torch.where(torch.isinf(path), path, loss)  # no path at all: inf, not inf - inf


def _check(em, tags, weights, lengths, dtype, w=None):
    """crf_nll in ``dtype`` equals the float64 reference: values (inf where the tags have no
    path), emission and weight gradients, no NaN or inf in a gradient."""
    B = em.shape[0]
    w = torch.arange(1.0, B + 1, dtype=F64) if w is None else w
    ours = _losses_and_grads(
        lambda *a: dl.crf_nll(*a, reduction="none"),
        [x.detach().to(dtype).requires_grad_(True) for x in (em, *weights)], tags, lengths, w,
    )  # fmt: skip
    want = _losses_and_grads(
        _reference_nll, [x.detach().double().requires_grad_(True) for x in (em, *weights)],
        tags, lengths, w,
    )  # fmt: skip
    rtol, atol = (1e-9, 1e-7) if dtype == F64 else (1e-4, 1e-4)
    assert torch.equal(torch.isinf(ours[0]), torch.isinf(want[0]))
    torch.testing.assert_close(ours[0], want[0], rtol=rtol, atol=rtol)
    for g, r in zip(ours[1], want[1], strict=True):
        assert torch.isfinite(g).all()
        torch.testing.assert_close(g.double(), r, rtol=rtol, atol=atol * (1 + float(w.abs().max())))


def _tiled(p: grid.Problem, B: int) -> tuple:
    """The stress grid's CRF problem (3 utterances of different lengths) repeated to B."""
    idx = torch.arange(B) % p.emissions.shape[0]
    return p.emissions[idx], p.targets[idx], p.weights, p.lengths[idx]


@pytest.mark.parametrize("T", [1, 2, 10, 150])
@pytest.mark.parametrize("kind", grid.KINDS)
@pytest.mark.parametrize("dtype", [F64, F32])
def test_lanes_on_the_stress_grid(dtype, kind, T):
    em, tags, weights, lengths = _tiled(grid.problem("crf", kind, T), 2 * MIN_B + 3)
    _check(em, tags, weights, lengths, dtype)


def _one_lane_needs_the_exact_path(B: int, T: int = 6) -> tuple:
    """Lane 2 can only stay in label 1, and label 1 is 750 above frame 1's best: its factor
    underflows, so the probability-space forward keeps it at LOW, which the check must catch;
    the other lanes (different lengths, one of them with an impossible tag) are ordinary."""
    gen = torch.Generator().manual_seed(5)
    K = 3
    em = torch.randn(B, T, K, generator=gen, dtype=F64).abs()
    tags = torch.randint(0, K, (B, T), generator=gen)
    lengths = torch.tensor([T - b % 4 for b in range(B)])
    tr = torch.randn(K, K, generator=gen, dtype=F64).abs()
    tr[0, 1] = tr[2, 1] = INF  # into label 1 only from label 1
    st_, en = torch.zeros(K, dtype=F64), torch.zeros(K, dtype=F64)
    lengths[2] = 3
    em[2, :3] = torch.tensor([[0.0, 0.0, 0.0], [0.0, 750.0, 0.0], [INF, 0.0, INF]])
    tags[2, :3] = 1
    em[4, 1, tags[4, 1]] = INF  # an impossible tag sequence: loss +inf, no gradient
    return em, tags, (tr, st_, en), lengths


@pytest.mark.parametrize("dtype", [F64, F32])
def test_a_lane_the_kernel_cannot_vouch_for_takes_the_exact_path(dtype):
    B = MIN_B + 3
    em, tags, weights, lengths = _one_lane_needs_the_exact_path(B)
    lanes = _lanes.forward_backward(
        np.ascontiguousarray(em.to(dtype).numpy()), tags.numpy(), lengths.numpy(),
        *(w.numpy() for w in weights),
    )  # fmt: skip
    assert lanes.ok.tolist() == [b != 2 for b in range(B)]  # the case this test is about
    _check(em, tags, weights, lengths, dtype)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_weight_range_too_wide_for_probability_space_takes_the_exact_path(which):
    """A transition, start or end energy 600 above another: no lane is vouched for."""
    em, tags, weights, lengths = _tiled(grid.problem("crf", "plain", 10), MIN_B + 1)
    weights = [w.clone() for w in weights]
    weights[which].view(-1)[0] = weights[which].view(-1)[-1] + 600.0
    args = (em.numpy(), tags.numpy(), lengths.numpy(), *(w.numpy() for w in weights))
    assert not _lanes.forward_backward(*args).ok.any()  # the case this test is about
    _check(em, tags, weights, lengths, F64)


@settings(max_examples=40, deadline=None)
@given(
    emissions(num_labels=4, min_batch=MIN_B, max_batch=3 * MIN_B + 1, long_frames=60, min_length=1),
    st.integers(0, 2**31 - 1),
    st.booleans(),
)
def test_lanes_equal_the_reference_on_drawn_emissions(e, seed, forbid):
    gen = torch.Generator().manual_seed(seed)
    B, T, K = e.energies.shape
    tags = torch.randint(0, K, (B, T), generator=gen)
    weights = [torch.randn(*s, generator=gen, dtype=F64) for s in ((K, K), (K,), (K,))]
    if forbid:  # forbidden transitions, as a tagging scheme has them
        weights[0][torch.rand(K, K, generator=gen) < 0.3] = INF
    w = torch.rand(B, generator=gen, dtype=F64) * 2  # grad_output of a 'none' reduction
    _check(e.energies, tags, weights, e.lengths, F64, w)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_reductions_and_a_second_backward(reduction):
    em, tags, weights, lengths = _tiled(grid.problem("crf", "peaked0.05", 10), MIN_B + 1)
    leaves = [x.detach().clone().requires_grad_(True) for x in (em, *weights)]
    loss = dl.crf_nll(leaves[0], tags, *leaves[1:], lengths, reduction=reduction)
    first = torch.autograd.grad(loss, leaves, retain_graph=True)
    second = torch.autograd.grad(loss, leaves)  # the saved buffers were given away: recomputed
    raw = dl.crf_nll(leaves[0], tags, *leaves[1:], lengths, reduction="none")
    scale = 1.0 / len(raw) if reduction == "mean" else 1.0
    want = torch.autograd.grad(raw.sum() * scale, leaves)
    torch.testing.assert_close(loss, raw.sum() * scale)
    for a, b, c in zip(first, second, want, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
        torch.testing.assert_close(a, c)


def test_two_threads_with_a_block_of_one_lane_equal_one_thread():
    """B = 9 on two threads: blocks of 8 lanes and of 1."""
    em, tags, weights, lengths = _tiled(grid.problem("crf", "plain", 1000), 9)
    out = []
    old = torch.get_num_threads()
    for threads in (1, 2):
        torch.set_num_threads(threads)
        try:
            leaves = [x.detach().clone().requires_grad_(True) for x in (em, *weights)]
            loss = dl.crf_nll(leaves[0], tags, *leaves[1:], lengths, reduction="none")
            out.append([loss, *torch.autograd.grad(loss.sum(), leaves)])
        finally:
            torch.set_num_threads(old)
    assert _lanes._kernel._parallel is not None  # the parallel compilation ran
    for a, b in zip(*out, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("B", [1, 5])
def test_the_kernel_alone_below_the_dispatch_batch(B):
    """The kernel is right for any B (blocks of one lane happen on several threads)."""
    em, tags, weights, lengths = _tiled(grid.problem("crf", "peaked0.1", 10), B)
    lanes = _lanes.forward_backward(
        em.numpy(),
        tags.numpy(),
        lengths.numpy(),
        *(np.ascontiguousarray(w.numpy()) for w in weights),
    )
    free = ref.free_energy(dl.linear_chain_topology(*weights), em, lengths)
    assert lanes.ok.all()
    np.testing.assert_allclose(lanes.energy, free.numpy(), rtol=1e-12)


@pytest.mark.parametrize("kind", ["plain", "inf", "onehot"])
def test_small_batches_of_many_labels_take_the_exact_path(kind):
    """B < 8 with K > 20: the dense lattice's path, composed (the lanes kernel is slower)."""
    gen = torch.Generator().manual_seed(3)
    B, T, K = 3, 7, 24
    logits = torch.randn(B, T, K, generator=gen, dtype=F64)
    if kind == "inf":
        logits[torch.rand(B, T, K, generator=gen) < 0.3] = -INF
        logits[:, :, 0] = 0.0
    elif kind == "onehot":
        logits = torch.full((B, T, K), -1e4, dtype=F64).scatter_(
            2, torch.randint(0, K, (B, T, 1), generator=gen), 0.0
        )
    em = -logits.log_softmax(-1)
    tags = torch.randint(0, K, (B, T), generator=gen)
    weights = [torch.randn(*s, generator=gen, dtype=F64) for s in ((K, K), (K,), (K,))]
    for dtype in (F64, F32):
        _check(em, tags, weights, torch.tensor([T, 4, 1]), dtype)
