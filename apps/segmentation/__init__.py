"""Region labelling cleaned up by an energy-based local-consistency model.

A small convolutional labeller gives per-pixel association energies (-log_softmax); learned
interaction energies between labels (one table per direction of the 4- or 8-neighbourhood at
each coupling distance, optional 2×2 patches) form a ``factors`` grid factor graph; mean field
(trained through, with the marginal loss) or ICM / Gibbs / α-expansion give the cleaned-up
answer. Tasks: procedurally generated C. elegans embryo images (5 regions) and figure/ground
segmentation of scikit-image's horse.

>>> from apps.segmentation import Segmenter
>>> seg = Segmenter.load("out/segmentation-demo/embryo.pt")  # doctest: +SKIP
>>> result = seg.segment(images)  # result.labels [B, H, W], result.energy [B]  # doctest: +SKIP
"""

from .segmenter import Segmentation, Segmenter

__all__ = ["Segmentation", "Segmenter"]
