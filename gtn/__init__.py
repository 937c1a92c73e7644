"""gtn: differentiable weighted finite-state graphs on numba.

Weights are energies: lower is better. See ``gtn.graph`` for the convention.
"""

from .builder import GraphBuilder
from .graph import EPSILON, Arc, Graph, GraphError
from .semiring import LOG, TROPICAL, Semiring, log_semiring
from .symbols import SymbolTable

__all__ = [
    "EPSILON",
    "LOG",
    "TROPICAL",
    "Arc",
    "Graph",
    "GraphBuilder",
    "GraphError",
    "Semiring",
    "SymbolTable",
    "log_semiring",
]
