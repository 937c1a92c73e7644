"""Rescoring: compose a lattice with another graph (a language model, a lexicon constraint),
with a weight, and decode the result again.

The rescored energy of a path is ``lattice_scale`` times its
lattice energy plus ``scale`` times the energy the other graph gives its output sequence.
"""

from __future__ import annotations

import math

import numpy as np
import torch

import gtn
from gtn.utils import renamed_keywords

from .lattice import Lattice
from .result import DecodeResult, path_result


def _scaled(g: gtn.Graph, scale: float) -> gtn.Graph:
    g = g.detach()
    if scale == 1.0:
        return g

    def times(w: torch.Tensor) -> torch.Tensor:  # +inf stays +inf ("absent"), even at scale 0
        return torch.where(torch.isinf(w), w, w * scale)

    return g.with_weights(times(g.weight), times(g.start_weight), times(g.final_weight))


def rescore(
    lattice: Lattice, graph: gtn.Graph, scale: float = 1.0, *, lattice_scale: float = 1.0
) -> Lattice:
    """``compose(lattice_scale * lattice, scale * graph)`` as a new :class:`Lattice`.

    Args:
        lattice: from :func:`decoders.decode` (``lattice=True``) or :meth:`Lattice.from_graph`.
        graph: a transducer (or acceptor) whose input side reads the lattice's output labels;
            the rescored lattice's outputs are its outputs.
        scale, lattice_scale: weights (>= 0) of the two energies.
    """
    if scale < 0 or lattice_scale < 0:
        raise ValueError(f"scales must be >= 0, got {scale} and {lattice_scale}")
    g = gtn.compose(_scaled(lattice.graph, lattice_scale), _scaled(graph, scale))
    return Lattice.from_graph(g)


@renamed_keywords(nbest="num_hypotheses")
def decode_lattice(
    lattice: Lattice, *, num_hypotheses: int = 0, beta: float = 1.0, confidence: bool = True
) -> DecodeResult:
    """The best path of a lattice (exact, it is acyclic), with confidence and hypotheses
    (``num_hypotheses``) as in :func:`decoders.decode`. ``path_arcs`` are the lattice's arc
    ids; ``lattice`` is kept."""
    g = lattice.graph.detach()
    energy = float(gtn.min_energy(g)) if g.num_nodes else math.inf
    arcs = gtn.best_path_arcs(g) if energy != math.inf else np.zeros(0, np.int64)
    return path_result(
        g, arcs, lattice.times[g.src[arcs]], energy, lattice, True, np.zeros(0, np.int64),
        num_hypotheses, beta, confidence,
    )  # fmt: skip
