"""gtn: differentiable weighted finite-state graphs on numba.

Weights are energies: lower is better. See ``gtn.graph`` for the convention.
"""

from . import io, nx
from ._format_error import FormatError
from ._topo import is_acyclic
from .builder import GraphBuilder
from .constructors import complement, dense, linear
from .determinize import determinize
from .draw import draw, to_dot
from .epsilon import remove_epsilon
from .graph import EPSILON, Arc, Graph, GraphError
from .io import load, read_att, save, write_att
from .rational import closure, concat, union
from .semiring import LOG, TROPICAL, Semiring, log_semiring
from .symbols import SymbolTable
from .transform import arc_sort, connect, invert, project, top_sort

__all__ = [
    "Arc",
    "EPSILON",
    "FormatError",
    "Graph",
    "GraphBuilder",
    "GraphError",
    "LOG",
    "Semiring",
    "SymbolTable",
    "TROPICAL",
    "arc_sort",
    "closure",
    "complement",
    "concat",
    "connect",
    "dense",
    "determinize",
    "draw",
    "invert",
    "io",
    "is_acyclic",
    "linear",
    "load",
    "log_semiring",
    "nx",
    "project",
    "read_att",
    "remove_epsilon",
    "save",
    "to_dot",
    "top_sort",
    "union",
    "write_att",
]
