"""The check reader as a stack of graph transformers, trainable end to end.

    field image -> segmenter -> segmentation graph (one arc per candidate segment)
                -> recognition transformer: LeNet-5 on every segment; each segmentation arc
                   becomes 14 arcs, one per character, energy = the segment's class energy
                -> interpretation graph  o  amount grammar  ->  Viterbi answer

An answer Y (a label sequence) has energy E(Y) = -(1/beta) log sum_Z exp(-beta E(Y, Z)) over
the segmentations Z that read Y (``latent="sum"``), or min_Z E(Y, Z) (``latent="min"``). The
model meets the ``factors`` EnergyModel contract (``energy``, ``free_energy``, ``infer``,
``most_offending``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

import gtn
from gtn.composition import intersect

from .amounts import ALPHABET, SYMBOLS, grammar
from .network import LeNet5
from .segment import SIZE, Segmentation

NUM_CHARS = len(ALPHABET)
# Reading a batch of fields means ~10^4 segments; in one call the network's activations take
# hundreds of MB, allocated (and page-faulted) afresh each time and evicted from the caches.
READ_CHUNK = 512


@dataclass
class Batch:
    """B over-segmented fields: their segments stacked for one recogniser call.

    images: float32 [S_total, 1, 32, 32] (1 = ink); aspect: [S_total];
    offsets: int64 [B+1], field b owns segments offsets[b]:offsets[b+1].
    """

    segmentations: list[Segmentation]
    images: torch.Tensor
    aspect: torch.Tensor
    offsets: np.ndarray


def stack_segments(segmentations: Sequence[Segmentation]) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 [S_total, 32, 32], aspect float32 [S_total]) of every field's segments."""
    if not segmentations:
        return np.zeros((0, SIZE, SIZE), np.uint8), np.zeros(0, np.float32)
    images = np.concatenate([s.images for s in segmentations])
    return images, np.concatenate([s.aspect for s in segmentations])


def make_batch(segmentations: Sequence[Segmentation]) -> Batch:
    segs = list(segmentations)
    offsets = np.concatenate([[0], np.cumsum([s.num_segments for s in segs])]).astype(np.int64)
    images, aspect = stack_segments(segs)
    tensor = torch.from_numpy(images).float().div_(255.0).unsqueeze(1)
    return Batch(segs, tensor, torch.from_numpy(aspect), offsets)


def interpretation_graph(
    seg: Segmentation, energies: torch.Tensor, by_segment: bool = False
) -> gtn.Graph:
    """Each segmentation arc becomes one arc per character (labels 0..13); arc s*14 + c has
    energy ``energies[s, c]`` (energies: [S, >=14], differentiable). No rubbish arcs: rubbish
    is a reading the grammar never accepts. ``by_segment``: a transducer segment index :
    character instead, whose best path names its segments."""
    n = seg.cuts.shape[0]
    if seg.num_segments == 0:  # no ink: no complete path, energy +inf
        return gtn.Graph.from_arrays(1, [], [], [], start=[0], final=[], isymbols=SYMBOLS)
    chars = np.tile(np.arange(NUM_CHARS, dtype=np.int32), seg.num_segments)
    segments = np.repeat(np.arange(seg.num_segments, dtype=np.int32), NUM_CHARS)
    ilabel, olabel = (segments, chars) if by_segment else (chars, None)
    symbols = {} if by_segment else {"isymbols": SYMBOLS, "osymbols": SYMBOLS}
    src, dst = np.repeat(seg.start, NUM_CHARS), np.repeat(seg.end, NUM_CHARS)
    weight = energies[:, :NUM_CHARS].reshape(-1)
    return gtn.Graph.from_arrays(
        n, src, dst, ilabel, olabel, weight, start=[0], final=[n - 1], **symbols
    )


def _labels(y) -> list[list[int]]:
    return [list(map(int, seq)) for seq in y]


