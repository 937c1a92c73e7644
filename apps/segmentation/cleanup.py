"""The local-consistency model: association energies plus learned interaction energies.

For a label map y on an H×W grid and association energies U [B, H, W, K] from the labeller,

    E(y) = Σ_i (a · U[i, y_i] + b[y_i]) + Σ_d Σ_{(i, i+d)} V_d[y_i, y_{i+d}] (+ Σ_{2×2 p} P[y_p]).

``a`` (a weight on the association energies) and ``b`` (a per-label bias) are
optionally learned; each offset d has its own learned K×K table V_d (zero diagonal, not
symmetric, not Potts: "a membrane pixel lies above a nucleus pixel" is a different energy from
the reverse). The offsets are the 4 or 8 neighbourhood directions repeated at each distance in
``ranges``: with ranges (1, 2, 4, 8, 16) a pixel also agrees or disagrees with pixels up to
16 steps away, which lets a pairwise model fill in regions that the labeller's 13-pixel
receptive field cannot see whole. ``patch=True`` adds a learned K^4 table of 2×2 patch energies
(the "conditional product of experts"). The model is a ``factors``
:class:`~factors.FactorGraph` per image size, whose factors read this module's parameters.

Inference methods (``METHODS``): ``icm``, ``gibbs`` (annealed), ``mean_field`` (the grid engine
of :mod:`factors.grid_field`, the computation the marginal loss trains through) and
``alpha_expansion``, on the :func:`metric_projection` of the tables (learned tables are not
metric; its answer is scored under the true energy, and patch energies are refused).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

import factors
from factors import grid_field
from factors.factor import Factor
from factors.inference import alpha_expansion, gibbs, icm, mean_field
from factors.terms import EnergyTerms

METHODS = ("icm", "gibbs", "mean_field", "alpha_expansion")
DIRECTIONS = {"horizontal": (0, 1), "vertical": (1, 0), "diagonal": (1, 1), "antidiagonal": (1, -1)}
MEAN_FIELD_SWEEPS = 20
MEAN_FIELD_DAMPING = 0.5
# The factors engine of each method and its defaults here (mean field runs on the grid engine
# unless there are patch energies; then on the generic coordinate-wise one).
_ENGINES = dict(zip(METHODS, (icm, gibbs, mean_field, alpha_expansion), strict=True))
_DEFAULTS = {"gibbs": {"sweeps": 60, "temperature": (1.0, 0.02)}, "mean_field": {"max_sweeps": 25}}


def check_method(method: str) -> str:
    """``method`` if it is one of ``METHODS``; ValueError naming the choices otherwise."""
    if method not in METHODS:
        raise ValueError(f"unknown inference method {method!r}; choose from {', '.join(METHODS)}")
    return method


def offsets(neighbourhood: int, ranges: tuple[int, ...]) -> dict[str, tuple[int, int]]:
    """Table name -> offset: each direction of the neighbourhood at each distance in ranges
    ("horizontal" at distance 1, "horizontal_4" at distance 4)."""
    names = list(DIRECTIONS)[: 2 if neighbourhood == 4 else 4]
    return {
        (n if r == 1 else f"{n}_{r}"): (DIRECTIONS[n][0] * r, DIRECTIONS[n][1] * r)
        for r in ranges
        for n in names
    }


def neighbour_scopes(h: int, w: int, step: tuple[int, int]) -> torch.Tensor:
    """Row-major variable pairs (i, i + step) of an h×w grid: [M, 2] (first = upper / left)."""
    dr, dc = step
    idx = torch.arange(h * w).reshape(h, w)
    c0, c1 = max(0, -dc), w - max(0, dc)
    first = idx[: h - dr, c0:c1]
    second = idx[dr:, c0 + dc : c1 + dc]
    return torch.stack([first.flatten(), second.flatten()], 1)


def metric_projection(table: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split a pairwise table V [K, K] into a unary part u [K] and a metric M [K, K] with
    V(a, b) ≈ u(a) + u(b) + M(a, b); exact when V is symmetric with V - diag a metric.

    u = diag(V) / 2; M is the symmetric part minus the mean of the two diagonal entries,
    clipped at 0, zero on the diagonal, then replaced by its shortest-path closure (so the
    triangle inequality holds and α-expansion moves are submodular).
    """
    v = table.detach().double()
    diag = v.diagonal()
    m = ((v + v.T) / 2 - (diag[:, None] + diag[None, :]) / 2).clamp_min(0.0)
    m.fill_diagonal_(0.0)
    for k in range(len(m)):
        m = torch.minimum(m, m[:, k : k + 1] + m[k : k + 1, :])
    return diag / 2, m


