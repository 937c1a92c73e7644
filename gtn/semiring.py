"""Semirings as explicit objects, so each kernel is written once and told which one to use.

Both act on energies:
- TROPICAL (min, +): the minimum energy, Viterbi.
- LOG (log-sum-exp with inverse temperature beta, +):
  a (+) b = -(1/beta) log(e^(-beta a) + e^(-beta b)),
  the free energy. ``LOG`` has beta = 1; ``log_semiring(beta)`` gives others.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba as nb
import numpy as np


@dataclass(frozen=True)
class Semiring:
    """A semiring over energies: ``plus`` combines alternative paths (min for ``TROPICAL``,
    the free-energy sum for ``LOG``), times is ``+``. Operations that take ``semiring=`` accept
    one, or its name: "tropical" (also "min", "viterbi") or "log" ("logsumexp", "forward")."""

    name: str
    code: int  # 0: tropical, 1: log; passed to numba kernels
    beta: float = 1.0

    def plus(self, a: float, b: float) -> float:
        return float(splus(self.code, self.beta, a, b))

    def __repr__(self) -> str:
        return (
            f"gtn.{self.name.upper()}"
            if self.beta == 1.0
            else f"gtn.log_semiring(beta={self.beta})"
        )


TROPICAL = Semiring("tropical", 0)
"""(min, +): a path set's energy is its best path's (Viterbi)."""
LOG = Semiring("log", 1)
"""(log-sum-exp, +) at beta = 1: a path set's energy is its free energy -log Σ exp(-E)."""


def log_semiring(beta: float) -> Semiring:
    """The log semiring at inverse temperature ``beta`` > 0: a (+) b = -(1/beta)
    log(e^(-beta a) + e^(-beta b)); beta -> inf approaches ``TROPICAL``."""
    if not beta > 0:
        raise ValueError(f"beta must be > 0, got {beta}")
    return Semiring("log", 1, float(beta))


def as_semiring(s) -> Semiring:
    if isinstance(s, Semiring):
        return s
    if s in ("tropical", "min", "viterbi"):
        return TROPICAL
    if s in ("log", "logsumexp", "forward"):
        return LOG
    raise ValueError(f"unknown semiring {s!r}; use gtn.TROPICAL or gtn.LOG")


@nb.njit(cache=True, inline="always")
def splus(code, beta, a, b):
    """Semiring plus of two energies (numba). +inf is the zero element."""
    if code == 0:
        return a if a <= b else b
    lo = a if a <= b else b
    hi = b if a <= b else a
    if hi == np.inf:
        return lo
    return lo - np.log1p(np.exp(-beta * (hi - lo))) / beta
