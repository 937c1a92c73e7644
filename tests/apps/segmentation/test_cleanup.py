"""The cleanup model: energies against a direct loop over pixel pairs, inference methods against
brute-force enumeration on tiny grids, and the metric projection used by α-expansion."""

import itertools

import pytest
import torch

from apps.segmentation.cleanup import (
    DIRECTIONS,
    CleanupModel,
    metric_projection,
    neighbour_scopes,
)
from apps.segmentation.train import Interactions, interaction_loss
from factors.inference.variational import mean_field
from tests.factors.reference import all_assignments

H, W, K = 2, 3, 3


def direct_energy(model: CleanupModel, u: torch.Tensor, y: torch.Tensor) -> float:
    """E(y) for one image by explicit loops: a·Σ U[y] + Σ_d Σ_{(r,c),(r+dr,c+dc)} V_d."""
    h, w = y.shape
    a, b = float(model.unary_weight), model.unary_bias.detach()
    e = sum(a * float(u[r, c, y[r, c]]) + float(b[y[r, c]]) for r in range(h) for c in range(w))
    for name in model.tables:
        dr, dc = model.offsets[name]
        table = model.table(name).detach()
        for r, c in itertools.product(range(h), range(w)):
            r2, c2 = r + dr, c + dc
            if 0 <= r2 < h and 0 <= c2 < w:
                e += float(table[y[r, c], y[r2, c2]])
    return e


def random_model(
    neighbourhood: int, seed: int = 0, scale: float = 1.0, ranges=(1,)
) -> CleanupModel:
    torch.manual_seed(seed)
    model = CleanupModel(K, neighbourhood, ranges=ranges)
    with torch.no_grad():
        for t in model.tables.values():
            t.copy_(scale * torch.randn(K, K))
        model.unary_weight.fill_(0.8)
    return model


def brute_force(model: CleanupModel, u: torch.Tensor) -> tuple[torch.Tensor, float]:
    ys = all_assignments(H * W, K)
    energies = model.energy(u.expand(len(ys), -1, -1, -1), ys.reshape(-1, H, W))
    best = int(energies.argmin())
    return ys[best].reshape(H, W), float(energies[best].detach())


@pytest.mark.parametrize("step", list(DIRECTIONS.values()))
def test_neighbour_scopes_are_the_pairs_one_step_apart(step):
    h, w = 3, 4
    scopes = neighbour_scopes(h, w, step)
    pairs = {(int(i), int(j)) for i, j in scopes}
    want = {
        (r * w + c, (r + step[0]) * w + c + step[1])
        for r in range(h)
        for c in range(w)
        if 0 <= r + step[0] < h and 0 <= c + step[1] < w
    }
    assert pairs == want and len(scopes) == len(want)


@pytest.mark.parametrize(
    "neighbourhood,ranges,h,w", [(4, (1,), H, W), (8, (1,), H, W), (8, (1, 2, 3), 5, 6)]
)
def test_energy_matches_a_direct_loop_over_pixel_pairs(neighbourhood, ranges, h, w):
    model = random_model(neighbourhood, ranges=ranges)
    model.unary_bias.data = torch.randn(K)
    u = torch.rand(2, h, w, K)
    y = torch.randint(0, K, (2, h, w))
    e = model.energy(u, y)
    generic = model.terms(u).energy(y.reshape(2, -1))  # the factor graph's clique lists
    for b in range(2):
        want = direct_energy(model, u[b], y[b])
        assert float(e[b].detach()) == pytest.approx(want, abs=1e-4)
        assert float(generic[b].detach()) == pytest.approx(want, abs=1e-4)


def test_long_ranges_name_their_tables_and_reject_bad_distances():
    model = CleanupModel(K, 4, ranges=(1, 4))
    assert model.offsets == {
        "horizontal": (0, 1),
        "vertical": (1, 0),
        "horizontal_4": (0, 4),
        "vertical_4": (4, 0),
    }
    for bad in [(), (0,), (2, 2)]:
        with pytest.raises(ValueError, match="ranges"):
            CleanupModel(K, 8, ranges=bad)


def test_tables_have_a_zero_diagonal():
    model = random_model(8)
    for name in model.tables:
        assert torch.equal(model.table(name).diagonal(), torch.zeros(K))


def test_pseudo_likelihood_matches_energy_differences():
    model = random_model(8)
    u = torch.rand(1, H, W, K)
    y = torch.randint(0, K, (1, H, W))
    want = 0.0
    for i in range(H * W):
        energies = []
        for k in range(K):
            z = y.clone().reshape(-1)
            z[i] = k
            energies.append(model.energy(u, z.reshape(1, H, W))[0])
        logp = -torch.stack(energies) - torch.logsumexp(-torch.stack(energies), 0)
        want -= float(logp[y.reshape(-1)[i]].detach())
    pseudo_likelihood = interaction_loss("pseudo_likelihood").per_example(Interactions(model), u, y)
    assert float(pseudo_likelihood[0].detach()) == pytest.approx(want / (H * W), abs=1e-5)


