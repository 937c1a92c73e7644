"""Discrete variables: a name and a finite label set {0, ..., num_labels - 1}."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Variable:
    """A discrete variable taking labels 0..num_labels-1.

    >>> Variable("pixel", 5).num_labels
    5
    """

    name: str
    num_labels: int

    def __post_init__(self) -> None:
        if int(self.num_labels) < 1:
            raise ValueError(
                f"variable {self.name!r} needs at least one label, got {self.num_labels}"
            )


def make_variables(
    variables: int | Sequence[Variable], num_labels: int | None = None
) -> list[Variable]:
    """``n`` (with ``num_labels``) gives variables "y0".."y{n-1}"; a list of Variables is kept."""
    if isinstance(variables, int):
        if num_labels is None:
            raise ValueError("num_labels is required when variables is a count")
        return [Variable(f"y{i}", int(num_labels)) for i in range(variables)]
    out = list(variables)
    for i, v in enumerate(out):
        if not isinstance(v, Variable):
            raise TypeError(f"variables[{i}] is a {type(v).__name__}, not a factors.Variable")
    return out
