"""factors.grid_field against the generic clique-list engine, brute force and gradcheck."""

import itertools

import pytest
import torch

from factors import grid_field
from factors.inference.variational import mean_field as generic_mean_field
from factors.terms import EnergyTerms

OFFSETS = [(0, 1), (1, 0), (1, -1), (0, 3), (2, 2), (1, 2), (0, -1)]  # convolved and shifted


def pairs(h, w, offset):
    """Row-major (i, i + offset) pairs inside an h×w grid, by a plain loop."""
    dr, dc = offset
    out = []
    for r, c in itertools.product(range(h), range(w)):
        if 0 <= r + dr < h and 0 <= c + dc < w:
            out.append((r * w + c, (r + dr) * w + c + dc))
    return torch.tensor(out, dtype=torch.long).reshape(-1, 2)


def problem(h=4, w=5, k=3, batch=2, scale=1.0, seed=0, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    unary = torch.randn(batch, h, w, k, generator=gen, dtype=dtype)
    tables = [scale * torch.randn(k, k, generator=gen, dtype=dtype) for _ in OFFSETS]
    return unary, list(zip(OFFSETS, tables, strict=True))


def clique_terms(unary, pairwise):
    b, h, w, k = unary.shape
    cliques = [(pairs(h, w, o), t[None, None]) for o, t in pairwise if len(pairs(h, w, o))]
    coloring = grid_field.coloring(h, w, [o for o, _ in pairwise])
    return EnergyTerms(unary.reshape(b, h * w, k), cliques, coloring)


def test_shift_moves_pixels_and_fills_with_zeros():
    x = torch.arange(12.0).reshape(1, 3, 4, 1)
    s = grid_field.shift(x, (1, -2))
    assert s[0, 0, 2, 0] == x[0, 1, 0, 0] and s[0, 2, 3, 0] == 0 and s[0, 0, 0, 0] == 0
    assert not grid_field.shift(x, (3, 0)).any()


def test_energy_equals_the_clique_list_energy():
    unary, pw = problem()
    y = torch.randint(0, 3, (2, 4, 5), generator=torch.Generator().manual_seed(1))
    expected = clique_terms(unary, pw).energy(y.reshape(2, -1))
    assert torch.allclose(grid_field.energy(unary, pw, y), expected)


def test_expected_conditional_equals_the_clique_list_engine():
    unary, pw = problem()
    q = torch.softmax(torch.randn(2, 4, 5, 3, dtype=torch.float64), -1)
    expected = clique_terms(unary, pw).expected_conditional(q.reshape(2, 20, 3))
    got = grid_field.expected_conditional(unary, pw, q)
    assert torch.allclose(got.reshape(2, 20, 3), expected)


def test_weakly_coupled_mean_field_reaches_the_fixed_point_of_the_generic_engine():
    unary, pw = problem(scale=0.15)
    q = grid_field.mean_field(unary, pw, sweeps=200, damping=0.5)
    # q solves the mean-field equations ...
    again = torch.softmax(-grid_field.expected_conditional(unary, pw, q), -1)
    assert torch.allclose(q, again, atol=1e-9)
    # ... and, coupling being weak (one fixed point), equals the coordinate-wise engine's.
    ref = generic_mean_field(clique_terms(unary, pw), max_sweeps=500, tol=1e-12).marginals
    assert torch.allclose(q.reshape(2, 20, 3), ref, atol=1e-7)


def test_beliefs_are_exact_without_coupling():
    unary, pw = problem()
    zero = [(o, torch.zeros_like(t)) for o, t in pw]
    q = grid_field.mean_field(unary, zero, sweeps=3, beta=2.0)
    assert torch.allclose(q, torch.softmax(-2.0 * unary, -1))


def test_mean_field_is_differentiable_in_unary_and_tables():
    unary, pw = problem(h=3, w=3, k=2, batch=1)
    unary.requires_grad_(True)
    tables = [t.clone().requires_grad_(True) for _, t in pw]

    def run(u, *ts):
        return grid_field.mean_field(u, list(zip(OFFSETS, ts, strict=True)), sweeps=4)

    assert torch.autograd.gradcheck(run, (unary, *tables))


@pytest.mark.parametrize(
    "offsets", [[(0, 1), (1, 0)], [(0, 1), (1, 0), (1, 1), (1, -1)], [(0, 2), (2, 0), (0, 4)]]
)
def test_coloring_is_proper(offsets):
    h, w = 9, 10
    colour = grid_field.coloring(h, w, offsets)
    for o in offsets:
        p = pairs(h, w, o)
        assert (colour[p[:, 0]] != colour[p[:, 1]]).all()


def test_bad_input_is_named():
    unary, pw = problem()
    with pytest.raises(ValueError, match=r"pairwise term 1 \(offset \(1, 0\)\): table shape"):
        grid_field.mean_field(unary, [pw[0], ((1, 0), torch.zeros(2, 3))])
    with pytest.raises(ValueError, match="nonzero"):
        grid_field.mean_field(unary, [((0, 0), torch.zeros(3, 3))])
    with pytest.raises(ValueError, match=r"\[B, H, W, K\]"):
        grid_field.mean_field(unary[0], pw)
    with pytest.raises(ValueError, match="do not match"):
        grid_field.energy(unary, pw, torch.zeros(2, 4, 4, dtype=torch.long))
