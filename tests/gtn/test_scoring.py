"""free_energy, min_energy, best_path and arc_posteriors against brute-force enumeration,
gradient checks, and the properties the design promises (batch = one by one, no path -> +inf
with zero gradient, cyclic -> GraphError)."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import gtn
from gtn.scoring import arc_posteriors, best_path, best_path_arcs, free_energy, min_energy
from tests.gtn import reference as ref
from tests.gtn.strategies import STRESS_BETAS, graphs, stress_graphs

INF = math.inf
BETAS = [0.5, 1.0, 3.0]


def paths_of(g):
    return ref.enumerate_paths(g, max_arcs=max(g.num_nodes, 1))


def random_dag(n=6, a=14, seed=0, dtype=torch.float64, requires_grad=True):
    """A DAG with continuous random energies (no ties), several start and final states."""
    rng = np.random.default_rng(seed)
    src = rng.integers(0, n - 1, a)
    dst = src + 1 + (rng.random(a) * (n - 1 - src)).astype(np.int64)
    perm = rng.permutation(a)  # arcs not sorted by source
    sw = np.full(n, INF)
    fw = np.full(n, INF)
    sw[[0, 1]] = rng.normal(size=2)
    fw[[n - 1, n - 2]] = rng.normal(size=2)

    def leaf(x):
        return torch.tensor(x, dtype=dtype, requires_grad=requires_grad)

    return gtn.Graph(
        n,
        src[perm],
        dst[perm],
        rng.integers(0, 3, a),
        None,
        leaf(rng.normal(size=a)),
        leaf(sw),
        leaf(fw),
    )


def no_path_graph():
    """Two states, start 0, final 1, but no arc between them."""
    return gtn.Graph(
        2, [], [], [], None, torch.zeros(0, dtype=torch.float64), [0.0, INF], [INF, 0.0]
    )


def empty_graph():
    return gtn.Graph(0, [], [], [], None, torch.zeros(0, dtype=torch.float64))


# ------------------------------------------------------------------ against brute force
@pytest.mark.parametrize("beta", BETAS)
@given(g=graphs(max_nodes=6, max_arcs=12))
def test_free_energy_matches_enumeration(g, beta):
    expected = ref.free_energy(paths_of(g), beta)
    assert float(free_energy(g, beta)) == pytest.approx(expected, rel=1e-9, abs=1e-9)


@given(g=graphs(max_nodes=6, max_arcs=12))
def test_min_energy_matches_enumeration(g):
    assert float(min_energy(g)) == ref.min_energy(paths_of(g))


@pytest.mark.parametrize("beta", [1.0, 2.0])
@given(g=graphs(max_nodes=6, max_arcs=12))
def test_arc_posteriors_match_enumeration(g, beta):
    paths = paths_of(g)
    free = ref.free_energy(paths, beta)
    expected = np.zeros(g.num_arcs)
    if paths:
        for p in paths:
            for a in p.arcs:
                expected[a] += math.exp(-beta * (p.energy - free))
    got = arc_posteriors(g, beta)
    assert not got.requires_grad
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-9, atol=1e-12)


@given(g=graphs(max_nodes=6, max_arcs=12))
def test_free_energy_gradient_is_arc_posterior(g):
    w = g.weight.clone().requires_grad_()
    (grad,) = torch.autograd.grad(free_energy(g.with_weights(w), 1.5), [w], allow_unused=True)
    grad = torch.zeros_like(w) if grad is None else grad
    torch.testing.assert_close(grad, arc_posteriors(g, 1.5), rtol=1e-12, atol=1e-12)


@given(g=graphs(max_nodes=6, max_arcs=12))
def test_best_path_energy_and_labels_match_a_best_enumerated_path(g):
    paths = paths_of(g)
    path = best_path(g)
    if not paths:
        assert path.num_nodes == 0
        return
    energy = float(path.weight.sum() + path.start_weight[0] + path.final_weight[-1])
    assert energy == ref.min_energy(paths)
    arcs = tuple(best_path_arcs(g).tolist())
    assert arcs in {p.arcs for p in paths if p.energy == energy}
    assert path.ilabel.tolist() == g.ilabel[list(arcs)].tolist()


# ------------------------------------------------------------------ properties
@given(g=graphs(max_nodes=6, max_arcs=12))
def test_free_energy_is_at_most_min_energy(g):
    assert float(free_energy(g)) <= float(min_energy(g)) + 1e-12


@pytest.mark.parametrize(
    ("weights", "beta"),
    [
        ([1000.0, -1e30, 2000.0, -1e30], 1.0),  # 1000 and 2000 vanish next to -1e30
        ([1e6 + 0.1, 0.2], 1e14),  # 0.2 keeps a few bits in 1e6 + 0.3: beta * ulp = 1.2e4
        ([1000.1, 0.2], 1e20),  # was NaN
        ([-3.0, 1e30, 0.5], 1e-3),
    ],
)
def test_a_single_path_has_its_energy_however_its_weights_round(weights, beta):
    """One path: F is its energy (the float sum min_energy gives) and every arc's posterior is
    1. A weight rounded away in a large partial energy once left every term of the next state's
    sum 0, so a reachable state read as unreached: F = +inf with zero gradient, or NaN."""
    w = torch.tensor(weights, dtype=torch.float64, requires_grad=True)
    g = gtn.linear([0] * len(weights), w)
    F = free_energy(g, beta)
    (grad,) = torch.autograd.grad(F, [w])
    assert float(F.detach()) == float(min_energy(g).detach()) == ref.exact(g, beta).free
    assert grad.tolist() == [1.0] * len(weights)


def _rounding_scale(g) -> float:
    """An energy error the kernels may make by rounding partial sums (float64): a few ulps of
    the largest partial energy per arc of the longest path."""
    return 4 * np.finfo(np.float64).eps * (g.num_nodes + 2) * max(ref.largest_partial_energy(g), 1)


@pytest.mark.parametrize("beta", STRESS_BETAS)
@given(g=stress_graphs(max_nodes=6, max_arcs=12))
def test_free_energy_of_stress_energies_matches_exact_enumeration(g, beta):
    """Energies up to 1e30 with small parts that round away, beta from 1e-3 to 1e300: F equals
    the exact free energy of the float weights up to the rounding of partial sums, and
    F <= min E up to the same rounding; +inf exactly when there is no path."""
    exact = ref.exact(g, beta)
    F, m = float(free_energy(g, beta)), float(min_energy(g))
    if exact.free == INF:
        assert F == m == INF
        return
    tol = _rounding_scale(g) + 4 * np.finfo(np.float64).eps * abs(exact.free)
    assert abs(F - exact.free) <= tol
    assert F <= m + tol


@pytest.mark.parametrize("beta", STRESS_BETAS)
@given(g=stress_graphs(max_nodes=6, max_arcs=12))
def test_posteriors_of_stress_energies_are_a_distribution_over_paths(g, beta):
    """Every path starts once and ends once, so the start posteriors sum to 1, and so do the
    final ones, at any beta and energy magnitude (gradients were 0, 2 or NaN at beta * ulp(F)
    >= 1). Where beta times the rounding is small, each posterior equals the exact one."""
    leaves = [t.clone().requires_grad_() for t in (g.weight, g.start_weight, g.final_weight)]
    F = free_energy(g.with_weights(*leaves), beta)
    if not torch.isfinite(F):
        return
    arcs, start, final = torch.autograd.grad(F, leaves, allow_unused=True)
    for p in (arcs, start, final):
        if p is not None:
            assert bool(((p >= 0) & (p <= 1 + 1e-12)).all())
    assert float(start.sum()) == pytest.approx(1.0, abs=1e-12)
    assert float(final.sum()) == pytest.approx(1.0, abs=1e-12)
    if _rounding_scale(g) < 1e-9 / beta:
        exact = ref.exact(g, beta)
        np.testing.assert_allclose(arcs.numpy(), exact.arcs, atol=1e-7)
        np.testing.assert_allclose(start.numpy(), exact.start, atol=1e-7)
        np.testing.assert_allclose(final.numpy(), exact.final, atol=1e-7)


def test_free_energy_tends_to_min_energy_as_beta_grows():
    g = random_dag(n=8, a=30, seed=3, requires_grad=False)
    n_paths = len(paths_of(g))
    m = float(min_energy(g))
    f = float(free_energy(g, beta=1e4))
    assert m - math.log(n_paths) / 1e4 <= f <= m  # exact bounds of a log-sum-exp


def test_huge_energies_do_not_overflow():
    g = random_dag(seed=4, requires_grad=False)
    shifted = g.with_weights(g.weight + 1e6)  # every path has 1e6 times its arc count added
    expected = ref.free_energy(paths_of(shifted), 1.0)
    assert float(free_energy(shifted)) == pytest.approx(expected, rel=1e-12)


def test_infinite_arc_weight_is_an_absent_arc():
    g = random_dag(seed=5, requires_grad=False)
    w = g.weight.clone()
    w[3] = INF
    with_inf = g.with_weights(w)
    keep = np.arange(g.num_arcs) != 3
    without = gtn.Graph(
        g.num_nodes,
        g.src[keep],
        g.dst[keep],
        g.ilabel[keep],
        None,
        g.weight[keep],
        g.start_weight,
        g.final_weight,
    )
    assert float(free_energy(with_inf)) == pytest.approx(float(free_energy(without)), rel=1e-12)
    assert float(min_energy(with_inf)) == float(min_energy(without))
    assert float(arc_posteriors(with_inf)[3]) == 0.0


@given(batch=st.lists(graphs(max_nodes=5, max_arcs=8), min_size=1, max_size=5))
def test_batch_equals_one_by_one(batch):
    batch = [*batch, empty_graph(), no_path_graph()]
    one_by_one = torch.stack([free_energy(g, 2.0) for g in batch])
    torch.testing.assert_close(free_energy(batch, 2.0), one_by_one, rtol=1e-12, atol=0)
    torch.testing.assert_close(min_energy(batch), torch.stack([min_energy(g) for g in batch]))
    for got, g in zip(arc_posteriors(batch), batch, strict=True):
        torch.testing.assert_close(got, arc_posteriors(g), rtol=1e-12, atol=1e-15)
    for got, g in zip(best_path_arcs(batch), batch, strict=True):
        assert got.tolist() == best_path_arcs(g).tolist()


@pytest.mark.parametrize("score", [free_energy, min_energy], ids=["free", "min"])
@pytest.mark.parametrize("make", [no_path_graph, empty_graph], ids=["no_path", "empty"])
def test_no_path_has_infinite_energy_and_zero_gradient(score, make):
    g = make()
    leaves = [t.clone().requires_grad_() for t in (g.weight, g.start_weight, g.final_weight)]
    batch = [g.with_weights(*leaves), random_dag(seed=6)]
    energy = score(batch)
    assert energy[0] == INF and torch.isfinite(energy[1])
    grads = torch.autograd.grad(energy[0] + energy[1], leaves)
    for grad in grads:
        assert not torch.isnan(grad).any()
        assert (grad == 0).all()


def test_dead_end_states_get_zero_gradient_without_nan():
    # 0 -> 1 -> 2 (final), and 0 -> 3 where 3 is a dead end; 4 is unreachable
    w = torch.tensor([1.0, 2.0, 0.5], dtype=torch.float64, requires_grad=True)
    g = gtn.Graph(
        5,
        [0, 1, 0],
        [1, 2, 3],
        [0, 1, 2],
        None,
        w,
        [0.0, INF, INF, INF, INF],
        [INF, INF, 0.0, INF, INF],
    )
    for score in (free_energy, min_energy):
        (grad,) = torch.autograd.grad(score(g), [w])
        assert grad.tolist() == [1.0, 1.0, 0.0]


@pytest.mark.parametrize("fn", [free_energy, min_energy, best_path, arc_posteriors])
def test_cyclic_graph_raises_graph_error_naming_the_operation_and_a_node(fn):
    g = gtn.Graph.from_arrays(3, [0, 1, 2], [1, 2, 1], [0, 0, 0], start=[0], final=[2])
    with pytest.raises(gtn.GraphError, match=rf"{fn.__name__} needs an acyclic graph.*node [12]"):
        fn(g)


def test_min_energy_tie_breaks_to_lowest_arc_index():
    # arcs 1 and 2 are both best (energy 1) into state 1; arc 0 is worse
    g = gtn.Graph.from_arrays(2, [0, 0, 0], [1, 1, 1], [5, 6, 7], weight=[2.0, 1.0, 1.0])
    assert best_path_arcs(g).tolist() == [1]
    assert best_path(g).ilabel.tolist() == [6]


def test_float32_results_are_accurate():
    """A 60-frame, 40-label lattice: float32 energies scored in float64 internally."""
    rng = np.random.default_rng(7)
    t, v = 60, 40
    src = np.repeat(np.arange(t), v)
    w64 = torch.tensor(rng.normal(size=t * v) * 3)
    g64 = gtn.Graph.from_arrays(t + 1, src, src + 1, np.tile(np.arange(v), t), weight=w64)
    g32 = g64.to(torch.float32)
    exact = g32.to(torch.float64)  # the same float32 numbers, scored in float64
    for score in (free_energy, min_energy):
        assert score(g32).dtype == torch.float32
        assert float(score(g32)) == pytest.approx(float(score(exact)), rel=1e-6)
    torch.testing.assert_close(
        arc_posteriors(g32).double(), arc_posteriors(exact), atol=1e-6, rtol=1e-5
    )


def test_beta_must_be_positive_and_finite():
    g = random_dag(requires_grad=False)
    for beta in (0.0, -1.0, INF):
        with pytest.raises(ValueError, match="beta"):
            free_energy(g, beta)


@pytest.mark.parametrize("beta", [1e-305, 1e-307, 1e-310, 5e-324])
def test_a_beta_too_small_for_float64_is_refused_and_says_why(beta):
    """Below 1e-300 the kernels' shift of 300 / beta overflows (F was +inf, or -inf where it is
    -log(2) / beta = -6.9e306 at 1e-307) and F itself, of order log(#paths) / beta, soon does."""
    g = random_dag(requires_grad=False)
    for op in (free_energy, arc_posteriors, lambda g, beta: gtn.sample(g, 1, beta=beta)):
        with pytest.raises(ValueError, match=r"beta = .* is below 1e-300: .* float64"):
            op(g, beta)


def test_the_smallest_beta_gives_the_mean_energy_less_log_of_the_path_count():
    """At beta = 1e-300 every path weighs the same: F = mean E - log(#paths) / beta, and each
    arc's posterior is the share of paths through it."""
    g = random_dag(requires_grad=False)
    paths = paths_of(g)
    exact = ref.exact(g, 1e-300)
    assert float(free_energy(g, 1e-300)) == pytest.approx(exact.free, rel=1e-15)
    share = np.zeros(g.num_arcs)
    for p in paths:
        share[list(p.arcs)] += 1 / len(paths)
    np.testing.assert_allclose(arc_posteriors(g, 1e-300).numpy(), share, atol=1e-12)


# ------------------------------------------------------------------ gradient checks
def _gradcheck(score, g):
    def f(w, sw, fw):
        return score(g.with_weights(w, sw, fw))

    assert torch.autograd.gradcheck(f, (g.weight, g.start_weight, g.final_weight))


@pytest.mark.parametrize("beta", [0.5, 2.0])
def test_gradcheck_free_energy(beta):
    _gradcheck(lambda g: free_energy(g, beta), random_dag(seed=11))


def test_gradcheck_min_energy():
    _gradcheck(min_energy, random_dag(seed=12))


def test_gradcheck_best_path_energy():
    def energy(g):
        p = best_path(g)
        return p.weight.sum() + p.start_weight[0] + p.final_weight[-1]

    _gradcheck(energy, random_dag(seed=13))


def test_gradcheck_batch():
    batch = [random_dag(n=4, a=6, seed=14), random_dag(n=7, a=15, seed=15)]
    leaves = [t for g in batch for t in (g.weight, g.start_weight, g.final_weight)]

    def f(*ts):
        gs = [g.with_weights(*ts[3 * i : 3 * i + 3]) for i, g in enumerate(batch)]
        scale = torch.tensor([1.0, -2.0], dtype=torch.float64)
        return free_energy(gs, 1.3) * scale + min_energy(gs)

    assert torch.autograd.gradcheck(f, leaves)


def test_cyclic_graph_in_a_batch_is_named_by_its_index():
    cyclic = gtn.Graph.from_arrays(3, [0, 1, 2], [1, 2, 1], [0, 0, 0], start=[0], final=[2])
    with pytest.raises(gtn.GraphError, match=r"cycle through node [12] \(graph 1 of the batch\)"):
        min_energy([random_dag(seed=1), cyclic])


def test_graph_whose_ids_are_not_topological_scores_like_its_renumbering():
    g = random_dag(n=7, a=16, seed=21, requires_grad=False)
    perm = np.random.default_rng(1).permutation(g.num_nodes)  # ids no longer topological
    inverse = np.argsort(perm)
    renumbered = gtn.Graph(
        g.num_nodes,
        perm[g.src],
        perm[g.dst],
        g.ilabel,
        None,
        g.weight,
        g.start_weight[inverse],
        g.final_weight[inverse],
    )
    assert float(free_energy(renumbered)) == pytest.approx(float(free_energy(g)), rel=1e-12)
    assert float(min_energy(renumbered)) == float(min_energy(g))
    torch.testing.assert_close(arc_posteriors(renumbered), arc_posteriors(g))


@pytest.mark.parametrize("beta", BETAS)
def test_lattice_frames_free_energy_and_posteriors_equal_brute_force(beta):
    """States whose arcs all go to one state (lattice frames, scored as one slice of weights),
    mixed with ordinary states, an absent (+inf) arc and a dead end."""
    src = [0, 0, 0, 1, 1, 2, 2, 2, 3]
    dst = [1, 1, 1, 2, 2, 3, 4, 4, 5]  # states 0, 1, 3 are frames; 2 is not; 4 is a dead end
    w = torch.tensor([0.3, -0.2, INF, 1.0, 0.5, 0.1, -0.4, 0.2, 0.7], dtype=torch.float64)
    g = gtn.Graph.from_arrays(6, src, dst, list(range(9)), weight=w.requires_grad_())
    paths = paths_of(g)
    F = free_energy(g, beta)
    assert float(F.detach()) == pytest.approx(ref.free_energy(paths, beta), rel=1e-12)
    (grad,) = torch.autograd.grad(F, [g.weight])
    posterior = torch.zeros(9, dtype=torch.float64)
    for p in paths:
        for arc in p.arcs:
            posterior[arc] += math.exp(-beta * (p.energy - float(F.detach())))
    torch.testing.assert_close(grad, posterior, rtol=1e-10, atol=1e-12)


def _two_arc_path(weight: float, dtype) -> gtn.Graph:
    w = torch.tensor([weight, weight], dtype=dtype, requires_grad=True)
    return gtn.Graph.from_arrays(3, [0, 1], [1, 2], [0, 0], weight=w, start=[0], final=[2])


@pytest.mark.parametrize(
    ("weight", "dtype", "expected"),
    [(-1e308, torch.float64, -math.inf), (3e38, torch.float32, math.inf)],
)
def test_energies_beyond_the_dtype_range_agree_with_zero_gradient(weight, dtype, expected):
    """-1e308 twice overflows float64 below: free and min energy are both -inf (the free energy
    was +inf); 3e38 twice overflows float32 above: +inf, with zero gradient (it was 1)."""
    for score in (gtn.free_energy, gtn.min_energy):
        g = _two_arc_path(weight, dtype)
        out = score(g)
        assert float(out) == expected
        out.backward()
        assert (g.weight.grad == 0).all()
    # a finite path beside the overflowing one does not hide it: F <= min E = -inf
    if expected < 0:
        w = torch.tensor([weight, weight, 0.5], dtype=dtype)
        g = gtn.Graph.from_arrays(3, [0, 1, 0], [1, 2, 2], [0, 0, 1], weight=w, start=[0],
                                  final=[2])  # fmt: skip
        assert float(gtn.free_energy(g)) == float(gtn.min_energy(g)) == -math.inf
