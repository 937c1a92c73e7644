"""The loss catalogue: formulas, batching, and the limits the theory predicts."""

import math

import pytest
import torch

from factors import StructuredLoss, chain, losses
from tests.factors import reference
from tests.factors.test_exact import Emissions

EC = torch.tensor([1.0, 3.0, 0.5])
EI = torch.tensor([2.0, 2.5, 4.0])


@pytest.mark.parametrize(
    "fn, kwargs, expected",
    [
        (losses.hinge_loss, {"margin": 1.0}, [0.0, 1.5, 0.0]),
        (
            losses.log_loss,
            {},
            [math.log1p(math.exp(-1)), math.log1p(math.exp(0.5)), math.log1p(math.exp(-3.5))],
        ),
        (losses.lvq2_loss, {"delta": 0.5}, [0.0, 0.4, 0.0]),
        (
            losses.mce_loss,
            {},
            [1 / (1 + math.e), 1 / (1 + math.exp(-0.5)), 1 / (1 + math.exp(3.5))],
        ),
        (losses.square_square_loss, {"margin": 3.0}, [1.0 + 1.0, 9.0 + 0.25, 0.25]),
        (
            losses.square_exponential_loss,
            {"gamma": 2.0},
            [1 + 2 * math.exp(-2), 9 + 2 * math.exp(-2.5), 0.25 + 2 * math.exp(-4)],
        ),
    ],
)
def test_contrastive_losses_follow_their_formulas(fn, kwargs, expected):
    torch.testing.assert_close(fn(EC, EI, **kwargs), torch.tensor(expected))


def test_energy_perceptron_nll_and_mee_formulas():
    f = torch.tensor([0.0, 2.0, -1.0])
    torch.testing.assert_close(losses.energy_loss(EC), EC)
    torch.testing.assert_close(losses.perceptron_loss(EC, f), EC - f)
    torch.testing.assert_close(losses.nll_loss(EC, f), EC - f)
    torch.testing.assert_close(losses.mee_loss(EC, f, 2.0), 1 - torch.exp(-2.0 * (EC - f)))


def test_losses_are_differentiable_in_both_energies():
    ec, ei = EC.clone().requires_grad_(), EI.clone().requires_grad_()
    losses.hinge_loss(ec, ei, 1.0).sum().backward()
    assert ec.grad.tolist() == [0.0, 1.0, 0.0] and ei.grad.tolist() == [0.0, -1.0, 0.0]


def _chain(seed=0):
    gen = torch.Generator().manual_seed(seed)
    g = chain(
        5,
        3,
        unary=Emissions(torch.randn(2, 5, 3, generator=gen, dtype=torch.float64)),
        pairwise="full",
    ).double()
    with torch.no_grad():
        g.factors[1].weight.normal_(generator=gen)
    return g


def test_nll_tends_to_the_perceptron_loss_as_beta_grows():
    g = _chain()
    y = torch.randint(0, 3, (2, 5), generator=torch.Generator().manual_seed(1))
    perceptron = StructuredLoss("perceptron")(g, None, y)
    gaps = [
        abs(float(StructuredLoss("nll", beta=b)(g, None, y) - perceptron))
        for b in (1.0, 10.0, 100.0)
    ]
    assert gaps[0] > gaps[1] > gaps[2] and gaps[2] < 0.02


def test_mee_is_one_minus_the_probability_of_the_answer():
    g = _chain(2)
    ys, energies = reference.all_energies(g, None, 2)
    y = ys[torch.tensor([3, 100])]
    p = torch.softmax(-0.5 * energies, 1)[torch.arange(2), torch.tensor([3, 100])]
    torch.testing.assert_close(StructuredLoss("mee", beta=0.5).per_example(g, None, y), 1 - p)


def test_cost_augmented_hinge_is_the_max_margin_markov_loss():
    g = _chain(3)
    ys, energies = reference.all_energies(g, None, 2)
    y = ys[torch.tensor([10, 200])]
    hamming = (ys[None] != y[:, None]).sum(-1)
    ec = g.energy(None, y)
    expected = (
        (hamming + ec[:, None] - energies).clamp_min(0).max(1).values
    )  # max over y' (y' = y gives 0)
    got = StructuredLoss("hinge", margin=0.0, cost="hamming").per_example(g, None, y)
    torch.testing.assert_close(got, expected)


