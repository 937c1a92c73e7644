"""gtn: differentiable weighted finite-state graphs on numba.

Weights are energies: lower is better. See ``gtn.graph`` for the convention.
"""

# _cache_dir first: it chooses numba's cache folder before any kernel is defined.
from . import _cache_dir, dense_lattice, io, nx  # noqa: F401 (_cache_dir: imported for its effect)
from ._format_error import FormatError
from ._topo import is_acyclic
from .builder import GraphBuilder
from .compose import compose, intersect
from .constructors import complement, complement_set, dense, linear
from .dense_lattice import asg_loss, crf_decode, crf_nll, ctc_loss, mmi_loss
from .dense_lattice import intersect as dense_intersect
from .determinize import determinize
from .draw import draw, to_dot
from .epsilon import remove_epsilon
from .graph import EPSILON, Arc, Graph, GraphError
from .io import load, read_att, save, write_att
from .nbest import nbest
from .rational import closure, concat, union
from .sample import sample
from .scoring import arc_posteriors, best_path, best_path_arcs, free_energy, min_energy
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
    "arc_posteriors",
    "arc_sort",
    "asg_loss",
    "best_path",
    "best_path_arcs",
    "closure",
    "complement",
    "complement_set",
    "compose",
    "concat",
    "connect",
    "crf_decode",
    "crf_nll",
    "ctc_loss",
    "dense",
    "dense_intersect",
    "dense_lattice",
    "determinize",
    "draw",
    "free_energy",
    "intersect",
    "invert",
    "io",
    "is_acyclic",
    "linear",
    "load",
    "log_semiring",
    "min_energy",
    "mmi_loss",
    "nbest",
    "nx",
    "project",
    "read_att",
    "remove_epsilon",
    "sample",
    "save",
    "to_dot",
    "top_sort",
    "union",
    "write_att",
]
