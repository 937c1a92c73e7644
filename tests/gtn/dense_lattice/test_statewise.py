"""The state-labelled fast path (``_statewise``) equals the general run kernels (``_scaled``)
on the graphs it serves: CTC, HMM and CRF graphs, with padding, no-path utterances, float32
and float64, and gradients wrt emissions and every weight."""

import importlib
import math

import pytest
import torch

from gtn.dense_lattice import (
    asg_graphs,
    ctc_graphs,
    hmm_graphs,
    intersect_dense,
    linear_chain_graphs,
)
from gtn.dense_lattice.intersection import DenseLattice

F64 = torch.float64


def _general(lat: DenseLattice) -> DenseLattice:
    """The same lattice routed to the general kernels."""
    lat.family = "general"
    return lat


def _free_and_grads(graphs, em, lengths, general, beta=1.0):
    """Free energies and gradients wrt emissions and the graph weights (those that require
    grad), from a fresh lattice on the fast or the general path."""
    em = em.detach().clone().requires_grad_(True)
    lat = intersect_dense(graphs, em, lengths)
    if general:
        _general(lat)
    else:
        assert lat.structure.state_labelled and lat.family in ("statewise", "matrix")
    F = lat.free_energy(beta)
    g = lat.graphs
    leaves = [em] + [t for t in (g.weight, g.start_weight, g.final_weight) if t.requires_grad]
    weights = torch.isfinite(F).to(F.dtype) * torch.linspace(0.5, 1.5, F.shape[0], dtype=F.dtype)
    grads = torch.autograd.grad((torch.where(torch.isfinite(F), F, 0) * weights).sum(), leaves)
    return F, grads


def _assert_same(graphs, em, lengths, beta=1.0, rtol=1e-9):
    F_fast, g_fast = _free_and_grads(graphs, em, lengths, False, beta)
    F_gen, g_gen = _free_and_grads(graphs, em, lengths, True, beta)
    torch.testing.assert_close(F_fast, F_gen, rtol=rtol, atol=rtol)
    for a, b in zip(g_fast, g_gen, strict=True):
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol)
    return F_fast


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
@pytest.mark.parametrize("seed", range(4))
def test_ctc_with_padding_and_no_path_equals_general_path(dtype, rtol, seed):
    gen = torch.Generator().manual_seed(seed)
    B, T, C = 5, 9, 6
    em = -torch.randn(B, T, C, generator=gen, dtype=dtype).log_softmax(-1)
    targets = torch.randint(1, C, (B, 4), generator=gen)
    target_lengths = torch.tensor([4, 3, 0, 4, 2])
    lengths = torch.tensor([9, 7, 3, 2, 9])  # utterance 3: 2 frames for 4 labels, no path
    F = _assert_same(ctc_graphs(targets, target_lengths, 0, dtype), em, lengths, rtol=rtol)
    assert F[3] == math.inf
    assert torch.isfinite(F[[0, 1, 2, 4]]).all()


@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_hmm_with_trainable_weights_equals_general_path(beta):
    gen = torch.Generator().manual_seed(1)
    B, T, n = 3, 10, 2
    targets = torch.tensor([[0, 1, 2], [2, 2, 0], [1, 0, 0]])
    graphs = hmm_graphs(targets, torch.tensor([3, 2, 1]), n, 0.3, 0.1, skip=0.7, dtype=F64)
    graphs = graphs.with_weights(
        (
            graphs.weight + torch.rand(graphs.weight.shape, generator=gen, dtype=F64)
        ).requires_grad_(),
        graphs.start_weight.clone().requires_grad_(),
        graphs.final_weight.clone().requires_grad_(),
    )
    em = torch.randn(B, T, 3 * n, generator=gen, dtype=F64)
    _assert_same(graphs, em, torch.tensor([10, 6, 1]), beta)


