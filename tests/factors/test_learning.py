"""Learning behaviours the theory predicts: the energy loss collapses on a flexible architecture,
contrastive losses do not; transitions learned by structured losses beat a unary-only model."""

import pytest
import torch
from torch import nn

from factors import StructuredLoss, chain
from factors.model import EnergyModel


class ImplicitRegression(nn.Module):
    """E(x, y) = |G1(x) - G2(y)|_1 with two networks: the tutorial's architecture that the
    energy loss collapses (both towers become constant). Answers y live on a grid of
    candidates; the most offending answer is the lowest-energy candidate at least ``gap`` away."""

    def __init__(self, candidates: torch.Tensor, gap: float = 0.15):
        super().__init__()
        self.g1 = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 4))
        self.g2 = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 4))
        self.candidates, self.gap = candidates, gap

    def energy(self, x, y):
        return (self.g1(x[:, None]) - self.g2(y[:, None])).abs().sum(-1)

    def _all(self, x):  # [B, C]
        return (
            (self.g1(x[:, None])[:, None] - self.g2(self.candidates[:, None])[None]).abs().sum(-1)
        )

    def free_energy(self, x, beta=1.0):
        return -torch.logsumexp(-beta * self._all(x), 1) / beta

    def infer(self, x):
        return self.candidates[self._all(x).argmin(1)]

    def most_offending(self, x, y, cost=None):
        e = self._all(x).masked_fill(
            (self.candidates[None] - y[:, None]).abs() < self.gap, float("inf")
        )
        return self.candidates[e.argmin(1)]


def train_square(loss: StructuredLoss, steps=200, seed=0):
    """Train on y = x² and return (spread of E over answers, mean |ŷ - x²|, mean E, margin)
    where margin is the mean E_I - E_C (most offending minus correct)."""
    torch.manual_seed(seed)
    model = ImplicitRegression(torch.linspace(0, 1, 41))
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    for _ in range(steps):
        x = torch.rand(64)
        opt.zero_grad()
        loss(model, x, x.square()).backward()
        opt.step()
    x = torch.linspace(0.05, 0.95, 50)
    with torch.no_grad():
        spread = model._all(x).std(1).mean()  # how much the energy varies with y
        error = (model.infer(x) - x.square()).abs().mean()
        mean = model._all(x).mean()
        y = x.square()
        margin = (model.energy(x, model.most_offending(x, y)) - model.energy(x, y)).mean()
    return float(spread), float(error), float(mean), float(margin)


def test_the_model_meets_the_energy_model_contract():
    assert isinstance(ImplicitRegression(torch.linspace(0, 1, 5)), EnergyModel)


def test_energy_loss_collapses_the_energy_surface():
    spread, _, mean, margin = train_square(StructuredLoss("energy"))
    assert mean < 0.1  # every answer, right or wrong, was pulled down from ~2 to ~0
    assert spread < 0.05
    assert abs(margin) < 0.02  # wrong answers are no worse than the right one


@pytest.mark.parametrize(
    "loss", [StructuredLoss("square_square", margin=1.0), StructuredLoss("hinge", margin=1.0)]
)
def test_contrastive_losses_do_not_collapse(loss):
    spread, error, _, margin = train_square(loss)
    assert spread > 0.3
    assert margin > 0.5  # the most offending wrong answer was pushed up
    assert error < 0.06


# ---------------------------------------------------------------- sequence labelling
K, N, D = 4, 12, 4


def synthetic_chain_task(size, seed):
    """Labels cycle y_{t+1} = y_t + 1 (mod K), restarting at random 2% of the time; only
    half of the frames show their label (noisy one-hot), the rest show noise. A unary-only
    model guesses blind on hidden frames (≈ 0.5 + 0.5/K = 62% accuracy); transitions recover
    them from the neighbours."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.empty(size, N, dtype=torch.long)
    y[:, 0] = torch.randint(0, K, (size,), generator=gen)
    for t in range(1, N):
        restart = torch.rand(size, generator=gen) < 0.02
        y[:, t] = torch.where(
            restart, torch.randint(0, K, (size,), generator=gen), (y[:, t - 1] + 1) % K
        )
    visible = torch.rand(size, N, 1, generator=gen) < 0.5
    x = torch.nn.functional.one_hot(y, K).float() * visible + 0.2 * torch.randn(
        size, N, D, generator=gen
    )
    return x, y


def train_chain(loss: StructuredLoss, pairwise="full", steps=80, seed=0):
    torch.manual_seed(seed)
    net = nn.Linear(D, K)
    model = chain(N, K, unary=lambda x: -net(x), pairwise=pairwise)
    model.add_module("net", net)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    x, y = synthetic_chain_task(steps * 16, seed)
    for i in range(steps):
        opt.zero_grad()
        loss(model, x[i * 16 : (i + 1) * 16], y[i * 16 : (i + 1) * 16]).backward()
        opt.step()
    xt, yt = synthetic_chain_task(400, seed + 1000)
    with torch.no_grad():
        return float((model.infer(xt).assignment == yt).float().mean())


@pytest.mark.parametrize(
    "loss",
    [
        StructuredLoss("hinge", margin=0.0, cost="hamming"),
        StructuredLoss("perceptron"),
        StructuredLoss("nll"),
    ],
    ids=["hinge-M3N", "perceptron-Collins", "nll-CRF"],
)
def test_structured_losses_learn_the_transitions(loss):
    assert train_chain(loss) >= 0.95


def test_a_unary_only_model_cannot_exceed_80_percent():
    assert train_chain(StructuredLoss("nll"), pairwise=None) <= 0.80
