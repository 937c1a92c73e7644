"""The loss catalogue: functions of energies, batched and differentiable.

Notation (LeCun et al. 2006, "A tutorial on energy-based learning"):
  E_C  energy of the correct answer                 [B]
  E_I  energy of the most offending incorrect answer [B] (cost-augmented when a cost is used)
  E_min  min_Y E, the energy of the best answer        [B]
  F    free energy -(1/β) log Σ_Y exp(-β E_Y)           [B]
  E_i(k)  conditional energies: E with y_i = k, the other variables at the truth  [B, n, K]
  q_i(k)  marginals: P(y_i = k | x), exact or from approximate inference (mean field)  [B, n, K]

Each function returns per-example losses [B]; average them for a batch. Good losses pull E_C
down and push E_I (or F) up; the energy loss only pulls down, and collapses on flexible models.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def energy_loss(e_correct: torch.Tensor) -> torch.Tensor:
    """E_C. Collapses (a flat energy surface) on architectures that can lower every energy."""
    return e_correct


def perceptron_loss(e_correct: torch.Tensor, e_min: torch.Tensor) -> torch.Tensor:
    """E_C - min_Y E (Collins's structured perceptron); >= 0, zero when y is a best answer."""
    return e_correct - e_min


def hinge_loss(
    e_correct: torch.Tensor, e_incorrect: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """max(0, m + E_C - E_I) (max-margin Markov networks with a cost-augmented E_I)."""
    return F.relu(margin + e_correct - e_incorrect)


def log_loss(e_correct: torch.Tensor, e_incorrect: torch.Tensor) -> torch.Tensor:
    """log(1 + exp(E_C - E_I)): a soft hinge with an infinite margin."""
    return F.softplus(e_correct - e_incorrect)


def lvq2_loss(
    e_correct: torch.Tensor, e_incorrect: torch.Tensor, delta: float = 1.0
) -> torch.Tensor:
    """min(1, max(0, (E_C - E_I) / (δ E_I))) (Kohonen's LVQ2; energies assumed positive)."""
    return torch.clamp((e_correct - e_incorrect) / (delta * e_incorrect), 0.0, 1.0)


def mce_loss(e_correct: torch.Tensor, e_incorrect: torch.Tensor) -> torch.Tensor:
    """σ(E_C - E_I): minimum classification error, a smoothed count of errors."""
    return torch.sigmoid(e_correct - e_incorrect)


def square_square_loss(
    e_correct: torch.Tensor, e_incorrect: torch.Tensor, margin: float = 1.0
) -> torch.Tensor:
    """E_C² + max(0, m - E_I)²: pulls E_C to 0, pushes E_I above m (energies >= 0)."""
    return e_correct.square() + F.relu(margin - e_incorrect).square()


def square_exponential_loss(
    e_correct: torch.Tensor, e_incorrect: torch.Tensor, gamma: float = 1.0
) -> torch.Tensor:
    """E_C² + γ exp(-E_I)."""
    return e_correct.square() + gamma * torch.exp(-e_incorrect)


def nll_loss(e_correct: torch.Tensor, free_energy: torch.Tensor) -> torch.Tensor:
    """E_C - F = -(1/β) log P(y | x) (CRF likelihood, MMI); → perceptron loss as β → ∞."""
    return e_correct - free_energy


def mee_loss(e_correct: torch.Tensor, free_energy: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """1 - exp(-β E_C) / Σ_Y exp(-β E_Y) = 1 - P(y | x): minimum empirical error."""
    return 1.0 - torch.exp(-beta * (e_correct - free_energy))


def pseudo_likelihood_loss(
    conditional: torch.Tensor, y: torch.Tensor, beta: float = 1.0
) -> torch.Tensor:
    """Σ_i -(1/β) log P(y_i | y_-i) with P(y_i = k | y_-i) ∝ exp(-β E_i(k)) (Besag 1975).

    conditional: E_i(k) [B, n, K] (e.g. ``EnergyTerms.conditional(y)``); y [B, n]. Needs no
    inference, only each variable's energies with its neighbours at the truth — which is also
    its weakness: it trusts true neighbours that inference will not have."""
    lse = torch.logsumexp(-beta * conditional, -1) / beta  # -F_i
    return (conditional.gather(-1, y[..., None]).squeeze(-1) + lse).sum(-1)


def marginal_loss(marginals: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Σ_i -log q_i(y_i): the negative log-likelihood of the truth under the marginals.

    marginals: q [B, n, K] (rows sum to 1), y [B, n]. With approximate marginals (mean-field
    beliefs after a fixed number of sweeps, differentiable) it trains the model together with
    the truncated inference that computes them (Domke 2013) and needs no argmin. q is floored
    at 1e-12 so that a label the beliefs rule out costs a finite amount."""
    return -marginals.gather(-1, y[..., None]).squeeze(-1).clamp_min(1e-12).log().sum(-1)


CATALOGUE = {
    "energy": (energy_loss, ("e_correct",)),
    "perceptron": (perceptron_loss, ("e_correct", "e_min")),
    "hinge": (hinge_loss, ("e_correct", "e_incorrect", "margin")),
    "log": (log_loss, ("e_correct", "e_incorrect")),
    "lvq2": (lvq2_loss, ("e_correct", "e_incorrect", "delta")),
    "mce": (mce_loss, ("e_correct", "e_incorrect")),
    "square_square": (square_square_loss, ("e_correct", "e_incorrect", "margin")),
    "square_exponential": (square_exponential_loss, ("e_correct", "e_incorrect", "gamma")),
    "nll": (nll_loss, ("e_correct", "free_energy")),
    "mee": (mee_loss, ("e_correct", "free_energy", "beta")),
    "pseudo_likelihood": (pseudo_likelihood_loss, ("conditional", "y", "beta")),
    "marginal": (marginal_loss, ("marginals", "y")),
}
"""Each loss by name: (its function, the names of its arguments in order). The names are what
the model supplies (``e_correct``, ``e_incorrect``, ``e_min``, ``free_energy``, ``conditional``,
``marginals``), the answers ``y`` [B, n], or a constant of :class:`~factors.StructuredLoss`
(``margin``, ``beta``, ``gamma``, ``delta``)."""
