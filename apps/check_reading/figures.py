"""Figures for people: a field with its cuts and chosen path, the segmentation and
interpretation graphs (matplotlib, plus DOT text for Graphviz users), the error-reject curve.
Nothing here needs Graphviz."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from matplotlib.patches import Arc, Rectangle

import gtn
from decoders.rejection import ErrorRejectCurve, plot_error_reject
from gtn.composition import compose

from .._common.figures import plt, save_figure
from .amounts import ALPHABET, decode
from .model import NUM_CHARS, CheckReaderModel, interpretation_graph, make_batch
from .segment import Segmentation, normalised_view

DPI = 130  # fields are wide and thin: enough resolution to see single cuts


def best_reading(model: CheckReaderModel, seg: Segmentation):
    """(segment indices [L], labels [L], energies [S, 15]) of the Viterbi reading, found on the
    interpretation *transducer* (segment index : character) composed with the grammar, so the
    best path names its segments."""
    with torch.no_grad():
        energies = model.segment_energies(make_batch([seg]))
    if seg.num_segments == 0:
        return [], [], energies
    transducer = interpretation_graph(seg, energies, by_segment=True)
    path = gtn.best_path(compose(transducer, model.grammar))
    return path.ilabel.tolist(), path.olabel.tolist(), energies


def field_figure(
    image: np.ndarray,
    seg: Segmentation,
    model: CheckReaderModel,
    path: Path,
    truth: str | None = None,
    confidence: float | None = None,
) -> Path:
    """The field as the segmenter sees it (normalised), its candidate cuts (dashed), the
    segments of the chosen reading (boxes) and the reading with each character's energy."""
    chosen, labels, energies = best_reading(model, seg)
    image = normalised_view(image)
    fig, ax = plt.subplots(figsize=(max(4, image.shape[1] / 40), 2.6))
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    for x in seg.cuts:
        ax.axvline(x - 0.5, color="tab:blue", lw=0.8, ls="--", alpha=0.7)
    top, bottom = seg.band
    red = "tab:red"  # the chosen reading
    for s, c in zip(chosen, labels, strict=True):
        x0, x1 = seg.cuts[seg.start[s]], seg.cuts[seg.end[s]]
        ax.add_patch(
            Rectangle((x0 - 0.5, top - 0.5), x1 - x0, bottom - top, fill=False, color=red, lw=1.5)
        )
        label = f"{ALPHABET[c]}\n{float(energies[s, c]):.2f}"
        ax.text((x0 + x1) / 2, top - 2, label, ha="center", va="bottom", color=red, fontsize=8)
    title = f"read {decode(labels)!r}"
    if confidence is not None:
        title += f"  confidence {confidence:.3f}"
    if truth is not None:
        title += f"  (truth {truth!r})"
    ax.set_title(title.replace("$", r"\$"), fontsize=9, pad=22)  # "$" is not mathtext here
    ax.set_axis_off()
    return save_figure(fig, path, DPI)


def graphs_figure(seg: Segmentation, model: CheckReaderModel, path: Path) -> Path:
    """Top: the segmentation graph (one arc per candidate segment, over the cut positions).
    Bottom: the interpretation graph summarised by each segment's best character and energy
    (14 arcs per segment in full). The chosen reading's arcs are red."""
    chosen, labels, energies = best_reading(model, seg)
    on_path = dict(zip(chosen, labels, strict=True))
    fig, axes = plt.subplots(2, 1, figsize=(10, 6))
    x = seg.cuts.astype(float)
    span = max(x[-1] - x[0], 1) if x.size else 1
    titles = ("segmentation graph", "interpretation graph (best class/energy per segment arc)")
    for ax, title in zip(axes, titles, strict=True):
        for s in range(seg.num_segments):
            mid, w = (x[seg.start[s]] + x[seg.end[s]]) / 2, x[seg.end[s]] - x[seg.start[s]]
            color, lw = ("tab:red", 1.8) if s in on_path else ("0.6", 0.6)
            ax.add_patch(Arc((mid, 0), w, w * 0.8, theta1=0, theta2=180, color=color, lw=lw))
            if ax is axes[1]:
                c = on_path.get(s, int(energies[s, :NUM_CHARS].argmin()))
                label = f"{ALPHABET[c]}/{float(energies[s, c]):.1f}"
                ax.text(mid, w * 0.4, label, ha="center", va="bottom", fontsize=6, color=color)
        ax.plot(x, np.zeros_like(x), "o", color="k", ms=4)
        ax.set_xlim(x[0] - 0.05 * span, x[-1] + 0.05 * span)
        ax.set_ylim(-0.05 * span, 0.8 * span / 2 + 0.1 * span)
        ax.set_title(title, fontsize=9)
        ax.set_axis_off()
    return save_figure(fig, path, DPI)


def write_dot(seg: Segmentation, model: CheckReaderModel, folder: Path) -> list[Path]:
    """DOT text of the segmentation and interpretation graphs (render with Graphviz's dot)."""
    with torch.no_grad():
        energies = model.segment_energies(make_batch([seg]))
    graphs = {
        "segmentation_graph.dot": seg.graph(),
        "interpretation_graph.dot": interpretation_graph(seg, energies),  # named characters
    }
    return [gtn.draw(g, folder / name) for name, g in graphs.items()]


def error_reject_figure(curves: dict[str, ErrorRejectCurve], path: Path) -> Path:
    """Error rate against rejection rate, one line per system (percent of all fields)."""
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for name, curve in curves.items():
        plot_error_reject(curve, ax=ax, target_error=None, label=name)
    ax.axhline(1.0, color="0.5", ls=":", lw=1)
    ax.text(99, 1.0, "1% error", ha="right", va="bottom", fontsize=7, color="0.4")
    ax.set_xlabel("rejected fields (%)")
    ax.set_ylabel("accepted and wrong (% of all fields)")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.set_ylim(0, None)
    ax.legend(fontsize=8)
    ax.set_title("error-reject curve (test fields)", fontsize=9)
    return save_figure(fig, path, DPI)


def sdnn_figure(strip: np.ndarray, energies: torch.Tensor, path: Path, title: str = "") -> Path:
    """The space-displacement reader at work: the size-normalised strip [32, W] over its
    per-frame label posteriors exp(-energy) [T, 15] (blank first), frames aligned to columns."""
    post = torch.exp(-energies.detach()).numpy().T  # [15, T]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(4, strip.shape[1] / 25), 4.5))
    top.imshow(1 - strip, cmap="gray", aspect="auto", extent=(0, strip.shape[1], 32, 0))
    top.set_title(title, fontsize=9)
    top.set_yticks([])
    bottom.imshow(
        post, cmap="Greys", aspect="auto", extent=(0, 2 * post.shape[1], post.shape[0], 0)
    )
    bottom.set_yticks(np.arange(post.shape[0]) + 0.5, ["-", *ALPHABET], fontsize=7)
    bottom.set_xlabel("strip column (one frame per 2 columns); rows: label posteriors")
    return save_figure(fig, path, DPI)
