"""gtn.dense_lattice.intersection: the general operation, against brute-force enumeration."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import gtn
from gtn.dense_lattice import GraphBatch, intersect_dense
from tests.gtn.dense_lattice import brute
from tests.gtn.reference import enumerate_paths
from tests.gtn.reference import free_energy as graph_free_energy

INF = math.inf
F64 = torch.float64


def _graph(dtype=F64, requires_grad=False):
    """Two states, a self-loop, a cross arc, an epsilon arc, start/final energies."""
    g = gtn.Graph(
        3,
        [0, 0, 1, 0, 1, 2],
        [0, 1, 1, 2, 2, 2],
        [0, 1, 1, -1, 0, 2],
        None,
        torch.tensor([0.3, -0.2, 0.1, 0.4, 0.0, -0.1], dtype=dtype),
        torch.tensor([0.0, 0.5, INF], dtype=dtype),
        torch.tensor([INF, 0.2, -0.3], dtype=dtype),
    )
    if requires_grad:
        for t in (g.weight, g.start_weight, g.final_weight):
            t.requires_grad_(True)
    return g


@given(
    brute.dense_graphs(),
    st.integers(0, 4),
    st.sampled_from([1.0, 0.5, 3.0]),
    st.integers(0, 2**31 - 1),
)
def test_free_and_min_energy_equal_brute_force(g, T, beta, seed):
    em = torch.randn(1, T, 3, dtype=F64, generator=torch.Generator().manual_seed(seed))
    paths = brute.alignments(g, em[0], T)
    lat = intersect_dense(g, em)
    expected_f = brute.free_energy(paths, beta)
    expected_m = min((p[0] for p in paths), default=INF)
    assert float(lat.free_energy(beta)[0]) == pytest.approx(expected_f, rel=1e-9, abs=1e-9)
    assert float(lat.min_energy()[0]) == pytest.approx(expected_m, rel=1e-12, abs=1e-12)


@given(
    brute.dense_graphs(), st.integers(1, 4), st.sampled_from([1.0, 2.0]), st.integers(0, 2**31 - 1)
)
def test_gradients_are_posteriors_and_expected_arc_counts(g, T, beta, seed):
    em = torch.randn(1, T, 3, dtype=F64, generator=torch.Generator().manual_seed(seed))
    em.requires_grad_(True)
    g.weight.requires_grad_(True)
    paths = brute.alignments(g, em[0], T)
    F = intersect_dense(g, em).free_energy(beta)
    F.sum().backward()
    np.testing.assert_allclose(
        em.grad[0].numpy(), brute.label_posteriors(paths, T, 3, beta), atol=1e-9
    )
    np.testing.assert_allclose(
        g.weight.grad.numpy(), brute.arc_counts(paths, g.num_arcs, beta), atol=1e-9
    )
    assert not torch.isnan(em.grad).any()


@given(brute.dense_graphs(), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_best_alignment_is_a_minimum_energy_path(g, T, seed):
    em = torch.randn(1, T, 3, dtype=F64, generator=torch.Generator().manual_seed(seed))
    paths = brute.alignments(g, em[0], T)
    ali = intersect_dense(g, em).best_alignment()
    if not paths:
        assert ali.energy[0] == INF and (ali.labels == -1).all()
        return
    best = min(p[0] for p in paths)
    matching = [
        p for p in paths if tuple(ali.labels[0].tolist()) == p[1] and abs(p[0] - best) < 1e-9
    ]
    assert matching, "the alignment's labels must be those of a minimum-energy path"
    emitting = [a for a in matching[0][2] if g.ilabel[a] >= 0]
    assert float(ali.energy[0]) == pytest.approx(best, abs=1e-12)
    pairs = zip(ali.arcs[0].tolist(), ali.labels[0].tolist(), strict=True)
    assert all(g.ilabel[a] == lab for a, lab in pairs)
    assert len(emitting) == T


def test_label_posteriors_sum_to_one_per_frame_and_equal_the_gradient():
    g = _graph()
    em = torch.randn(2, 5, 3, dtype=F64, requires_grad=True)
    lat = intersect_dense(g, em, [5, 3])
    post = lat.label_posteriors(beta=0.7)
    lat.free_energy(beta=0.7).sum().backward()
    torch.testing.assert_close(post, em.grad)
    torch.testing.assert_close(post.sum(-1), torch.tensor([[1.0] * 5, [1, 1, 1, 0, 0]], dtype=F64))


def test_gradcheck_free_energy_wrt_emissions_and_all_graph_weights():
    g = _graph(requires_grad=True)
    em = torch.randn(2, 4, 3, dtype=F64, requires_grad=True)

    def f(em, w, sw, fw):
        return intersect_dense(g.with_weights(w, sw, fw), em, [4, 2]).free_energy(beta=1.3)

    assert torch.autograd.gradcheck(f, (em, g.weight, g.start_weight, g.final_weight))


def test_gradcheck_min_energy_wrt_emissions_and_all_graph_weights():
    g = _graph(requires_grad=True)
    em = torch.randn(2, 4, 3, dtype=F64, requires_grad=True)

    def f(em, w, sw, fw):
        return intersect_dense(g.with_weights(w, sw, fw), em, [4, 3]).min_energy()

    assert torch.autograd.gradcheck(f, (em, g.weight, g.start_weight, g.final_weight))


def test_padding_frames_never_change_results_or_receive_gradient():
    g = _graph()
    em = torch.randn(3, 6, 3, dtype=F64)
    lengths = [6, 4, 1]
    padded = em.clone()
    for b, n in enumerate(lengths):
        padded[b, n:] = torch.randn(6 - n, 3, dtype=F64) * 100
    padded[2, 3, 1] = float("nan")  # garbage in padding is ignored, even NaN
    padded.requires_grad_(True)
    F = intersect_dense(g, padded, lengths).free_energy()
    F.sum().backward()
    for b, n in enumerate(lengths):
        alone = intersect_dense(g, em[b : b + 1, :n]).free_energy()
        assert float(F[b]) == pytest.approx(float(alone[0]), rel=1e-12)
        assert (padded.grad[b, n:] == 0).all()


def test_batch_equals_one_by_one_with_a_list_of_graphs():
    gs = [
        _graph(),
        gtn.Graph.from_arrays(
            1, [0, 0], [0, 0], [1, 2], weight=[0.5, -0.5], start=[0], final=[0]
        ).to(F64),
    ]
    em = torch.randn(2, 5, 3, dtype=F64)
    lat = intersect_dense(gs, em, [5, 4])
    for b in range(2):
        n = [5, 4][b]
        one = intersect_dense(gs[b], em[b : b + 1, :n])
        assert float(lat.free_energy()[b]) == pytest.approx(float(one.free_energy()[0]), rel=1e-12)
        assert float(lat.min_energy()[b]) == float(one.min_energy()[0])


def test_shared_graph_gradient_is_the_sum_over_the_batch():
    g = _graph(requires_grad=True)
    em = torch.randn(3, 4, 3, dtype=F64)
    intersect_dense(g, em).free_energy().sum().backward()
    shared = g.weight.grad.clone()
    copies = [_graph(requires_grad=True) for _ in range(3)]
    intersect_dense(copies, em).free_energy().sum().backward()
    torch.testing.assert_close(shared, sum(c.weight.grad for c in copies))


def test_graph_batch_input_equals_list_input():
    gs = [_graph(), _graph()]
    em = torch.randn(2, 4, 3, dtype=F64)
    a = intersect_dense(gs, em).free_energy()
    b = intersect_dense(GraphBatch.from_graphs(gs), em).free_energy()
    torch.testing.assert_close(a, b)


def test_no_path_gives_inf_and_zero_gradient_not_nan():
    g = gtn.Graph.from_arrays(2, [0], [1], [0], start=[0], final=[1]).to(F64)
    g.weight.requires_grad_(True)
    em = torch.randn(2, 3, 2, dtype=F64, requires_grad=True)  # 3 frames, graph accepts 1 label
    lat = intersect_dense(g, em, [3, 1])
    for F in (lat.free_energy(), lat.min_energy()):
        assert float(F[0]) == INF and math.isfinite(float(F[1]))
        em.grad = None
        F[0].backward()
        assert (em.grad == 0).all() and not torch.isnan(g.weight.grad).any()


@pytest.mark.parametrize("energy", [2e38, -2e38], ids=["above", "below"])
def test_an_energy_beyond_float32_is_infinite_with_zero_gradient(energy):
    """Three frames of +-2e38 sum to +-6e38, beyond float32 (the kernels add in float64): the
    result is +-inf in float32, and an infinite result has zero gradient (it was 0.5 per
    entry), for the free energy, the minimum energy and CTC alike; the float64 free energy
    of the same numbers stays finite, with its posteriors."""
    g = gtn.Graph.from_arrays(1, [0, 0], [0, 0], [0, 1], start=[0], final=[0])
    for score in (
        lambda em: intersect_dense(g, em).free_energy(),
        lambda em: intersect_dense(g, em).min_energy(),
        lambda em: gtn.ctc_loss(em, torch.tensor([[1]]), [3], [1], reduction="none"),
    ):
        em = torch.full((1, 3, 2), energy, dtype=torch.float32, requires_grad=True)
        out = score(em)
        assert out.dtype == torch.float32 and float(out[0]) == math.copysign(INF, energy)
        (grad,) = torch.autograd.grad(out.sum(), em)
        assert (grad == 0).all()
    em = torch.full((1, 3, 2), energy, dtype=torch.float32, requires_grad=True)
    F = intersect_dense(g, em).free_energy(dtype=F64)
    (grad,) = torch.autograd.grad(F.sum(), em)
    assert math.isfinite(float(F[0])) and grad.sum(-1).tolist() == [[1.0, 1.0, 1.0]]


def test_impossible_frame_with_inf_emissions_gives_inf():
    g = gtn.Graph.from_arrays(1, [0], [0], [0], start=[0], final=[0]).to(F64)
    em = torch.zeros(1, 3, 2, dtype=F64)
    em[0, 1, 0] = INF
    assert float(intersect_dense(g, em).free_energy()[0]) == INF


def test_extreme_energies_use_the_exact_log_space_path():
    # Forced path through labels 2000 nats worse than the alternatives: exp() underflows in
    # the scaled recursion, which must hand over to log space rather than return +inf.
    g = gtn.Graph.from_arrays(
        3, [0, 1, 1], [1, 2, 2], [1, 1, 0], weight=[0.0, 900.0, 0.0], start=[0], final=[2]
    ).to(F64)
    em = torch.zeros(1, 2, 2, dtype=F64)
    em[0, :, 1] = 2000.0
    paths = brute.alignments(g, em[0], 2)
    lat = intersect_dense(g, em)
    assert float(lat.free_energy()[0]) == pytest.approx(brute.free_energy(paths), rel=1e-12)
    post = lat.label_posteriors()
    np.testing.assert_allclose(post[0].numpy(), brute.label_posteriors(paths, 2, 2), atol=1e-12)


def test_float32_agrees_with_float64():
    g = _graph()
    em = torch.randn(4, 30, 3, dtype=F64)
    f64 = intersect_dense(g, em).free_energy()
    f32 = intersect_dense(g.to(torch.float32), em.float()).free_energy()
    assert f32.dtype == torch.float32
    torch.testing.assert_close(f32.double(), f64, rtol=1e-5, atol=1e-5)


def test_results_are_deterministic():
    g = _graph(requires_grad=True)
    em = torch.randn(8, 40, 3, dtype=F64, requires_grad=True)
    runs = []
    for _ in range(2):
        em.grad = g.weight.grad = None
        F = intersect_dense(g, em).free_energy()
        F.sum().backward()
        runs.append((F.detach().clone(), em.grad.clone(), g.weight.grad.clone()))
    for a, b in zip(*runs, strict=False):
        assert torch.equal(a, b)


def test_to_graph_is_the_explicit_lattice():
    g = _graph()
    em = torch.randn(1, 3, 3, dtype=F64)
    lat = intersect_dense(g, em)
    explicit = lat.to_graph(0)
    assert explicit.num_nodes == 4 * g.num_nodes
    paths = enumerate_paths(explicit, max_arcs=20)
    assert graph_free_energy(paths) == pytest.approx(float(lat.free_energy()[0]), rel=1e-12)


@pytest.mark.parametrize(
    "emissions, lengths, message",
    [
        (torch.zeros(2, 3), None, r"shape \[B, T, V\]"),
        (torch.zeros(1, 3, 3, dtype=torch.int64), None, "float32 or float64"),
        (torch.zeros(1, 3, 3), [4], r"lengths\[0\] = 4 is outside \[0, T=3\]"),
        (torch.zeros(1, 3, 3), [-1], r"lengths\[0\] = -1"),
        (torch.zeros(1, 3, 3), [1, 2], "lengths must be 1 integers"),
    ],
)
def test_malformed_inputs_are_named(emissions, lengths, message):
    with pytest.raises(ValueError, match=message):
        intersect_dense(_graph(), emissions, lengths)


def test_nan_and_minus_inf_emissions_are_named():
    em = torch.zeros(1, 3, 3)
    em[0, 1, 2] = float("nan")
    with pytest.raises(ValueError, match=r"emissions\[0, 1, 2\] is nan"):
        intersect_dense(_graph(), em)
    em[0, 1, 2] = -INF
    with pytest.raises(ValueError, match=r"emissions\[0, 1, 2\] is -inf"):
        intersect_dense(_graph(), em)


def test_label_outside_emission_range_is_named():
    with pytest.raises(gtn.GraphError, match="arc 5: label 2 is out of range .* V=2"):
        intersect_dense(_graph(), torch.zeros(1, 3, 2))


def test_epsilon_cycle_is_rejected():
    g = gtn.Graph.from_arrays(2, [0, 1, 0], [1, 0, 1], [-1, -1, 0], start=[0], final=[1])
    with pytest.raises(gtn.GraphError, match="cycle of epsilon arcs"):
        intersect_dense(g, torch.zeros(1, 2, 1))


def test_wrong_number_of_graphs_and_transducers_are_rejected():
    with pytest.raises(gtn.GraphError, match="2 graphs for a batch of 3"):
        intersect_dense([_graph(), _graph()], torch.zeros(3, 2, 3))
    t = gtn.Graph(1, [0], [0], [0], [1], start_weight=[0.0], final_weight=[0.0])
    with pytest.raises(gtn.GraphError, match="transducer"):
        intersect_dense(t, torch.zeros(1, 2, 3))


def test_beta_must_be_positive():
    with pytest.raises(ValueError, match="beta"):
        intersect_dense(_graph(), torch.zeros(1, 2, 3)).free_energy(beta=0.0)


@pytest.mark.parametrize("beta", [1e-305, 1e-310])
def test_a_beta_too_small_for_float64_is_refused_and_says_why(beta):
    """Below 1e-300, log(#paths) / beta and the shifts of 300 / beta leave float64: the free
    energy was +-inf or NaN. The graph-scoring operations refuse it the same way."""
    lat = intersect_dense(_graph(), torch.zeros(1, 2, 3))
    for op in (lat.free_energy, lat.label_posteriors):
        with pytest.raises(ValueError, match=r"beta = .* is below 1e-300: .* float64"):
            op(beta)


def test_the_smallest_beta_gives_the_log_of_the_path_count():
    """At beta = 1e-300 every path weighs the same: F = mean path energy - log(#paths) / beta
    (here the energies are 0) and the posteriors are path counts."""
    g = gtn.Graph.from_arrays(1, [0, 0], [0, 0], [0, 1], start=[0], final=[0]).to(F64)
    em = torch.zeros(1, 5, 2, dtype=F64, requires_grad=True)
    F = intersect_dense(g, em).free_energy(1e-300)
    (grad,) = torch.autograd.grad(F.sum(), em)
    assert float(F.detach()) == pytest.approx(-5 * math.log(2) / 1e-300, rel=1e-15)
    torch.testing.assert_close(grad, torch.full_like(grad, 0.5))
