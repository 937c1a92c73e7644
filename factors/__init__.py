"""factors: energy-based factor graphs with deep factors, inference, losses and training.

Sign convention (as in gtn): **energies, lower is better.** A factor graph's energy is the sum
of its factors' energies, E(x, y) = Σ_f E_f(x, y_f); inference looks for argmin_y E; the Gibbs
distribution is P(y | x) ∝ exp(-β E(x, y)) and the free energy is -(1/β) log Σ_y exp(-β E).
"""

import gtn  # noqa: F401 (first: it sets the OpenMP wait policy before torch loads)

from .builders import chain, grid, grid_scopes
from .factor import Factor, Pairwise, Patch, Potts, Unary, UnaryTable
from .graph import FactorGraph, hamming_cost
from .inference import InferenceResult
from .losses import (
    energy_loss,
    hinge_loss,
    log_loss,
    lvq2_loss,
    marginal_loss,
    mce_loss,
    mee_loss,
    nll_loss,
    perceptron_loss,
    pseudo_likelihood_loss,
    square_exponential_loss,
    square_square_loss,
)
from .model import EnergyModel, StructuredLoss
from .terms import EnergyTerms
from .trainer import Trainer, TrainingOptions
from .variables import Variable

__all__ = [
    "EnergyModel",
    "EnergyTerms",
    "Factor",
    "FactorGraph",
    "InferenceResult",
    "Pairwise",
    "Patch",
    "Potts",
    "StructuredLoss",
    "Trainer",
    "TrainingOptions",
    "Unary",
    "UnaryTable",
    "Variable",
    "chain",
    "energy_loss",
    "grid",
    "grid_scopes",
    "hamming_cost",
    "hinge_loss",
    "log_loss",
    "lvq2_loss",
    "marginal_loss",
    "mce_loss",
    "mee_loss",
    "nll_loss",
    "perceptron_loss",
    "pseudo_likelihood_loss",
    "square_exponential_loss",
    "square_square_loss",
]
