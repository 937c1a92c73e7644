"""Loopy inference on small grids against brute force, and grid energies against a naive loop."""

import pytest
import torch
from torch import nn

from factors import FactorGraph, Pairwise, Patch, Unary, grid, grid_scopes
from factors.inference import min_cut
from factors.inference.loopy import color_classes
from tests.factors import reference


class Fixed(nn.Module):
    def __init__(self, table):
        super().__init__()
        self.register_buffer("table", table)

    def forward(self, x):
        return self.table


def random_submodular_grid(h, w, seed, batch=2) -> FactorGraph:
    """Binary grid with one random submodular table per edge: E(0,1) + E(1,0) >= E(0,0) + E(1,1)."""
    gen = torch.Generator().manual_seed(seed)
    n = h * w
    horizontal, vertical, _ = grid_scopes(h, w)
    edges = torch.cat([horizontal, vertical])
    t = torch.randn(len(edges), 2, 2, generator=gen, dtype=torch.float64)
    excess = (t[:, 0, 0] + t[:, 1, 1] - t[:, 0, 1] - t[:, 1, 0]).clamp_min(0)
    t[:, 0, 1] += excess + torch.rand(len(edges), generator=gen, dtype=torch.float64)
    g = FactorGraph(n, 2, shape=(h, w))
    g.add(
        Unary(Fixed(2 * torch.randn(batch, n, 2, generator=gen, dtype=torch.float64)), range(n), 2)
    )
    g.add(Pairwise(edges, 2, t, learnable=False))
    return g


def potts_grid(h, w, k, seed, batch=2, strength=1.0, nonnegative=True) -> FactorGraph:
    gen = torch.Generator().manual_seed(seed)
    unary = 3 * torch.rand(batch, h, w, k, generator=gen, dtype=torch.float64)
    if not nonnegative:
        unary = unary - 1.5
    g = grid(h, w, k, unary=Fixed(unary), pairwise="potts")
    with torch.no_grad():
        g.factors[1].strength.fill_(strength)
    return g


def patch_grid(k, seed, pairwise):
    """A 3×3 grid with random unary energies, ``pairwise`` factors and a random 2×2 patch
    table; returns it with the generator, to draw more from the same stream."""
    gen = torch.Generator().manual_seed(seed)
    unary = Fixed(torch.randn(1, 3, 3, k, generator=gen))
    patch = torch.randn(k, k, k, k, generator=gen)
    return grid(3, 3, k, unary=unary, pairwise=pairwise, patch=patch), gen


@pytest.mark.parametrize("seed", range(4))
def test_graph_cut_is_exact_on_binary_submodular_energies(seed):
    g = random_submodular_grid(3, 3, seed)
    _, energies = reference.all_energies(g, None, 2)
    result = g.infer(None, method="graph_cut")
    torch.testing.assert_close(result.energy, energies.min(1).values)


def test_graph_cut_rejects_non_submodular_terms():
    g = FactorGraph(
        2, 2, [Pairwise([[0, 1]], 2, torch.tensor([[0.0, 1.0], [1.0, -5.0]]), learnable=False)]
    )
    g.add(Pairwise([[0, 1]], 2, torch.tensor([[3.0, 0.0], [0.0, 0.0]]), learnable=False))
    with pytest.raises(ValueError, match="not submodular"):
        g.infer(None, method="graph_cut")


def test_min_cut_on_two_variables_matches_hand_solution():
    # x0 prefers 1 (unary 0 vs -2), x1 prefers 0; coupling 5 for disagreeing makes both 1 (E=-2+1).
    unary = torch.tensor([[0.0, -2.0], [0.0, 1.0]]).numpy()
    pair = torch.tensor([[[0.0, 5.0], [5.0, 0.0]]]).numpy()
    x = min_cut(unary, torch.tensor([0]).numpy(), torch.tensor([1]).numpy(), pair)
    assert x.tolist() == [1, 1]


@pytest.mark.parametrize("seed", range(3))
def test_alpha_expansion_is_within_twice_the_optimum_for_potts(seed):
    g = potts_grid(3, 3, 3, seed, strength=1.5)
    _, energies = reference.all_energies(g, None, 2)
    optimum = energies.min(1).values
    result = g.infer(None, method="alpha_expansion")
    assert bool(result.converged.all())
    assert bool((result.energy >= optimum - 1e-9).all())
    assert bool((result.energy <= 2 * optimum + 1e-9).all())


@pytest.mark.parametrize("method", ["icm", "mean_field", "min_sum", "gibbs", "alpha_expansion"])
def test_iterative_methods_never_end_worse_than_their_start(method):
    g = potts_grid(6, 7, 4, seed=3, strength=0.8, nonnegative=False)
    init = torch.randint(0, 4, (2, 42), generator=torch.Generator().manual_seed(0))
    start = g.energy(None, init)
    result = g.infer(None, method=method, init=init)
    assert bool((result.energy <= start + 1e-9).all())
    assert result.trace == sorted(result.trace, reverse=True)


