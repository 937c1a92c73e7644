"""Inference engines. Exact min-sum / log-sum-exp on chains and trees; ICM, Gibbs sampling,
mean field, loopy min-sum, graph cut and α-expansion on loopy graphs."""

from .belief_propagation import min_sum
from .conditional_modes import icm
from .gibbs_sampling import gibbs, temperature_schedule
from .graph_cuts import alpha_expansion, graph_cut, min_cut
from .result import InferenceResult
from .variational import mean_field

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
