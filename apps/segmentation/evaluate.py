"""Evaluation on held-out images: the labeller alone, the Potts baseline and the learned cleanup
under each inference method, with timing per image; and the results table."""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .._common.report import markdown_table
from .cleanup import CleanupModel
from .metrics import scores


@torch.no_grad()
def run_method(
    model: CleanupModel, u: torch.Tensor, method: str, progress: bool = False, desc: str = ""
) -> tuple[np.ndarray, float]:
    """Clean up each image of u [N, H, W, K] with ``method`` one at a time.
    Returns the label maps [N, H, W] and the mean milliseconds per image."""
    maps, total = [], 0.0
    for i in tqdm(range(len(u)), desc=desc or method, disable=not progress, leave=False):
        start = time.perf_counter()
        maps.append(model.infer(u[i : i + 1], method).assignment[0].numpy())
        total += time.perf_counter() - start
    return np.stack(maps), 1000.0 * total / max(1, len(u))


def evaluate(
    model: CleanupModel,
    u: torch.Tensor,
    truth: np.ndarray,
    methods: Sequence[str],
    potts: tuple[CleanupModel, str, float, tuple[int, ...]] | None = None,
    limits: dict[str, int] | None = None,
    progress: bool = False,
    u_alone: torch.Tensor | None = None,
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """Scores per system on association energies u [N, H, W, K] against truth [N, H, W].

    Rows: "labeller" (argmin U), "potts (<method>, λ=..., ranges)" when ``potts`` =
    (model, method, λ, ranges) is given, and "learned (<method>)" per method.
    ``limits[method]`` evaluates a slow method on the first that many images only (its row
    says so, and lists the labeller on the same images for comparison). Returns (rows, label
    maps per row). ``u_alone``: the energies of the labeller trained alone, when ``u`` comes
    from one fine-tuned jointly with ``model``; the labeller and Potts rows then use it, and a
    "labeller (joint-tuned, alone)" row scores argmin u.
    """
    k = u.shape[-1]
    limits = limits or {}
    rows: dict[str, dict] = {}
    maps: dict[str, np.ndarray] = {}

    def row(truth_maps: np.ndarray, y: np.ndarray, ms: float = 0.0) -> dict:
        return {**scores(truth_maps, y, k), "ms_per_image": ms, "images": len(y)}

    alone = u if u_alone is None else u_alone
    maps["labeller"] = raw = alone.argmin(-1).numpy()
    rows["labeller"] = row(truth, raw)
    if u_alone is not None:
        rows["labeller (joint-tuned, alone)"] = row(truth, u.argmin(-1).numpy())
    if potts is not None:
        baseline, method, strength, ranges = potts
        y, ms = run_method(baseline, alone, method, progress, "potts")
        reach = "" if tuple(ranges) == (1,) else ", ranges " + "/".join(map(str, ranges))
        name = f"potts ({method}, λ={strength:g}{reach})"
        rows[name], maps[name] = row(truth, y, ms), y
    for method in methods:
        n = min(len(u), limits.get(method, len(u)))
        y, ms = run_method(model, u[:n], method, progress, f"learned ({method})")
        name = f"learned ({method})" + (f" [first {n}]" if n < len(u) else "")
        rows[name], maps[name] = row(truth[:n], y, ms), y
        if n < len(u):
            rows[f"labeller [first {n}]"] = row(truth[:n], raw[:n])
    return rows, maps


def format_table(rows: dict[str, dict], classes: Sequence[str], truth_fragments: float) -> str:
    """A Markdown table: pixel accuracy, mean IoU, per-class IoU, fragments, ms / image."""
    head = ["system", "images", "pixel acc", "mIoU", *[f"IoU {c}" for c in classes]]
    head += ["fragments", "ms/image"]
    rows_out = [
        [name, str(r["images"]), f"{100 * r['pixel_accuracy']:.2f}", f"{100 * r['mean_iou']:.2f}"]
        + [f"{100 * v:.1f}" for v in r["iou"]]
        + [f"{r['fragments']:.1f}", f"{r['ms_per_image']:.0f}"]
        for name, r in rows.items()
    ]
    truth = f"Ground truth: {truth_fragments:.1f} fragments per image on average."
    return markdown_table(head, rows_out) + "\n\n" + truth
