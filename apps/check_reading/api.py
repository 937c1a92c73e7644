"""The user-facing reader: ``CheckReader.load(path).read(images)`` -> (amount, confidence).

Confidence is the posterior of the answer under the Gibbs distribution over readings,
P(Y* | x) = exp(-beta (F(Y*) - F)), where F(Y*) is the free energy of every segmentation
that reads Y* and F the free energy of every grammatical reading; it lies in [0, 1].
Checkpoints are the apps' model files (:mod:`apps._common.checkpoint`): content digest,
settings validated and weights' shapes checked before the model is built.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

import gtn

from .._common.checkpoint import (
    Int,
    IntList,
    Optional,
    Real,
    Record,
    build_module,
    load_model,
    save_model,
)
from .amounts import NUM_BRANCHES, decode, encode, is_valid_amount
from .inputs import check_image, check_images
from .model import CheckReaderModel, best_labels, make_batch
from .network import LeNet5
from .segment import DEFAULT_SEGMENTER, Segmentation, SegmenterSettings, segment

# The amount prior's counts (:func:`.amounts.shape_counts`); None in files written before it.
PRIOR = Optional(IntList(0, 10**9, NUM_BRANCHES, NUM_BRANCHES))
FORMAT = "ebgtn.check_reading.segmenting"
# Ranges far beyond any trained reader's: a file cannot ask for a network larger than the
# weights it carries, nor for a segmenter that explodes the lattice.
SCHEMA = Record(
    {
        "beta": Real(1e-3, 1e3),
        "recognizer": Record({"num_classes": Int(2, 1000), "width": Int(1, 64)}),
        "settings": Record(
            {
                "min_gap": Real(0.0, 10.0),
                "max_pieces": Int(1, 16),
                "max_width": Real(0.01, 100.0),
                "min_area": Int(0, 1_000_000),
                "curve_radius": Real(0.0, 2.0),
                "curve_gain": Real(0.0, 1e6),
                "seed_step": Real(0.0, 10.0),
                "curve_merge": Real(0.0, 10.0),
                "blob_size": Real(0.0, 2.0),
                "blob_min_area": Int(0, 1_000_000),
                "blob_margin": Int(0, 64),
                "blob_strong": Real(0.0, 1.0),
            }
        ),
        "prior": PRIOR,
    },
    defaults={"prior": None},
)
RETRAIN = "train a new one with `ebgtn check-reading train`"
LEGACY = ("ebgtn.check_reading/1",)


def field_graphs(model: CheckReaderModel, segmentations: Sequence[Segmentation]):
    """(interpretation graphs, lattices = interpretation o grammar) of B fields, without
    gradients: one recogniser call, shared by :func:`read_batch` and
    :func:`answer_log_posteriors` when both read the same fields."""
    with torch.no_grad():
        interps = model.interpretation_graphs(make_batch(segmentations))
        return interps, model.lattices(interps)


def read_batch(model: CheckReaderModel, segmentations: Sequence[Segmentation], graphs=None):
    """Read B over-segmented fields: (answers [B] str, confidence float64 [B], lattices).
    ``graphs``: :func:`field_graphs` of these fields if already built."""
    interps, lattices = graphs or field_graphs(model, segmentations)  # built without gradients
    labels = best_labels(lattices)
    log_p = _log_posteriors(model, interps, lattices, labels)
    log_p[[not t for t in labels]] = -np.inf  # no grammatical reading (every one has a digit)
    return [decode(t) for t in labels], np.exp(log_p), lattices


def answer_log_posteriors(
    model: CheckReaderModel,
    segmentations: Sequence[Segmentation],
    answers: Sequence[str],
    graphs=None,
) -> np.ndarray:
    """float64 [B]: log P(answer_b | field b), summing over the segmentations that read it
    (-inf when no segmentation does or the answer is not an amount of the grammar).
    ``graphs``: :func:`field_graphs` of these fields if already built."""
    interps, lattices = graphs or field_graphs(model, segmentations)
    log_p = _log_posteriors(model, interps, lattices, [encode(a) for a in answers])
    log_p[[not is_valid_amount(a) for a in answers]] = -np.inf
    return log_p


def in_batches(read, *columns: Sequence, batch_size: int = 64) -> tuple[list[str], np.ndarray]:
    """(answers [n], confidences float64 [n]) of n fields given as ``columns`` (sequences of n
    items each), ``read(*slices)`` -> (answers, confidences) of ``batch_size`` fields at a time."""
    answers, conf = [], []
    for i in range(0, len(columns[0]), batch_size):
        a, c = read(*(col[i : i + batch_size] for col in columns))
        answers += a
        conf.append(c)
    return answers, np.concatenate(conf) if conf else np.zeros(0)


def readings(answers: list[str], confidence: np.ndarray) -> list[tuple[str, float]]:
    """[(amount, confidence)] as every reader's ``read`` returns them."""
    return [(a, float(c)) for a, c in zip(answers, confidence, strict=True)]


