"""Linear-chain CRF: crf_nll equals -pytorch-crf log-likelihood (our energies are its scores
negated), gradients too; crf_decode equals its Viterbi decode."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torchcrf import CRF

from gtn.dense_lattice import crf_decode, crf_nll, linear_chain_topology
from tests.gtn.dense_lattice import brute

F64 = torch.float64


def _crf(K, seed):
    torch.manual_seed(seed)
    return CRF(K, batch_first=True).double()


@given(st.integers(1, 4), st.integers(1, 8), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_nll_and_gradients_equal_pytorch_crf(B, T, K, seed):
    crf = _crf(K, seed)
    gen = torch.Generator().manual_seed(seed)
    em = torch.randn(B, T, K, dtype=F64, generator=gen, requires_grad=True)
    tags = torch.randint(0, K, (B, T), generator=gen)
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    lengths[0] = T  # pytorch-crf needs the first frame unmasked; a full row keeps it general
    mask = torch.arange(T)[None] < lengths[:, None]
    ref = -crf(em, tags, mask=mask, reduction="sum")
    g_ref = torch.autograd.grad(
        ref, [em, crf.transitions, crf.start_transitions, crf.end_transitions], allow_unused=True
    )
    params = [
        p.detach().neg().requires_grad_(True)
        for p in (crf.transitions, crf.start_transitions, crf.end_transitions)
    ]
    em2 = (-em).detach().requires_grad_(True)
    ours = crf_nll(em2, tags, *params, lengths)
    g_ours = torch.autograd.grad(ours, [em2, *params], allow_unused=True)
    assert float(ours) == pytest.approx(float(ref), rel=1e-9)
    for a, b, p in zip(g_ours, g_ref, [em2, *params], strict=False):  # d/d(energy) = -d/d(score)
        a = torch.zeros_like(p) if a is None else a  # T = 1: pytorch-crf skips transitions
        b = torch.zeros_like(p) if b is None else b
        torch.testing.assert_close(a, -b, rtol=1e-7, atol=1e-9)


@given(st.integers(1, 4), st.integers(1, 8), st.integers(1, 6), st.integers(0, 2**31 - 1))
def test_decode_equals_pytorch_crf(B, T, K, seed):
    crf = _crf(K, seed)
    gen = torch.Generator().manual_seed(seed)
    em = torch.randn(B, T, K, dtype=F64, generator=gen)
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    lengths[0] = T
    mask = torch.arange(T)[None] < lengths[:, None]
    ref = crf.decode(em, mask=mask)
    ours = crf_decode(-em, -crf.transitions, -crf.start_transitions, -crf.end_transitions, lengths)
    assert [row[: int(n)] for row, n in zip(ours.tolist(), lengths, strict=False)] == ref
    assert all((ours[b, int(n) :] == -1).all() for b, n in enumerate(lengths))


def test_linear_chain_graph_paths_are_tag_sequences_with_crf_energies():
    K, T = 3, 3
    trans, start, end = (
        torch.randn(K, K, dtype=F64),
        torch.randn(K, dtype=F64),
        torch.randn(K, dtype=F64),
    )
    em = torch.randn(T, K, dtype=F64)
    paths = brute.alignments(linear_chain_topology(trans, start, end), em, T)
    assert len(paths) == K**T
    for energy, y, _ in paths:
        expected = (
            start[y[0]]
            + end[y[-1]]
            + sum(em[t, y[t]] for t in range(T))
            + sum(trans[y[t - 1], y[t]] for t in range(1, T))
        )
        assert energy == pytest.approx(float(expected), rel=1e-12)


def test_float32_crf_matches_float64():
    K = 5
    trans, start, end = torch.randn(K, K), torch.randn(K), torch.randn(K)
    em, tags = torch.randn(4, 20, K), torch.randint(0, K, (4, 20))
    a = crf_nll(em, tags, trans, start, end, reduction="none")
    b = crf_nll(em.double(), tags, trans.double(), start.double(), end.double(), reduction="none")
    torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_crf_reduction_inside_the_node_matches_reducing_after(reduction):
    """The fused node reduces itself: same value and gradients as reducing the [B] losses."""
    K = 4
    trans = torch.randn(K, K, dtype=torch.float64, requires_grad=True)
    start = torch.randn(K, dtype=torch.float64, requires_grad=True)
    end = torch.randn(K, dtype=torch.float64, requires_grad=True)
    em = torch.randn(3, 6, K, dtype=torch.float64, requires_grad=True)
    tags, lengths = torch.randint(0, K, (3, 6)), torch.tensor([6, 2, 4])
    inputs = (em, trans, start, end)
    fused = crf_nll(em, tags, trans, start, end, lengths, reduction=reduction)
    g1 = torch.autograd.grad(fused, inputs)
    raw = crf_nll(em, tags, trans, start, end, lengths, reduction="none")
    ref = raw.sum() if reduction == "sum" else raw.mean()
    g2 = torch.autograd.grad(ref, inputs)
    assert fused.shape == ()
    torch.testing.assert_close(fused, ref)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b)


def test_crf_rejects_unknown_reduction():
    K = 3
    with pytest.raises(ValueError, match="reduction"):
        crf_nll(
            torch.randn(1, 2, K),
            torch.zeros(1, 2, dtype=torch.long),
            torch.randn(K, K),
            torch.randn(K),
            torch.randn(K),
            reduction="avg",
        )


@pytest.mark.parametrize("bad", [float("nan"), float("-inf")])
@pytest.mark.parametrize("matrix", [True, False])
@pytest.mark.parametrize("V", [4, 5])  # V == K: checked inside the kernel; V > K: before it
def test_crf_nll_names_nan_and_minus_inf_emissions(bad, matrix, V, monkeypatch):

    import gtn.dense_lattice.intersection as module

    if not matrix:
        monkeypatch.setattr(module, "_choose_family", lambda graphs, st: "statewise")
    K = 4
    trans, start, end = torch.randn(K, K), torch.randn(K), torch.randn(K)
    em, tags = torch.randn(3, 6, V), torch.randint(0, K, (3, 6))
    lengths = torch.tensor([6, 3, 5])
    em[1, 4, V - 1] = bad  # padding: ignored
    loss = crf_nll(em, tags, trans, start, end, lengths, reduction="none")
    assert torch.isfinite(loss).all()
    em[2, 3, V - 1] = bad
    with pytest.raises(ValueError, match=rf"emissions\[2, 3, {V - 1}\] is"):
        crf_nll(em, tags, trans, start, end, lengths)


def test_crf_nll_gradients_with_more_emission_labels_than_tags():
    """V > K: the extra labels get no gradient; the weights' gradients are those of V == K."""
    K, V = 4, 6
    em, tags = torch.randn(2, 5, V, dtype=torch.float64), torch.randint(0, K, (2, 5))
    trans, start, end = (torch.randn(*s, dtype=torch.float64) for s in ((K, K), (K,), (K,)))
    grads = []
    for e in (em, em[..., :K].clone()):
        leaves = [x.clone().requires_grad_(True) for x in (e, trans, start, end)]
        crf_nll(leaves[0], tags, *leaves[1:]).backward()
        grads.append([x.grad for x in leaves])
    assert (grads[0][0][..., K:] == 0).all()
    for wide, narrow in zip([grads[0][0][..., :K], *grads[0][1:]], grads[1], strict=True):
        torch.testing.assert_close(wide, narrow)


