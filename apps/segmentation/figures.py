"""Pictures for people: input, ground truth, raw labelling and cleaned labellings side by side,
and the learned interaction tables. Files are written atomically."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.colors import ListedColormap

from .._common.figures import plt, save_figure

# nucleus, nuclear membrane, cytoplasm, cell wall, external medium / ground, horse
PALETTES = {
    5: ["#1f4e9c", "#f28e2b", "#59a14f", "#e15759", "#d9d2c5"],
    2: ["#222222", "#f1ce63"],
}


def _cmap(k: int) -> ListedColormap:
    return ListedColormap(PALETTES.get(k, plt.get_cmap("tab10").colors[:k]))


def comparison_figure(
    images: np.ndarray,
    truth: np.ndarray | None,
    maps: dict[str, np.ndarray],
    classes: Sequence[str],
    path: Path,
    rows: int = 4,
) -> Path:
    """One row per image: input, ground truth (if given), then each labelling in ``maps``
    (name -> [N, H, W]); the first ``rows`` images."""
    k = len(classes)
    n = min(rows, len(images), *(len(m) for m in maps.values()))
    columns = ["input"] + (["ground truth"] if truth is not None else []) + list(maps)
    fig, axes = plt.subplots(
        n, len(columns), figsize=(2.1 * len(columns), 2.1 * n * images.shape[1] / images.shape[2])
    )
    axes = np.atleast_2d(axes)
    for r in range(n):
        panels = [images[r]] + ([truth[r]] if truth is not None else [])
        panels += [m[r] for m in maps.values()]
        for c, (title, panel) in enumerate(zip(columns, panels, strict=True)):
            ax = axes[r, c]
            if c == 0:
                ax.imshow(panel, cmap="gray", vmin=0, vmax=1)
            else:
                ax.imshow(panel, cmap=_cmap(k), vmin=-0.5, vmax=k - 0.5, interpolation="nearest")
                if truth is not None and c > 1:
                    err = 100 * float((panel != truth[r]).mean())
                    ax.set_xlabel(f"{err:.1f}% wrong", fontsize=7)
            if r == 0:
                ax.set_title(title, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=_cmap(k)(i), label=name) for i, name in enumerate(classes)
    ]
    fig.legend(handles=handles, loc="lower center", ncol=k, fontsize=7, frameon=False)
    return save_figure(fig, path)


def tables_figure(tables: dict[str, np.ndarray], classes: Sequence[str], path: Path) -> Path:
    """The learned pairwise tables V_d[y_i, y_j] (rows: first pixel, lower is better), four
    directions per row of the figure (one row per coupling distance)."""
    cols = min(4, len(tables))
    rows = -(-len(tables) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(tables) :]:
        ax.axis("off")
    axes = axes.flat[: len(tables)]
    top = max(float(np.abs(t).max()) for t in tables.values()) or 1.0
    short = [c.split()[-1][:5] for c in classes]
    for ax, (name, t) in zip(axes, tables.items(), strict=True):
        im = ax.imshow(t, cmap="RdBu_r", vmin=-top, vmax=top)
        ax.set_title(name, fontsize=8)
        ax.set_xticks(range(len(classes)), short, fontsize=6, rotation=90)
        ax.set_yticks(range(len(classes)), short, fontsize=6)
    fig.colorbar(im, ax=list(axes), shrink=0.8, label="energy (lower is better)")
    return save_figure(fig, path)
