"""The user-facing API: a trained labeller plus its cleanup model, saved in one file.

>>> seg = Segmenter.load("out/demo/embryo.pt")                     # doctest: +SKIP
>>> result = seg.segment(images)                                   # doctest: +SKIP
>>> result.labels.shape, result.energy.shape                       # doctest: +SKIP
((B, H, W), (B,))

``segment`` returns the cleaned label maps, the labeller's raw maps and the energy
E(y) of each cleaned map under the learned model (lower is better).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gtn._atomic import atomic_write

from .cleanup import METHODS, CleanupModel
from .inputs import check_images
from .labeller import Labeller

FORMAT = "ebgtn-segmenter-1"


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
        if method not in METHODS:
            raise ValueError(
                f"unknown inference method {method!r}; choose from {', '.join(METHODS)}"
            )
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
        import time

        method = method or self.method
        labels, raw, energy, seconds = [], [], [], []
        for u in self.association_energies(images):
            start = time.perf_counter()
            result = self.cleanup.infer(u, method, **options)
            seconds.append(time.perf_counter() - start)
            labels.append(result.assignment[0].numpy())
            raw.append(u[0].argmin(-1).numpy())
            energy.append(float(result.energy[0]))
        same = len({m.shape for m in labels}) == 1
        return Segmentation(
            np.stack(labels) if same else labels,
            np.stack(raw) if same else raw,
            np.array(energy),
            method,
            np.array(seconds),
        )

    def save(self, path: str | os.PathLike) -> Path:
        """Write the model to ``path`` atomically (torch format, weights and settings only)."""
        state = {
            "format": FORMAT,
            "classes": list(self.classes),
            "method": self.method,
            "info": self.info,
            "labeller_config": self.labeller.config(),
            "labeller": self.labeller.state_dict(),
            "cleanup_config": self.cleanup.config(),
            "cleanup": self.cleanup.state_dict(),
        }
        if self.reference is not None:
            state["reference"] = self.reference.state_dict()
        buffer = io.BytesIO()
        torch.save(state, buffer)
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "wb") as f:
            f.write(buffer.getvalue())
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Segmenter:
        """Read a model written by :meth:`save`."""
        try:
            state = torch.load(Path(path), map_location="cpu", weights_only=True)
        except FileNotFoundError:
            raise
        except Exception as err:  # torch raises several types for damaged files
            reason = str(err).strip().splitlines()[0][:100] if str(err).strip() else type(err)
            raise ValueError(f"{path} is not a readable segmenter file ({reason})") from None
        if not isinstance(state, dict) or state.get("format") != FORMAT:
            raise ValueError(f"{path} is not a segmenter file (format {FORMAT!r} expected)")
        lc = state["labeller_config"]
        labellers = []
        for key in ("labeller", "reference"):
            if key in state:
                net = Labeller(lc["num_labels"], lc["channels"], tuple(lc["dilations"]))
                net.load_state_dict(state[key])
                labellers.append(net)
        cleanup = CleanupModel(**state["cleanup_config"])
        cleanup.load_state_dict(state["cleanup"])
        reference = labellers[1] if len(labellers) > 1 else None
        return cls(
            labellers[0], cleanup, state["classes"], state["method"], state["info"], reference
        )