def _log_posteriors(model, interps, lattices, labels) -> np.ndarray:
    """-beta (F(Y_b) - F) for label lists Y_b, clipped to <= 0; NaN (no reading) -> -inf."""
    total = gtn.free_energy(lattices, model.beta)
    answer = gtn.free_energy(model.answers(interps, labels), model.beta)
    log_p = (-model.beta * (answer - total)).clamp(max=0.0)
    return torch.nan_to_num(log_p, nan=-np.inf, neginf=-np.inf).double().numpy()


class CheckReader:
    """A trained check-amount reader.

    >>> reader = CheckReader()                       # untrained; normally CheckReader.load(p)
    >>> amount, confidence = reader.read([np.full((40, 90), 255, np.uint8)])[0]
    >>> amount, confidence
    ('', 0.0)
    """

    def __init__(
        self, model: CheckReaderModel | None = None, settings: SegmenterSettings = DEFAULT_SEGMENTER
    ):
        self.model = model if model is not None else CheckReaderModel()
        self.settings = settings

    def segment(self, images: Sequence[np.ndarray]) -> list[Segmentation]:
        return [segment(check_image(im, i), self.settings) for i, im in enumerate(images)]

    def read(self, images: Sequence[np.ndarray], batch_size: int = 64) -> list[tuple[str, float]]:
        """Per image (2-D numpy, dark ink on white, uint8 0-255 or float 0-1, any width):
        (amount string, confidence in [0, 1]). A blank field reads as ("", 0.0)."""
        segs = self.segment(check_images(images))
        self.model.eval()
        read = in_batches(lambda s: read_batch(self.model, s)[:2], segs, batch_size=batch_size)
        return readings(*read)

    # ------------------------------------------------------------------ checkpoints
    def save(self, path: str | os.PathLike) -> Path:
        """Write the checkpoint atomically (a reader sees the old file or the new one)."""
        recognizer = self.model.recognizer
        if not isinstance(recognizer, LeNet5):
            raise TypeError(f"only LeNet5 recognisers are saved, not {type(recognizer).__name__}")
        config = {
            "beta": float(self.model.beta),
            "recognizer": recognizer.config(),
            "settings": asdict(self.settings),
            "prior": self.model.prior,
        }
        return save_model(path, FORMAT, SCHEMA, config, {"recognizer": recognizer.state_dict()})

    @classmethod
    def load(cls, path: str | os.PathLike) -> CheckReader:
        """Load a checkpoint written by :meth:`save`; CheckpointError if it is unusable."""
        config, tensors = load_model(
            path, FORMAT, SCHEMA, what="segmenting check reader", legacy=LEGACY, retrain=RETRAIN
        )
        net = build_module(path, tensors, "recognizer", lambda: LeNet5(**config["recognizer"]))
        model = CheckReaderModel(net, beta=config["beta"], prior=config["prior"])
        return cls(model, SegmenterSettings(**config["settings"]))


def load_reader(path: str | os.PathLike):
    """A segmenting :class:`CheckReader` or an :class:`.sdnn.SdnnReader`, by the checkpoint's
    format tag; CheckpointError if the file is neither."""
    from .._common.checkpoint import read_format
    from .sdnn import FORMAT as SDNN_FORMAT
    from .sdnn import SdnnReader

    return SdnnReader.load(path) if read_format(path) == SDNN_FORMAT else CheckReader.load(path)
