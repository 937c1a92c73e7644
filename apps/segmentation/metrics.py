"""Scores of label maps against the ground truth: pixel accuracy, per-class IoU, mean IoU and
the number of connected label fragments.

IoU is computed from the confusion matrix summed over all images of a set (the usual
"dataset IoU"); a class absent from both truth and prediction is left out of the mean.
Fragments are 4-connected components of each label, summed over labels, averaged per image
(the ground truth's own count is the reference: fewer is not better below it).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def confusion(truth: np.ndarray, predicted: np.ndarray, num_labels: int) -> np.ndarray:
    """[K, K] counts; row = true label, column = predicted label."""
    t, p = np.asarray(truth).ravel(), np.asarray(predicted).ravel()
    return np.bincount(t * num_labels + p, minlength=num_labels**2).reshape(num_labels, num_labels)


def iou(conf: np.ndarray) -> np.ndarray:
    """Per-class intersection over union [K] (NaN for a class absent everywhere)."""
    inter = np.diag(conf).astype(float)
    union = conf.sum(0) + conf.sum(1) - np.diag(conf)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / np.maximum(union, 1), np.nan)


def fragments(label_map: np.ndarray) -> int:
    """Number of 4-connected regions of constant label in one map [H, W]."""
    return sum(int(ndimage.label(label_map == k)[1]) for k in np.unique(label_map))


def scores(truth: np.ndarray, predicted: np.ndarray, num_labels: int) -> dict:
    """Metrics of predicted maps [N, H, W] against truth [N, H, W]:
    ``pixel_accuracy``, ``iou`` (list [K]), ``mean_iou``, ``fragments`` (mean per image)."""
    truth, predicted = np.asarray(truth), np.asarray(predicted)
    if truth.shape != predicted.shape:
        raise ValueError(f"truth {truth.shape} and prediction {predicted.shape} differ in shape")
    conf = confusion(truth, predicted, num_labels)
    per_class = iou(conf)
    return {
        "pixel_accuracy": float(np.trace(conf) / max(1, conf.sum())),
        "iou": [float(v) for v in per_class],
        "mean_iou": float(np.nanmean(per_class)),
        "fragments": float(np.mean([fragments(m) for m in predicted])),
    }
