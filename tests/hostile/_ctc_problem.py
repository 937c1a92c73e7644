"""A flat decoding problem: the CTC topology over ``labels`` labels (blank 0) as the decoding
graph, and noisy -log_softmax emissions that keep every (frame, state) pair within the default
beam. Shared by test_decode_memory.py and its capped subprocess."""

from __future__ import annotations

import numpy as np
import torch

import gtn


def ctc_problem(frames: int, labels: int = 30, seed: int = 0) -> tuple[gtn.Graph, np.ndarray]:
    """(decoding graph, energies float64 [frames, labels])."""
    src, dst, il, ol = [], [], [], []
    for s in range(labels):  # state 0: after a blank; state k: after label k
        src.append(s)
        dst.append(0)
        il.append(0)
        ol.append(gtn.EPSILON)
        for k in range(1, labels):
            src.append(s)
            dst.append(k)
            il.append(k)
            ol.append(k if s != k else gtn.EPSILON)
    weights = torch.zeros(len(src), dtype=torch.float64)
    g = gtn.Graph.from_arrays(labels, src, dst, il, ol, weights, start=[0], final=range(labels))
    rng = np.random.default_rng(seed)
    truth = np.where(rng.random(frames) < 0.6, 0, rng.integers(1, labels, frames))
    logits = rng.normal(0, 1, (frames, labels))
    logits[np.arange(frames), truth] += 8
    return g, -(logits - np.log(np.exp(logits).sum(1, keepdims=True)))
