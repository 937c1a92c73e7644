"""The segmenting reader and the space-displacement reader as one product of experts.

The two readers fail differently: the segmenter loses characters its cuts cannot isolate, the
SDNN loses characters it cannot place; each gives an answer Y a posterior P_k(Y | x), summed
over its own latent segmentations or alignments. The combination scores Y by the geometric mean

    P(Y | x) = sqrt(P_seg(Y | x) P_sdnn(Y | x)),   i.e. energy (E_seg(Y) + E_sdnn(Y)) / 2,

each E_k taken relative to its reader's free energy. It decides among the two Viterbi answers
(where nearly all of both posteriors lies; the exact argmax over every amount would need the
two lattices intersected over label sequences) and reports that geometric mean as confidence,
in [0, 1]: high only when both readers believe the answer, which is what rejection needs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .api import CheckReader, answer_log_posteriors, field_graphs, in_batches, read_batch, readings
from .inputs import check_images
from .model import CheckReaderModel
from .sdnn import SdnnReader, field_strip
from .segment import Segmentation


def combine(
    model: CheckReaderModel,
    sdnn: SdnnReader,
    segmentations: Sequence[Segmentation],
    strips: Sequence[np.ndarray],
) -> tuple[list[str], np.ndarray]:
    """Read B fields given as both readers see them (the segmenter's over-segmentations and
    the SDNN's strips): (answers [B], confidence float64 [B] in [0, 1])."""
    if len(segmentations) != len(strips):
        raise ValueError(f"{len(segmentations)} segmentations but {len(strips)} strips")
    strips = list(strips)
    graphs = field_graphs(model, segmentations)  # each network runs once per batch
    decoded = sdnn.decode_lattice(strips) if strips else None
    seg_read = read_batch(model, segmentations, graphs)[:2]
    return vote(model, sdnn, segmentations, strips, graphs, decoded, seg_read,
                sdnn.read_strips(strips, decoded))  # fmt: skip


def vote(model, sdnn, segmentations, strips, graphs, decoded, seg_read, sdnn_read):
    """:func:`combine` of fields that both readers have already read: ``graphs``
    (:func:`.api.field_graphs`) and ``seg_read`` (its answers and confidences) of the segmenting
    reader, ``decoded`` (``sdnn.decode_lattice``) and ``sdnn_read`` (``sdnn.read_strips``) of
    the SDNN."""
    (seg_answers, seg_conf), (sdnn_answers, sdnn_conf) = seg_read, sdnn_read
    with np.errstate(divide="ignore"):
        # each candidate's log posterior under the reader that did not propose it
        seg_of_sdnn = answer_log_posteriors(model, segmentations, sdnn_answers, graphs)
        sdnn_of_seg = sdnn.answer_log_posteriors(list(strips), seg_answers, decoded)
        score_seg = 0.5 * (np.log(seg_conf) + sdnn_of_seg)
        score_sdnn = 0.5 * (np.log(sdnn_conf) + seg_of_sdnn)
    take_sdnn = score_sdnn > score_seg
    answers = [b if t else a for a, b, t in zip(seg_answers, sdnn_answers, take_sdnn, strict=True)]
    return answers, np.exp(np.where(take_sdnn, score_sdnn, score_seg))


class CombinedReader:
    """``CombinedReader(CheckReader.load(p), SdnnReader.load(q)).read(images)`` ->
    [(amount, confidence)], images as for :meth:`CheckReader.read`."""

    def __init__(self, segmenting: CheckReader, sdnn: SdnnReader):
        self.segmenting, self.sdnn = segmenting, sdnn

    def read(self, images: Sequence[np.ndarray], batch_size: int = 64) -> list[tuple[str, float]]:
        self.segmenting.model.eval()

        def read(chunk: list[np.ndarray]):
            segs, strips = self.segmenting.segment(chunk), [field_strip(im) for im in chunk]
            return combine(self.segmenting.model, self.sdnn, segs, strips)

        return readings(*in_batches(read, check_images(images), batch_size=batch_size))