def test_crf_nll_names_a_path_energy_that_overflows():
    """Finite emissions of -1e308 on every frame sum to -inf along the tagged path: a clear
    error, not an index error while looking for a NaN that is not there."""
    em = torch.zeros(1, 3, 2, dtype=F64)
    em[0, :, 0] = -1e308
    z = torch.zeros(2, dtype=F64)
    with pytest.raises(ValueError, match="sequence 0's path energy overflows float64"):
        crf_nll(em, torch.zeros(1, 3, dtype=torch.long), torch.zeros(2, 2, dtype=F64), z, z)


@pytest.mark.parametrize(
    ("B", "K", "em_scale", "tr_scale"),
    [(3, 25, 100.0, 1.0), (10, 5, 1000.0, 1e4)],  # few utterances, many tags; a wide range
    ids=["torch-route", "wide-weights"],
)
def test_float32_nll_is_not_rounded_through_its_path_energy(B, K, em_scale, tr_scale):
    """Both cases score path_energy - free_energy on the torch composition. Path energies near
    1e7 were rounded to float32 (off by up to 0.5) before the float64 free energy was subtracted:
    a loss off by 3.6e-3, or negative (-0.2) where the gold path is the best one. Reference:
    pytorch-crf in float64 on the same float32 numbers; the loss may only carry float32's
    rounding of itself."""
    gen = torch.Generator().manual_seed(0)
    T = 500
    em = torch.randn(B, T, K, generator=gen) * em_scale
    trans = torch.randn(K, K, generator=gen) * tr_scale
    zeros = torch.zeros(K)
    tags = crf_decode(em, trans, zeros, zeros)
    ours = crf_nll(em, tags, trans, zeros, zeros, reduction="none")
    crf = CRF(K, batch_first=True).double()
    with torch.no_grad():
        crf.transitions.copy_(-trans.double())
        crf.start_transitions.zero_()
        crf.end_transitions.zero_()
        ref = -crf(-em.double(), tags, reduction="none")
    assert ours.dtype == torch.float32 and (ours >= 0).all()
    torch.testing.assert_close(ours.double(), ref, rtol=1e-6, atol=1e-5)