class TiedTable(Factor):
    """A factor whose one table (tied over all its cliques) is read from ``source()``, so that
    graphs for different image sizes share the same parameters."""

    def __init__(self, scopes: torch.Tensor, num_labels: int, source: Callable[[], torch.Tensor]):
        super().__init__(scopes, num_labels)
        self._source = source

    def forward(self, x) -> torch.Tensor:
        return self._source()[None, None]


class CleanupModel(nn.Module):
    """Learned interaction energies over a labeller's association energies (see module doc).

    Methods take association energies ``U`` [B, H, W, K] and label maps ``y`` [B, H, W];
    assignments come back as [B, H, W]. Energies: lower is better.

    Args:
        num_labels: K.
        neighbourhood: 4 or 8.
        patch: add learned 2×2 patch energies.
        learn_unary_weight: learn ``a`` and ``b`` too (default: a = 1, b = 0, the labeller's
            energies are log-probabilities; which losses learn them stably:
            docs/results/segmentation.md).
        ranges: distances at which the neighbourhood's directions are coupled (default (1,)).
    """

    def __init__(
        self,
        num_labels: int,
        neighbourhood: int = 8,
        patch: bool = False,
        learn_unary_weight: bool = False,
        ranges: tuple[int, ...] = (1,),
    ):
        super().__init__()
        if neighbourhood not in (4, 8):
            raise ValueError(f"neighbourhood must be 4 or 8, got {neighbourhood}")
        ranges = tuple(int(r) for r in ranges)
        if not ranges or min(ranges) < 1 or len(set(ranges)) != len(ranges):
            raise ValueError(f"ranges must be distinct positive distances, got {ranges}")
        self.num_labels, self.neighbourhood, self.patch = int(num_labels), neighbourhood, patch
        self.ranges = ranges
        k = self.num_labels
        self.offsets = offsets(neighbourhood, ranges)
        self.tables = nn.ParameterDict({d: nn.Parameter(torch.zeros(k, k)) for d in self.offsets})
        self.register_buffer("off_diagonal", 1.0 - torch.eye(k), persistent=False)
        self.learn_unary_weight = bool(learn_unary_weight)
        self.unary_weight = nn.Parameter(torch.tensor(1.0), requires_grad=learn_unary_weight)
        self.unary_bias = nn.Parameter(torch.zeros(k), requires_grad=learn_unary_weight)
        self.patch_table = nn.Parameter(torch.zeros((k,) * 4)) if patch else None
        self._graphs: dict[tuple[int, int], factors.FactorGraph] = {}

    def config(self) -> dict:
        return {
            "num_labels": self.num_labels,
            "neighbourhood": self.neighbourhood,
            "patch": self.patch,
            "learn_unary_weight": self.learn_unary_weight,
            "ranges": list(self.ranges),
        }

    def table(self, name: str) -> torch.Tensor:
        """The pairwise table V_d [K, K] of direction ``name``: zero on the diagonal (equal
        neighbours cost nothing), learned everywhere else."""
        return self.tables[name] * self.off_diagonal

    def association(self, u: torch.Tensor) -> torch.Tensor:
        """a · U + b: [B, H, W, K] (or any [..., K])."""
        return self.unary_weight * u + self.unary_bias

    def _unary(self, u: torch.Tensor) -> torch.Tensor:
        return self.association(u).reshape(u.shape[0], -1, self.num_labels)

    def pairwise(self) -> list[tuple[tuple[int, int], torch.Tensor]]:
        """(offset, V_d) of every table, for :mod:`factors.grid_field`."""
        return [(self.offsets[name], self.table(name)) for name in self.tables]

    def marginals(
        self, u: torch.Tensor, sweeps: int = MEAN_FIELD_SWEEPS, damping: float = MEAN_FIELD_DAMPING
    ) -> torch.Tensor:
        """Mean-field beliefs q [B, H, W, K] after ``sweeps`` parallel sweeps (differentiable
        wrt the parameters and U; patch energies are not included: see ``infer``)."""
        return grid_field.mean_field(self.association(u), self.pairwise(), sweeps, damping)

    def graph(self, h: int, w: int) -> factors.FactorGraph:
        """The factor graph of an h×w image (built once per size)."""
        if (h, w) not in self._graphs:
            k = self.num_labels
            g = factors.FactorGraph(h * w, k, shape=(h, w))
            g.add(factors.Unary(self._unary, range(h * w), k))
            for name in self.tables:
                scopes = neighbour_scopes(h, w, self.offsets[name])
                if len(scopes):
                    g.add(TiedTable(scopes, k, lambda name=name: self.table(name)))
            if self.patch_table is not None and h > 1 and w > 1:
                g.add(TiedTable(factors.grid_scopes(h, w)[2], k, lambda: self.patch_table))
            steps = list(self.offsets.values())
            if self.patch_table is not None:
                steps.append((1, 1))
            g.coloring = grid_field.coloring(h, w, steps)
            self._graphs[(h, w)] = g
        return self._graphs[(h, w)]

    def terms(self, u: torch.Tensor) -> EnergyTerms:
        """The energy of every label map of these images, as ``factors`` EnergyTerms."""
        return self.graph(u.shape[1], u.shape[2]).terms(u)

    def energy(self, u: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """E(y) [B] for label maps y [B, H, W]; differentiable wrt the parameters and U."""
        if self.patch_table is not None:
            return self.terms(u).energy(y.reshape(len(y), -1))
        return grid_field.energy(self.association(u), self.pairwise(), y)

    @torch.no_grad()
    def infer(self, u: torch.Tensor, method: str = "icm", **options) -> factors.InferenceResult:
        """Lowest-energy label maps by ``method`` (see ``METHODS``), starting from the
        labeller's own answer argmin U. ``assignment`` is [B, H, W]; ``energy`` [B] is the
        true (learned) energy. Options go to the engine: ``sweeps`` and ``damping`` for
        mean field (:meth:`marginals`), the ``factors`` engine's options otherwise."""
        check_method(method)
        b, h, w, _ = u.shape
        if method == "mean_field" and self.patch_table is None:
            q = self.marginals(u, **options)
            y = q.argmax(-1)
            done = torch.ones(b, dtype=torch.bool)
            sweeps = options.get("sweeps", MEAN_FIELD_SWEEPS)
            result = factors.InferenceResult(y, self.energy(u, y), done, sweeps, "mean_field")
            result.marginals = q.reshape(b, h * w, -1)
            return result
        terms = self.terms(u).detach()
        search = self._metric_terms(terms, h, w) if method == "alpha_expansion" else terms
        init = u.reshape(b, -1, self.num_labels).argmin(-1)
        result = _ENGINES[method](search, init=init, **{**_DEFAULTS.get(method, {}), **options})
        result.energy = terms.energy(result.assignment)
        result.assignment = result.assignment.reshape(b, h, w)
        return result

    def _metric_terms(self, terms: EnergyTerms, h: int, w: int) -> EnergyTerms:
        if self.patch_table is not None:
            raise ValueError(
                "alpha_expansion does not apply to 2×2 patch energies (not pairwise); "
                "use icm, gibbs or mean_field"
            )
        unary = terms.unary.double().clone()
        cliques = []
        for name in self.tables:
            scopes = neighbour_scopes(h, w, self.offsets[name])
            half, metric = metric_projection(self.table(name))
            for p in range(2):
                unary.index_add_(
                    1, scopes[:, p], half[None, None].expand(len(unary), len(scopes), -1)
                )
            cliques.append((scopes, metric[None, None]))
        return EnergyTerms(unary, cliques, terms.coloring)