@pytest.mark.parametrize("dtype,rtol", [(torch.float64, 1e-9), (torch.float32, 1e-4)])
def test_crf_shared_graph_equals_general_path(dtype, rtol):
    gen = torch.Generator().manual_seed(2)
    B, T, K = 4, 7, 5
    trans, start, end = (torch.randn(*s, generator=gen, dtype=dtype) for s in ((K, K), (K,), (K,)))
    graph = linear_chain_graphs(
        trans.requires_grad_(), start.requires_grad_(), end.requires_grad_()
    )
    em = torch.randn(B, T, K, generator=gen, dtype=dtype)
    _assert_same(graph, em, torch.tensor([7, 1, 4, 7]), rtol=rtol)


def test_label_posteriors_equal_general_path():
    gen = torch.Generator().manual_seed(3)
    em = -torch.randn(2, 8, 5, generator=gen, dtype=F64).log_softmax(-1)
    graphs = ctc_graphs(torch.tensor([[1, 2, 2], [3, 4, 0]]), torch.tensor([3, 2]), 0, F64)
    fast = intersect_dense(graphs, em, torch.tensor([8, 5])).label_posteriors()
    general = _general(intersect_dense(graphs, em, torch.tensor([8, 5]))).label_posteriors()
    torch.testing.assert_close(fast, general, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(fast.sum(-1)[1, :5], torch.ones(5, dtype=F64))


def test_graph_with_mixed_labels_into_a_state_takes_the_general_path():
    import gtn

    g = gtn.Graph.from_arrays(2, [0, 0], [1, 1], [0, 1], start=[0], final=[1])
    assert not intersect_dense(g, torch.zeros(1, 1, 2)).structure.state_labelled


def _log_space_only(monkeypatch, band: bool) -> None:
    """Route every state-labelled utterance to the log-space kernels: the band kernels
    (``_banded``) where the graph is a band, or with ``band=False`` the general ones."""
    I = importlib.import_module("gtn.dense_lattice.intersection")

    def give_up(lat, W, beta, out, active):
        out.status[:] = I._scaled.LOG

    monkeypatch.setitem(I.FAMILIES, "statewise", I.FAMILIES["statewise"]._replace(forward=give_up))
    if not band:
        monkeypatch.setattr(I, "_band", lambda lat: None)


@pytest.mark.parametrize("graphs_of", ["ctc", "hmm", "asg"])
@pytest.mark.parametrize("temperature", [1.0, 0.01])
def test_band_log_space_kernels_equal_the_general_ones(graphs_of, temperature, monkeypatch):
    """CTC (band width 3), HMM with skips and ASG graphs with trainable transitions (the band
    forward, then the general backward for the arc posteriors), padding and a no-path
    utterance, at beta 0.7."""
    gen = torch.Generator().manual_seed(5)
    B, T, V = 4, 40, 6
    targets = torch.randint(1, V, (B, 5), generator=gen)
    target_lengths = torch.tensor([5, 3, 4, 5])
    if graphs_of == "ctc":
        graphs = ctc_graphs(targets, target_lengths, 0, F64)
    elif graphs_of == "hmm":
        graphs = hmm_graphs(targets // 2, target_lengths, 2, 0.3, 0.1, skip=0.7, dtype=F64)
    else:
        graphs = asg_graphs(targets, target_lengths, torch.randn(V, V, generator=gen, dtype=F64))
        graphs = graphs.with_weights(
            graphs.weight.detach().requires_grad_(), graphs.start_weight, graphs.final_weight
        )
    em = -(torch.randn(B, T, V, generator=gen, dtype=F64) / temperature).log_softmax(-1)
    lengths = torch.tensor([40, 31, 17, 4])  # utterance 3: too short for its transcript
    I = importlib.import_module("gtn.dense_lattice.intersection")
    assert I._band(intersect_dense(graphs, em, lengths)) is not None
    results = []
    for band in (True, False):
        with monkeypatch.context() as m:
            _log_space_only(m, band)
            results.append(_free_and_grads(graphs, em, lengths, False, beta=0.7))
    (F_band, g_band), (F_gen, g_gen) = results
    assert torch.isinf(F_band[3]) and torch.isfinite(F_band[:3]).all()
    torch.testing.assert_close(F_band, F_gen, rtol=1e-12, atol=1e-12)
    for a, b in zip(g_band, g_gen, strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_crf_chains_and_graphs_that_go_back_are_not_bands():
    I = importlib.import_module("gtn.dense_lattice.intersection")
    chain = linear_chain_graphs(torch.zeros(3, 3), torch.zeros(3), torch.zeros(3))
    assert I._band(intersect_dense(chain, torch.zeros(1, 2, 3))) is None
    hmm = hmm_graphs(torch.tensor([[0, 1]]), torch.tensor([2]), 2, 0.3, 0.1)
    assert I._band(intersect_dense(hmm, torch.zeros(1, 9, 4))) is not None


def test_a_scaled_pass_that_flushes_many_states_gives_up_without_the_check():
    """Peaked emissions on long random transcripts flush a tenth of the states: the scaled
    pass hands those utterances to the log-space kernels at once (no flush check runs), and
    the loss still equals torch's."""
    I = importlib.import_module("gtn.dense_lattice.intersection")
    gen = torch.Generator().manual_seed(0)
    B, T, L, C = 2, 400, 80, 30
    logits = torch.randn(B, T, C, generator=gen, dtype=F64) / 0.05
    targets = torch.randint(1, C, (B, L), generator=gen)
    lengths, target_lengths = torch.full((B,), T), torch.full((B,), L)
    lat = intersect_dense(ctc_graphs(targets, target_lengths, 0, F64), -logits.log_softmax(-1))
    saved = I._free_forward(lat, 1.0)
    assert saved.use_log.all() and saved.checked is None
    ref = torch.nn.functional.ctc_loss(
        logits.log_softmax(-1).transpose(0, 1), targets, lengths, target_lengths, reduction="none"
    )
    torch.testing.assert_close(torch.from_numpy(saved.energy), ref, rtol=1e-12, atol=0)


@pytest.mark.parametrize("beta", [1e11, 1e16, 1e300])
def test_band_kernels_carry_exponents_of_any_size(beta, monkeypatch):
    """Every emission 1e4, so every CTC alignment has energy T * 1e4 and F = T * 1e4 -
    log(#alignments) / beta exactly; each frame's label posteriors sum to 1. beta * 1e4 * log2(e)
    passes 2**60, the band kernels' old exponent of 'absent', within a few frames: F was +inf
    with zero gradient (at 1e300 the exponents leave float64 and the general kernels take over).
    """
    from tests.gtn.dense_lattice.brute import log_path_count

    T = 100
    graphs = ctc_graphs(torch.tensor([[1, 2, 2], [3, 1, 0]]), torch.tensor([3, 2]), 0, F64)
    em = torch.full((2, T, 4), 1e4, dtype=F64, requires_grad=True)
    _log_space_only(monkeypatch, band=True)
    F = intersect_dense(graphs, em).free_energy(beta)
    (grad,) = torch.autograd.grad(F.sum(), em)
    for b in range(2):
        want = T * 1e4 - log_path_count(graphs.graph(b), T) / beta
        assert float(F[b].detach()) == pytest.approx(want, rel=4 * T * 2.0**-52)  # T sums
    torch.testing.assert_close(grad.sum(-1), torch.ones(2, T, dtype=F64), rtol=0, atol=1e-12)


def test_band_posteriors_are_shares_of_the_band_sums_at_huge_energies(monkeypatch):
    """Arc energies -1e30 round the others away: the one path's F is its energy and every frame's
    posterior is 1 (they summed to 2: exponents near 2**100 rounded in the backward)."""
    import gtn

    g = gtn.linear([0, 1, 0, 1], torch.tensor([1000.0, -1e30, 2000.0, -1e30], dtype=F64))
    em = torch.zeros(1, 4, 2, dtype=F64, requires_grad=True)
    _log_space_only(monkeypatch, band=True)
    lat = intersect_dense(g, em)
    F = lat.free_energy()
    (grad,) = torch.autograd.grad(F.sum(), em)
    assert float(F.detach()) == pytest.approx(float(lat.min_energy().detach()), rel=1e-15)
    torch.testing.assert_close(grad.sum(-1), torch.ones(1, 4, dtype=F64), rtol=0, atol=1e-12)
