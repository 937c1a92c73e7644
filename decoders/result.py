"""What decoding returns: hypotheses (output sequences with energies and posteriors) and the
per-utterance result. An energy of +inf means "no path"."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

import gtn
from gtn.utils import deprecated_attribute

from .lattice import Lattice
from .outputs import distinct_outputs
from .posteriors import lattice_free_energy, output_posterior


class Hypothesis(NamedTuple):
    """One output sequence.

    Attributes:
        output: output labels (epsilons removed).
        words: their names in the graph's output symbol table (the labels as text without one).
        energy: the lowest energy of a path with this output.
        posterior: its probability under the lattice's Gibbs distribution (None if not asked).
    """

    output: tuple[int, ...]
    words: tuple[str, ...]
    energy: float
    posterior: float | None = None

    @property
    def text(self) -> str:
        return " ".join(self.words)


@dataclass(frozen=True, eq=False)
class DecodeResult:
    """The decoding of one utterance.

    Attributes:
        best: the best hypothesis (output, words, energy, posterior = ``confidence``).
        alignment: int64 [T], the input label the best path consumes at each frame.
        output_frames: int64 [len(best.output)], the frame at which each output label is emitted
            (the frame an emitting arc consumes, or for an epsilon arc the frames before it).
        path_arcs: int64 [L], the decoding graph's arc ids along the best path.
        hypotheses: the ``num_hypotheses`` lowest-energy distinct outputs asked of
            :func:`decoders.decode`, best first (empty if none were asked); the n-best list.
        lattice: the pruned lattice, if asked.
        active: int64 [T+1], tokens kept at each frame (a measure of search effort).
    """

    best: Hypothesis
    alignment: np.ndarray
    output_frames: np.ndarray
    path_arcs: np.ndarray
    hypotheses: list[Hypothesis] = field(default_factory=list)
    lattice: Lattice | None = None
    active: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    nbest = deprecated_attribute("hypotheses")  # the old name, for one release

    @property
    def found(self) -> bool:
        """False when no complete path survived (or exists): "no path"."""
        return math.isfinite(self.best.energy)

    @property
    def energy(self) -> float:
        return self.best.energy

    @property
    def output(self) -> tuple[int, ...]:
        return self.best.output

    @property
    def text(self) -> str:
        return self.best.text

    @property
    def confidence(self) -> float | None:
        return self.best.posterior


def hypothesis(labels, energy: float, symbols, posterior: float | None = None) -> Hypothesis:
    """The Hypothesis of output ``labels``, named by ``symbols`` (decimal text without them)."""
    labels = tuple(int(x) for x in labels)
    words = (str(x) if symbols is None else symbols.name(x) for x in labels)
    return Hypothesis(labels, tuple(words), float(energy), posterior)


NO_PATH = Hypothesis((), (), math.inf, None)


def path_result(
    g: gtn.Graph, arcs, src_frames, energy: float, lattice: Lattice | None, keep: bool,
    active: np.ndarray, num_hypotheses: int, beta: float, confidence: bool,
) -> DecodeResult:  # fmt: skip
    """The result of the best path ``arcs`` (int64 [L] arc ids of ``g``; +inf ``energy``: none),
    ``src_frames`` int64 [L] the frame of each arc's source, with its posterior and the n-best
    list from ``lattice`` (options as for :func:`decoders.decode`), ``lattice`` kept if
    ``keep``."""
    kept = lattice if keep else None
    if energy == math.inf:
        empty = np.zeros(0, np.int64)
        return DecodeResult(NO_PATH, empty, empty, empty, [], kept, active)
    has_output = g.olabel[arcs] != gtn.EPSILON
    best = hypothesis(g.olabel[arcs][has_output], energy, g.osymbols)
    others = []
    if lattice is not None and (confidence or num_hypotheses):
        total = lattice_free_energy(lattice.graph, beta)

        def posterior(out, e):
            return output_posterior(lattice.graph, out, beta, total=total, energy=e)

        if confidence:
            best = best._replace(posterior=posterior(best.output, best.energy))
        found = distinct_outputs(lattice.graph, num_hypotheses, first=(best.output, best.energy))
        others = [hypothesis(o, e, g.osymbols, posterior(o, e)) for o, e in found[1:]]
        others = [best, *others] if found else []
    alignment = g.ilabel[arcs][g.ilabel[arcs] != gtn.EPSILON].astype(np.int64)
    frames = src_frames[has_output].astype(np.int64)
    return DecodeResult(best, alignment, frames, arcs, others, kept, active)