class CheckReaderModel(nn.Module):
    """The trainable system: a recogniser plus the fixed graph transformers around it.

    Args:
        recognizer: the segment network (default: a fresh :class:`LeNet5`).
        latent: "sum" (marginalise segmentations; NLL) or "min" (best segmentation; perceptron,
            hinge) for the energy of an answer.
        beta: inverse temperature of the free energies.
        prior: :func:`.amounts.shape_counts` of the training amounts, or None: the amount
            prior, part of every answer's energy (the grammar's arcs carry it), in training
            and in reading alike.
    """

    def __init__(
        self,
        recognizer: nn.Module | None = None,
        latent: str = "sum",
        beta: float = 1.0,
        prior: list[int] | None = None,
    ):
        super().__init__()
        if latent not in ("sum", "min"):
            raise ValueError(f"latent must be 'sum' or 'min', got {latent!r}")
        self.recognizer = recognizer if recognizer is not None else LeNet5()
        self.latent, self.beta = latent, beta
        self.prior = None if prior is None else list(prior)
        self.grammar = grammar(self.prior)

    # ------------------------------------------------------------------ graph transformers
    def segment_energies(self, x: Batch) -> torch.Tensor:
        """[S_total, 15] energies of every segment of the batch: one network call when
        gradients are recorded, else calls of at most ``READ_CHUNK`` segments."""
        n = x.images.shape[0]
        if n == 0:
            return torch.zeros(0, NUM_CHARS + 1)
        if torch.is_grad_enabled() or n <= READ_CHUNK:
            return self.recognizer(x.images, x.aspect)
        chunks = zip(x.images.split(READ_CHUNK), x.aspect.split(READ_CHUNK), strict=True)
        return torch.cat([self.recognizer(images, aspect) for images, aspect in chunks])

    def interpretation_graphs(self, x: Batch, energies: torch.Tensor | None = None):
        energies = self.segment_energies(x) if energies is None else energies
        o = x.offsets
        return [
            interpretation_graph(s, energies[o[b] : o[b + 1]])
            for b, s in enumerate(x.segmentations)
        ]

    def lattices(self, interpretations: list[gtn.Graph]) -> list[gtn.Graph]:
        """Every grammatical reading with every segmentation: interpretation o grammar."""
        return intersect(interpretations, [self.grammar] * len(interpretations))

    def answers(self, interpretations: list[gtn.Graph], labels) -> list[gtn.Graph]:
        """The segmentations that read each label list of ``labels``, every path weighing its
        reading's amount prior too (none for a list outside the grammar, when there is a
        prior)."""
        linear = [gtn.linear(list(t)) for t in labels]
        if self.prior is not None:  # the label lists through the weighted grammar
            linear = intersect([self.grammar] * len(linear), linear)
        return intersect(interpretations, linear)

    # ------------------------------------------------------------------ EnergyModel contract
    def energy(self, x: Batch, y) -> torch.Tensor:
        """[B] energy E(Y) of the label sequences ``y`` (lists of labels 0..13) over the latent
        segmentations: their min or free energy, per ``latent``."""
        graphs = self.answers(self.interpretation_graphs(x), _labels(y))
        if self.latent == "min":
            return gtn.min_energy(graphs)
        return gtn.free_energy(graphs, self.beta)

    def free_energy(self, x: Batch, beta: float = 1.0) -> torch.Tensor:
        """[B] free energy over every grammatical reading and segmentation."""
        return gtn.free_energy(self.lattices(self.interpretation_graphs(x)), beta)

    def infer(self, x: Batch) -> list[list[int]]:
        """The Viterbi answers (label lists; empty when a field has no grammatical reading)."""
        return best_labels(self.lattices(self.interpretation_graphs(x)))

    def most_offending(self, x: Batch, y, cost=None) -> list[list[int]]:
        """The best reading that differs from y: Viterbi on lattice o complement(y)."""
        if cost is not None:
            raise ValueError("the check reader's most offending answer takes no cost")
        wrong = intersect(
            self.lattices(self.interpretation_graphs(x)),
            [gtn.complement(t, NUM_CHARS) for t in _labels(y)],
        )
        return best_labels(wrong)


def best_labels(graphs: list[gtn.Graph]) -> list[list[int]]:
    paths = gtn.best_path_arcs(graphs)
    return [g.ilabel[p].tolist() for g, p in zip(graphs, paths, strict=True)]