def test_mean_field_decodes_the_fixed_point_beliefs_of_the_generic_engine():
    # The grid engine's parallel sweeps reach the coordinate-wise engine's fixed point on a
    # weakly coupled model; the answer is argmax q (max posterior marginal, not a MAP search).
    for seed in range(4):
        model = random_model(8, seed, scale=0.15)
        model.unary_bias.data = torch.randn(K)
        u = 4.0 * torch.rand(1, H, W, K)
        result = model.infer(u, "mean_field", sweeps=60)
        ref = mean_field(model.terms(u).detach(), max_sweeps=300, tol=1e-12).marginals
        assert torch.allclose(result.marginals, ref, atol=1e-5), seed
        assert torch.equal(result.assignment.reshape(1, -1), ref.argmax(-1))
        assert torch.allclose(result.energy, model.energy(u, result.assignment))


@pytest.mark.parametrize("method", ["icm", "gibbs"])
def test_methods_find_the_brute_force_minimum_when_the_answer_is_clear(method):
    # Moderate interactions and decisive unaries: every method must reach the optimum.
    for seed in range(4):
        model = random_model(8, seed, scale=0.15)
        u = 4.0 * torch.rand(1, H, W, K)
        best, e_min = brute_force(model, u)
        result = model.infer(u, method)
        assert float(result.energy[0]) == pytest.approx(e_min, abs=1e-5), seed
        assert torch.equal(result.assignment[0], best)


def test_icm_returns_a_local_minimum_and_never_worsens_its_start():
    for seed in range(4):
        model = random_model(8, seed, scale=1.5)
        u = torch.rand(1, H, W, K)
        result = model.infer(u, "icm")
        y = result.assignment.reshape(-1)
        start = u.argmin(-1)
        assert float(result.energy[0].detach()) <= float(model.energy(u, start)[0].detach()) + 1e-6
        for i, k in itertools.product(range(H * W), range(K)):
            z = y.clone()
            z[i] = k
            assert float(model.energy(u, z.reshape(1, H, W))[0]) >= float(result.energy[0]) - 1e-6


def test_annealed_gibbs_finds_the_minimum_of_a_hard_tiny_problem():
    for seed in range(3):
        model = random_model(8, seed, scale=1.5)
        u = torch.rand(1, H, W, K)
        _, e_min = brute_force(model, u)
        result = model.infer(u, "gibbs", sweeps=300, temperature=(3.0, 0.02))
        assert float(result.energy[0]) == pytest.approx(e_min, abs=1e-5), seed


def test_metric_projection_of_a_metric_is_exact():
    potts = 0.7 * (1 - torch.eye(4))
    half, metric = metric_projection(potts)
    assert torch.equal(half, torch.zeros(4, dtype=half.dtype))
    torch.testing.assert_close(metric, potts.double())


def test_metric_projection_gives_a_metric():
    torch.manual_seed(3)
    for _ in range(5):
        _, m = metric_projection(torch.randn(5, 5))
        assert torch.equal(m, m.T) and (m >= 0).all() and (m.diagonal() == 0).all()
        for a, b, c in itertools.product(range(5), repeat=3):
            assert m[a, c] <= m[a, b] + m[b, c] + 1e-12


def test_alpha_expansion_on_potts_is_within_its_bound_of_the_minimum():
    # Potts is a metric: the projection is exact and the expansion optimum is within 2× of the
    # minimum (non-negative unaries); on these small problems it is usually exact.
    exact = 0
    for seed in range(6):
        model = CleanupModel(K, 8)
        with torch.no_grad():
            for t in model.tables.values():
                t.copy_(0.6 * (1 - torch.eye(K)))
        torch.manual_seed(seed)
        u = 2.0 * torch.rand(1, H, W, K)
        _, e_min = brute_force(model, u)
        e = float(model.infer(u, "alpha_expansion").energy[0])
        assert e_min - 1e-6 <= e <= 2 * e_min + 1e-6
        exact += abs(e - e_min) < 1e-6
    assert exact >= 5


def test_alpha_expansion_reports_the_true_energy_of_its_answer():
    model = random_model(8, 1, scale=1.0)
    u = torch.rand(1, H, W, K)
    result = model.infer(u, "alpha_expansion")
    assert float(result.energy[0]) == pytest.approx(
        direct_energy(model, u[0], result.assignment[0]), abs=1e-5
    )


def test_alpha_expansion_refuses_patch_energies():
    model = CleanupModel(K, 4, patch=True)
    with pytest.raises(ValueError, match="alpha_expansion does not apply to 2×2 patch"):
        model.infer(torch.rand(1, H, W, K), "alpha_expansion")


def test_unknown_method_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown inference method 'bp'"):
        CleanupModel(K).infer(torch.rand(1, H, W, K), "bp")
