"""Inference engines. Exact min-sum / log-sum-exp on chains and trees; ICM, Gibbs sampling,
mean field, loopy min-sum, graph cut and α-expansion on loopy graphs. Energies: lower is better.
"""

from .gibbs import gibbs, temperature_schedule
from .graph_cut import alpha_expansion, graph_cut, min_cut
from .icm import icm
from .mean_field import mean_field
from .min_sum import min_sum
from .result import InferenceResult

__all__ = [
    "InferenceResult",
    "alpha_expansion",
    "gibbs",
    "graph_cut",
    "icm",
    "mean_field",
    "min_cut",
    "min_sum",
    "temperature_schedule",
]