def test_unknown_loss_is_named():
    with pytest.raises(ValueError, match="unknown loss 'hing'"):
        StructuredLoss("hing")


def test_pseudo_likelihood_is_the_sum_of_brute_force_conditional_log_likelihoods():
    g = _chain(3)
    ys, energies = reference.all_energies(g, None, 2)
    y = ys[torch.tensor([10, 200])]
    beta = 0.7
    index = {tuple(a.tolist()): j for j, a in enumerate(ys)}
    expected = torch.zeros(2, dtype=energies.dtype)
    for b in range(2):
        for i in range(y.shape[1]):
            # Every labelling that differs from y at most in variable i, from the full energies.
            rows = []
            for k in range(g.num_labels):
                z = y[b].clone()
                z[i] = k
                rows.append(energies[b, index[tuple(z.tolist())]])
            e = torch.stack(rows)
            expected[b] -= torch.log_softmax(-beta * e, 0)[y[b, i]] / beta
    got = StructuredLoss("pseudo_likelihood", beta=beta).per_example(g, None, y)
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize(
    "name, method", [("pseudo_likelihood", "terms"), ("marginal", "marginals")]
)
def test_a_loss_names_the_method_the_model_lacks(name, method):
    class Opaque:
        def energy(self, x, y):
            return torch.zeros(len(y))

    with pytest.raises(TypeError, match=f"{name} needs a model with {method}"):
        StructuredLoss(name)(Opaque(), None, torch.zeros(2, 3, dtype=torch.long))


def test_marginal_loss_is_the_sum_of_brute_force_marginal_log_likelihoods():
    g = _chain(4)
    ys, energies = reference.all_energies(g, None, 2)
    y = ys[torch.tensor([7, 150])]
    q = reference.marginals(ys, energies, 1.0, g.num_labels)  # [B, n, K]
    expected = -q.gather(-1, y[..., None]).squeeze(-1).log().sum(-1)
    got = StructuredLoss("marginal").per_example(g, None, y)
    torch.testing.assert_close(got, expected)


def test_per_variable_divides_each_example_by_its_number_of_variables():
    g = _chain(5)
    y = reference.all_assignments(5, 3)[torch.tensor([3, 99])]
    whole = StructuredLoss("nll").per_example(g, None, y)
    per_variable = StructuredLoss("nll", per_variable=True)
    torch.testing.assert_close(per_variable.per_example(g, None, y), whole / 5)
    torch.testing.assert_close(per_variable(g, None, y), (whole / 5).mean())


def test_inference_options_reach_infer_and_most_offending():
    class Recording:
        def __init__(self):
            self.calls = []

        def energy(self, x, y):
            return y.sum(-1).float()

        def infer(self, x, **options):
            self.calls.append(("infer", options))
            return torch.zeros(2, 3, dtype=torch.long)

        def most_offending(self, x, y, cost=None, **options):
            self.calls.append(("most_offending", options))
            return 1 - y

    model, y = Recording(), torch.ones(2, 3, dtype=torch.long)
    options = {"method": "icm", "max_sweeps": 2}
    StructuredLoss("perceptron", inference=options)(model, None, y)
    StructuredLoss("hinge", inference=options)(model, None, y)
    assert model.calls == [("infer", options), ("most_offending", options)]


def test_prepare_runs_once_and_the_other_methods_receive_its_result():
    class Prepared:
        prepared = 0

        def prepare(self, x, y):
            self.prepared += 1
            return ("prepared", x)

        def energy(self, x, y):
            assert x == ("prepared", "input")
            return y.sum(-1).float()

        def infer(self, x):
            assert x == ("prepared", "input")
            return torch.zeros(2, 3, dtype=torch.long)

    model = Prepared()
    StructuredLoss("perceptron")(model, "input", torch.ones(2, 3, dtype=torch.long))
    assert model.prepared == 1
