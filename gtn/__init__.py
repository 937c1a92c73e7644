"""gtn: differentiable weighted finite-state graphs on numba.

Sign convention (used everywhere in ebgtn): **weights are energies, lower is better.**
A path's energy is the start weight of its first node, plus its arc weights, plus the final
weight of its last node. Min-sum (tropical) gives the minimum energy; log-sum-exp with inverse
temperature beta gives the free energy F = -(1/beta) log sum_paths exp(-beta E(path)).
A weight of +inf means "absent": a node whose start weight is +inf is not a start state.
"""

import os

# First, before torch loads its OpenMP runtime (which reads this once): idle OpenMP threads
# sleep instead of spinning, so torch's and numba's pools can take turns on the same cores
# (see gtn._internal.threads). A value the user set is kept.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# cache_dir before the others: it chooses numba's cache folder before any kernel is defined.
from ._internal import cache_dir as _cache_dir  # noqa: E402, F401 (for its effect)

# isort: split
from . import dense_lattice, drawing, io, nx, utils  # noqa: E402, F401
from ._internal.deprecation import deprecated_aliases
from ._internal.format_error import FormatError
from ._internal.topo import is_acyclic
from .builder import GraphBuilder
from .composition import compose, intersect
from .constructors import complement, complement_set, emission_graph, linear
from .dense_lattice import (
    asg_loss,
    crf_decode,
    crf_nll,
    ctc_graphs,
    ctc_greedy_decode,
    ctc_loss,
    ctc_topology,
    ctc_transducer,
    hmm_graphs,
    hmm_topology,
    intersect_dense,
    mmi_loss,
)
from .determinization import determinize
from .drawing import GraphvizError, GraphvizNotFoundError, draw, to_dot, to_svg
from .epsilon import remove_epsilon
from .graph import EPSILON, Arc, Graph, GraphError, GtnError
from .io import load, parse_att, read_att, save, write_att
from .rational import closure, concat, union
from .sampling import sample
from .scoring import arc_posteriors, best_path, best_path_arcs, free_energy, min_energy
from .semiring import LOG, TROPICAL, Semiring, log_semiring
from .shortest_paths import nbest
from .symbols import SymbolTable
from .transform import arc_sort, connect, invert, project, top_sort

del os

__all__ = [
    "Arc",
    "EPSILON",
    "FormatError",
    "Graph",
    "GraphBuilder",
    "GraphError",
    "GraphvizError",
    "GraphvizNotFoundError",
    "GtnError",
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
    "ctc_graphs",
    "ctc_greedy_decode",
    "ctc_loss",
    "ctc_topology",
    "ctc_transducer",
    "dense_lattice",
    "determinize",
    "draw",
    "drawing",
    "emission_graph",
    "free_energy",
    "hmm_graphs",
    "hmm_topology",
    "intersect",
    "intersect_dense",
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
    "parse_att",
    "project",
    "read_att",
    "remove_epsilon",
    "sample",
    "save",
    "to_dot",
    "to_svg",
    "top_sort",
    "union",
    "utils",
    "write_att",
]


# Names renamed in this release keep working until the next one: each use warns with the new name.
__getattr__ = deprecated_aliases(
    "gtn",
    {
        "dense": ("gtn.emission_graph", emission_graph),
        "dense_intersect": ("gtn.intersect_dense", intersect_dense),
    },
)


def __dir__() -> list[str]:
    """The public names: the private modules a package import leaves behind are not API."""
    return sorted(__all__)
