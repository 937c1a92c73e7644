"""decoders: search over large decoding graphs.

Beam search (token passing) over per-frame label energies composed lazily with a decoding
graph, pruned lattices as ``gtn`` graphs, distinct n-best lists, confidences (posteriors of
answers), rescoring by composition, and rejection by confidence.

Sign convention (as in :mod:`gtn`): **energies, lower is better.** Emissions are per-frame label
energies [T, V], -log p (e.g. ``-log_softmax`` of a network's scores), not log-probabilities;
a path's energy is the sum of its arc energies and the emissions it consumes.

>>> import torch, gtn, decoders
>>> g = gtn.Graph.from_arrays(2, [0, 1], [1, 1], [0, 1], [5, gtn.EPSILON], final=[1])
>>> r = decoders.decode(torch.tensor([[0.0, 2.0], [3.0, 1.0]]), g, beam=10.0)
>>> r.output, r.energy, r.alignment.tolist(), 0.0 <= r.confidence <= 1.0
((5,), 1.0, [0, 1], True)
"""

import gtn  # noqa: F401 (first: it sets the OpenMP wait policy before torch loads)

from .beam_search import check_emissions, decode, decode_batch
from .lattice import Lattice, lattice_times
from .outputs import distinct_outputs
from .posteriors import output_posterior
from .rejection import ErrorRejectCurve, error_reject_curve, plot_error_reject, threshold_for_error
from .rescoring import decode_lattice, rescore
from .result import DecodeResult, Hypothesis
from .search_layout import SearchGraph, search_graph

__all__ = [
    "DecodeResult",
    "ErrorRejectCurve",
    "Hypothesis",
    "Lattice",
    "SearchGraph",
    "check_emissions",
    "decode",
    "decode_batch",
    "decode_lattice",
    "distinct_outputs",
    "error_reject_curve",
    "lattice_times",
    "output_posterior",
    "plot_error_reject",
    "rescore",
    "search_graph",
    "threshold_for_error",
]
