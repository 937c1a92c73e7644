"""The segmentation-free alternative: a space-displacement neural network (SDNN).

The same kind of convolutional recogniser, replicated along the whole field (a convolution that
slides over the image instead of being applied to candidate segments), gives every column
position an energy for each character and for "no character here" (the CTC blank). The answer is
read off the dense lattice of those per-column energies with a per-character CTC topology
composed with the amount grammar; no segmenter is involved, so touching and overlapping
characters cost nothing special.

    field image -> size-normalised strip [1, 32, W] -> SDNN -> energies [T = W/2, 15]
                -> dense lattice with (CTC topology o amount grammar) -> Viterbi answer

Labels of the emission columns: 0 = blank, 1 + k = character k of ``ALPHABET``. Energies are
-log_softmax. Confidence = P(answer | x) = exp(F(all) - F(answer)), summing
over the alignments of each: the same posterior the segmenting reader reports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import gtn

from .._common.checkpoint import Int, Record, build_module, load_model, save_model
from .amounts import decode, encode, grammar, is_valid_amount, prior_energies
from .api import PRIOR, RETRAIN, in_batches, readings
from .glyphs import resize
from .inputs import check_images
from .network import SpaceDisplacementNet
from .normalise import HEIGHT, Normalised, normalise
from .segment import _BAND, SIZE

BLANK = 0  # emission column 0; column 1 + k is character k of ALPHABET
_MARGIN = 6  # blank columns left and right of the ink in a strip
FORMAT = "ebgtn.check_reading.sdnn"
LEGACY = ("ebgtn.check_reading.sdnn/1",)
# width: far beyond any trained network's; prior: the amount prior's counts (as the segmenter's)
SCHEMA = Record({"width": Int(1, 64), "prior": PRIOR}, defaults={"prior": None})


def field_strip(image: np.ndarray) -> np.ndarray:
    """float32 [32, W] ink strip (1 = ink) of a field image (uint8 [H, W], dark on white): the
    normalised field (:mod:`.normalise`) scaled to 28 rows, as the segmenting reader scales its
    segments, with blank margins left and right. A field with no ink gives an empty strip of
    width 2 * margin."""
    return normalised_strip(normalise(image))


def normalised_strip(norm: Normalised | None) -> np.ndarray:
    """:func:`field_strip` of an already normalised field (None: a field with no ink)."""
    if norm is None:
        return np.zeros((SIZE, 2 * _MARGIN), np.float32)
    width = max(1, int(round(norm.ink.shape[1] * _BAND / HEIGHT)))
    strip = np.zeros((SIZE, width + 2 * _MARGIN), np.float32)
    band = resize(norm.ink, _BAND, width)
    strip[2 : 2 + _BAND, _MARGIN : _MARGIN + width] = np.clip(band, 0.0, 1.0)
    return strip


def stack_strips(strips: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """(images float32 [B, 1, 32, Wmax] right-padded with blank paper, widths long [B])."""
    widths = [s.shape[1] for s in strips]
    out = np.zeros((len(strips), 1, SIZE, max(widths, default=1)), np.float32)
    for b, s in enumerate(strips):
        out[b, 0, :, : s.shape[1]] = s
    return torch.from_numpy(out), torch.tensor(widths, dtype=torch.long)


def transcript_energies(emissions, frames, targets: list[list[int]]) -> torch.Tensor:
    """[B] F(target_b): the free energy of each label list (1 + character) over its CTC
    alignments with emissions [B, T, 15] of ``frames`` [B] frames (+inf: no alignment)."""
    flat = torch.tensor([t for ts in targets for t in ts])
    lengths = torch.tensor([len(t) for t in targets])
    return gtn.ctc_loss(emissions, flat, frames, lengths, blank=BLANK, reduction="none")


def _log_posteriors(
    em, frames, total, labels: list[list[int]], amount_grammar: gtn.Graph
) -> np.ndarray:
    """log P(Y_b | x) = F(all) - F(Y_b) - prior(Y_b) <= 0 for label lists Y_b (-inf when Y_b
    is empty or no alignment reads it). em: float64 [B, T, 15]; frames [B]; total: F(all) [B]
    over the decoding graph built on ``amount_grammar``, whose energies are the prior."""
    log_p = np.full(len(labels), -np.inf)
    ok = [b for b, t in enumerate(labels) if t and torch.isfinite(total[b])]
    if ok:
        answer = transcript_energies(em[ok], frames[ok], [[1 + c for c in labels[b]] for b in ok])
        answer = answer + torch.from_numpy(prior_energies(amount_grammar, [labels[b] for b in ok]))
        log_p[ok] = (
            torch.nan_to_num(total[ok] - answer, nan=-np.inf, neginf=-np.inf).clamp(max=0.0).numpy()
        )
    return log_p


def decoding_graph(g: gtn.Graph | None = None) -> tuple[gtn.Graph, np.ndarray]:
    """(acceptor over emission labels 0..14, olabel int32 [arcs]): CTC topology composed with
    the amount grammar ``g`` (default :func:`.amounts.grammar`, energies 0), built directly.
    States: B(q) "in grammar state q after a blank (or at the start)" and L(q, c) "just read
    character c into q, possibly repeating it". Reading c (label 1 + c) outputs c and costs
    the energy of the grammar arc it takes; repeats and blanks output nothing (``olabel`` =
    -1) and cost nothing; an L(q, c) or B(q) state ends with q's final energy. Two equal
    characters in a row need a blank between them, as in CTC."""
    g = grammar() if g is None else g
    entries = sorted({(int(d), int(c)) for d, c in zip(g.dst, g.ilabel, strict=True)})
    node: dict[tuple, int] = {("B", q): q for q in range(g.num_nodes)}
    for q, c in entries:
        node[("L", q, c)] = len(node)
    # arcs: (src, dst, label, olabel)
    weight = g.weight.detach().double().numpy()
    arcs = [(node[("B", q)], node[("B", q)], BLANK, -1, 0.0) for q in range(g.num_nodes)]
    for q, c in entries:
        here = node[("L", q, c)]
        arcs += [(here, here, 1 + c, -1, 0.0), (here, node[("B", q)], BLANK, -1, 0.0)]
    for a in range(g.num_arcs):
        q, q2, c, w = int(g.src[a]), int(g.dst[a]), int(g.ilabel[a]), float(weight[a])
        arcs.append((node[("B", q)], node[("L", q2, c)], 1 + c, c, w))
        for c0 in {cc for qq, cc in entries if qq == q and cc != c}:
            arcs.append((node[("L", q, c0)], node[("L", q2, c)], 1 + c, c, w))
    src, dst, lab, out, w = (list(column) for column in zip(*arcs, strict=True))
    grammar_final = g.final_weight.detach().double().numpy()
    final_weight = np.array([grammar_final[key[1]] for key in node])  # +inf: not final
    starts = np.flatnonzero(np.isfinite(g.start_weight.detach().numpy())).tolist()
    graph = gtn.Graph.from_arrays(
        len(node),
        src,
        dst,
        lab,
        weight=np.array(w, np.float32),
        start=[node[("B", q)] for q in starts],
        final=None,
        final_weight=torch.from_numpy(final_weight.astype(np.float32)),
    )
    return graph, np.array(out, np.int32)


class SdnnReader:
    """The network plus its decoding graph: ``read(images)`` -> [(amount, confidence)]."""

    def __init__(
        self,
        network: SpaceDisplacementNet | None = None,
        width: int = 2,
        prior: list[int] | None = None,
    ):
        """``prior``: :func:`.amounts.shape_counts` of the training amounts, added to every
        reading's energy (None: no amount prior)."""
        self.network = network if network is not None else SpaceDisplacementNet(width)
        self.width = width
        self.prior = None if prior is None else list(prior)
        self.grammar = grammar(self.prior)
        self.graph, self.olabel = decoding_graph(self.grammar)

    def save(self, path) -> Path:
        """Write the checkpoint atomically."""
        config = {"width": self.width, "prior": self.prior}
        return save_model(path, FORMAT, SCHEMA, config, {"network": self.network.state_dict()})

    @classmethod
    def load(cls, path) -> SdnnReader:
        """Load a checkpoint written by :meth:`save`; CheckpointError if it is unusable."""
        config, tensors = load_model(
            path, FORMAT, SCHEMA, what="SDNN check reader", legacy=LEGACY, retrain=RETRAIN
        )
        width = config["width"]
        network = build_module(path, tensors, "network", lambda: SpaceDisplacementNet(width))
        return cls(network, width, config["prior"])

    def emissions(self, strips: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """(energies [B, T, 15], frames [B]) of B strips."""
        images, widths = stack_strips(strips)
        return self.network(images), SpaceDisplacementNet.frames(widths)

    def decode_lattice(self, strips: list[np.ndarray]):
        """(energies float64 [B, T, 15], frames [B], dense lattice) of B strips, without
        gradients: one network call, shared by :meth:`read_strips` and
        :meth:`answer_log_posteriors` when both read the same strips."""
        self.network.eval()
        with torch.no_grad():
            em, frames = self.emissions(strips)
            em = em.double()
            return em, frames, gtn.intersect_dense(self.graph, em, frames)

    def read_strips(self, strips: list[np.ndarray], decoded=None) -> tuple[list[str], np.ndarray]:
        """Viterbi answers and their posteriors P(answer | x) in [0, 1] (0: no reading).
        ``decoded``: :meth:`decode_lattice` of these strips if already built."""
        if not strips:
            return [], np.zeros(0)
        em, frames, lattice = decoded or self.decode_lattice(strips)  # built without gradients
        arcs = lattice.best_alignment().arcs.numpy()
        labels = [[int(c) for c in self.olabel[row[row >= 0]] if c >= 0] for row in arcs]
        # a strip with no ink reads as nothing
        labels = [t if s.any() else [] for t, s in zip(labels, strips, strict=True)]
        log_p = _log_posteriors(em, frames, lattice.free_energy(), labels, self.grammar)
        return [decode(t) for t in labels], np.exp(log_p)

    def answer_log_posteriors(
        self, strips: list[np.ndarray], answers: list[str], decoded=None
    ) -> np.ndarray:
        """float64 [B]: log P(answer_b | strip b), summing over the alignments that read it
        (-inf for an empty answer or one the amount grammar does not accept).
        ``decoded``: :meth:`decode_lattice` of these strips if already built."""
        if not strips:
            return np.zeros(0)
        em, frames, lattice = decoded or self.decode_lattice(strips)
        labels = [encode(a) for a in answers]
        log_p = _log_posteriors(em, frames, lattice.free_energy(), labels, self.grammar)
        log_p[[not is_valid_amount(a) for a in answers]] = -np.inf
        return log_p

    def read(self, images: list[np.ndarray], batch_size: int = 64) -> list[tuple[str, float]]:
        """Per image (2-D numpy, dark ink on white, uint8 0-255 or float 0-1, any width):
        (amount string, confidence in [0, 1]). A blank field reads as ("", 0.0)."""
        strips = [field_strip(im) for im in check_images(images)]
        return readings(*in_batches(self.read_strips, strips, batch_size=batch_size))
