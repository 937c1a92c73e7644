"""The user-facing API: a trained labeller plus its cleanup model, saved in one file (an
example: the package docstring)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
import torch

from .._common.checkpoint import (
    Bool,
    CheckpointError,
    Choice,
    Int,
    IntList,
    Json,
    Record,
    Texts,
    build_module,
    load_model,
    save_model,
)
from .cleanup import METHODS, CleanupModel, check_method
from .inputs import check_images
from .labeller import Labeller

FORMAT = "ebgtn.segmentation.segmenter"
# Ranges far beyond any trained model's: a file cannot ask for networks or tables larger than
# the weights it carries (their shapes are checked against these settings too).
SCHEMA = Record(
    {
        "classes": Texts(2, 256),
        "method": Choice(*METHODS),
        "info": Json(),
        "labeller": Record(
            {
                "num_labels": Int(2, 256),
                "channels": Int(1, 1024),
                "dilations": IntList(1, 256, 1, 64),
            }
        ),
        "cleanup": Record(
            {
                "num_labels": Int(2, 256),
                "neighbourhood": Choice(4, 8),
                "patch": Bool(),
                "learn_unary_weight": Bool(),
                "ranges": IntList(1, 256, 1, 16, distinct=True),
            }
        ),
    }
)


@dataclass
class Segmentation:
    """Label maps of a batch: ``labels`` and ``raw`` [B, H, W] int64 (stacked when all images
    share a size, else lists), ``energy`` [B] of the cleaned maps (lower is better),
    ``seconds`` [B] of inference time per image."""

    labels: np.ndarray | list[np.ndarray]
    raw: np.ndarray | list[np.ndarray]
    energy: np.ndarray
    method: str
    seconds: np.ndarray = field(default_factory=lambda: np.zeros(0))


class Segmenter:
    """Labeller (association energies) + CleanupModel (interaction energies).

    Args:
        labeller, cleanup: the trained modules.
        classes: label names (index = label).
        method: default inference method (one of ``cleanup.METHODS``).
        info: free-form metadata saved with the model (task, training settings).
        reference: the labeller as trained alone, kept when ``labeller`` was then fine-tuned
            jointly with the cleanup (its energies serve the cleanup, not reading alone); the
            baselines (labeller alone, Potts) are scored with it.
    """

    def __init__(
        self,
        labeller: Labeller,
        cleanup: CleanupModel,
        classes: tuple[str, ...] | list[str],
        method: str = "mean_field",
        info: dict | None = None,
        reference: Labeller | None = None,
    ):
        check_method(method)
        if labeller.num_labels != cleanup.num_labels or len(classes) != labeller.num_labels:
            raise ValueError(
                f"labeller ({labeller.num_labels}), cleanup ({cleanup.num_labels}) and classes "
                f"({len(classes)}) disagree on the number of labels"
            )
        self.labeller, self.cleanup = labeller.eval(), cleanup.eval()
        self.reference = reference.eval() if reference is not None else None
        self.classes, self.method, self.info = tuple(classes), method, dict(info or {})

    @property
    def num_labels(self) -> int:
        return len(self.classes)

    @torch.no_grad()
    def association_energies(self, images) -> list[torch.Tensor]:
        """Per image, the labeller's energies [1, H, W, K] (-log_softmax; lower is better)."""
        return [self.labeller(torch.from_numpy(im)[None]) for im in check_images(images)]

    @torch.no_grad()
    def segment(self, images, method: str | None = None, **options) -> Segmentation:
        """Label every pixel of each grey image ([H, W], [B, H, W] or a list; see
        :func:`.inputs.check_images`) and clean the labelling up with ``method``."""
        method = method or self.method
        labels, raw, energy, seconds = [], [], [], []
        for u in self.association_energies(images):
            start = time.perf_counter()
            result = self.cleanup.infer(u, method, **options)
            seconds.append(time.perf_counter() - start)
            labels.append(result.assignment[0].numpy())
            raw.append(u[0].argmin(-1).numpy())
            energy.append(float(result.energy[0]))
        stack = np.stack if len({m.shape for m in labels}) == 1 else list  # see Segmentation
        return Segmentation(stack(labels), stack(raw), np.array(energy), method, np.array(seconds))

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to ``path`` atomically (weights, settings and a content digest)."""
        config = {
            "classes": list(self.classes),
            "method": self.method,
            "info": self.info,
            "labeller": self.labeller.config(),
            "cleanup": self.cleanup.config(),
        }
        tensors = {"labeller": self.labeller.state_dict(), "cleanup": self.cleanup.state_dict()}
        if self.reference is not None:
            tensors["reference"] = self.reference.state_dict()
        return save_model(path, FORMAT, SCHEMA, config, tensors)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Segmenter:
        """Read a model written by :meth:`save`; CheckpointError naming the file and the
        problem if it is not one (or is damaged, edited, or holds settings out of range)."""
        config, tensors = load_model(
            path, FORMAT, SCHEMA, what="segmenter", legacy=("ebgtn-segmenter-1",),
            retrain="train a new one with `ebgtn segment train`",
        )  # fmt: skip
        if set(tensors) - {"labeller", "cleanup", "reference"}:
            raise CheckpointError(f"{path}: unexpected weight groups {sorted(tensors)}")
        labeller = partial(Labeller, **config["labeller"])
        net = build_module(path, tensors, "labeller", labeller)
        reference = (
            build_module(path, tensors, "reference", labeller) if "reference" in tensors else None
        )
        cleanup = build_module(path, tensors, "cleanup", lambda: CleanupModel(**config["cleanup"]))
        try:  # the settings checked together (each was checked alone by SCHEMA)
            return cls(net, cleanup, config["classes"], config["method"], config["info"], reference)
        except ValueError as err:
            raise CheckpointError(f"{path}: {err}") from None