def test_icm_ends_in_a_local_minimum():
    g = potts_grid(5, 5, 3, seed=1, strength=1.0, nonnegative=False)
    result = g.infer(None, method="icm")
    assert bool(result.converged.all())
    cond = g.terms(None).conditional(result.assignment)
    current = cond.gather(2, result.assignment[..., None]).squeeze(-1)
    assert bool((cond.min(-1).values >= current - 1e-9).all())


def test_gibbs_at_low_temperature_finds_the_optimum_on_a_tiny_grid():
    g = potts_grid(3, 3, 2, seed=5, strength=1.2, nonnegative=False)
    _, energies = reference.all_energies(g, None, 2)
    result = g.infer(None, method="gibbs", sweeps=60, temperature=(2.0, 0.02), seed=0)
    torch.testing.assert_close(result.energy, energies.min(1).values)


def test_min_sum_is_exact_on_a_chain():
    g = potts_grid(1, 6, 3, seed=2, strength=0.7, nonnegative=False)
    assert g.structure == "chain"
    loopy = g.infer(None, method="min_sum", damping=0.0)
    torch.testing.assert_close(loopy.energy, g.min_energy(None))
    assert bool(loopy.converged.all())


def test_mean_field_marginals_are_distributions():
    g = potts_grid(4, 4, 3, seed=0)
    q = g.infer(None, method="mean_field").marginals
    torch.testing.assert_close(q.sum(-1), torch.ones(2, 16, dtype=q.dtype))


def test_grid_energy_equals_a_naive_loop_over_pixels():
    h, w, k = 3, 4, 3
    gen = torch.Generator().manual_seed(0)
    unary = torch.randn(2, h, w, k, generator=gen)
    pair = torch.randn(k, k, generator=gen)
    patch = torch.randn(k, k, k, k, generator=gen)
    g = grid(h, w, k, unary=Fixed(unary), pairwise=pair, patch=patch)
    y = torch.randint(0, k, (2, h, w), generator=gen)
    expected = torch.zeros(2)
    for b in range(2):
        for i in range(h):
            for j in range(w):
                expected[b] += unary[b, i, j, y[b, i, j]]
                if j + 1 < w:
                    expected[b] += pair[y[b, i, j], y[b, i, j + 1]]
                if i + 1 < h:
                    expected[b] += pair[y[b, i, j], y[b, i + 1, j]]
                if i + 1 < h and j + 1 < w:
                    expected[b] += patch[
                        y[b, i, j], y[b, i, j + 1], y[b, i + 1, j], y[b, i + 1, j + 1]
                    ]
    torch.testing.assert_close(g.energy(None, y), expected)
    assert g.structure == "loopy"


def test_conditional_energies_are_energy_differences():
    k = 3
    g, gen = patch_grid(k, seed=1, pairwise="full")
    y = torch.randint(0, k, (1, 9), generator=gen)
    cond = g.terms(None).conditional(y)
    for i in (0, 4, 8):
        for label in range(k):
            z = y.clone()
            z[0, i] = label
            diff = g.energy(None, z) - g.energy(None, y)
            torch.testing.assert_close(cond[0, i, label] - cond[0, i, y[0, i]], diff[0])


@pytest.mark.parametrize("per_clique", [False, True], ids=["shared-tables", "per-clique-tables"])
def test_conditionals_of_a_colour_class_are_rows_of_the_full_conditionals(per_clique):
    k, b = 3, 2
    gen = torch.Generator().manual_seed(2)
    g = grid(
        4,
        3,
        k,
        unary=Fixed(torch.randn(b, 4, 3, k, generator=gen)),
        pairwise="full",
        patch=torch.randn(k, k, k, k, generator=gen),
    )
    t = g.terms(None)
    if per_clique:  # a table per batch row and clique, as a network's factors give
        t.cliques = [
            (scopes, table + torch.randn(b, scopes.shape[0], *table.shape[2:], generator=gen))
            for scopes, table in t.cliques
        ]
    y = torch.randint(0, k, (b, 12), generator=gen)
    q = torch.softmax(torch.randn(b, 12, k, generator=gen), -1)
    full, expected = t.conditional(y), t.expected_conditional(q)
    for variables in [torch.tensor([5, 0, 7]), *color_classes(t)]:
        torch.testing.assert_close(t.conditional(y, variables), full[:, variables])
        torch.testing.assert_close(t.expected_conditional(q, variables), expected[:, variables])


@pytest.mark.parametrize("method", ["icm", "min_sum", "mean_field", "gibbs"])
def test_patch_factors_are_supported_by_iterative_methods(method):
    g, _ = patch_grid(2, seed=4, pairwise="potts")
    _, energies = reference.all_energies(g, None, 1)
    result = g.infer(None, method=method)
    assert float(result.energy) >= float(energies.min()) - 1e-6
    assert float(result.energy) <= float(g.energy(None, g.terms(None).unary.argmin(-1))) + 1e-6


def test_most_offending_on_a_loopy_graph_differs_from_the_answer():
    g = potts_grid(3, 3, 3, seed=0)
    y = g.infer(None, method="icm").assignment
    y_hat = g.most_offending(None, y)
    assert not bool((y_hat == y).all(1).any())


def test_patch_factor_rejects_wrong_table_shape():
    with pytest.raises(ValueError, match="patch table"):
        Patch([[0, 1, 2, 3]], 2, torch.zeros(2, 2))
