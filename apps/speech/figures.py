"""Figures for people: an utterance's spectrogram with the decoded word boundaries over the
synthesiser's true word starts, the frame energies of the best path, and training curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._common.figures import plt, save_figure
from . import features, noise
from .api import SpeechRecognizer
from .corpus import SAMPLE_RATE, WORDS, Utterance


def alignment_figure(
    utterance: Utterance,
    recognizer: SpeechRecognizer,
    path: str | Path,
    condition: str = "clean",
) -> Path:
    """Top: log-mel spectrogram with decoded words (shaded spans, labels above) and the true
    word starts (dashed red, true words below). Bottom: exp(-energy) of every emission column
    per frame (the model's column posteriors, an ensemble's first model's; lower energy =
    darker)."""
    path = Path(path)
    x = noise.apply(utterance.audio, condition, np.random.default_rng(0))
    feats = features.log_mel(x, recognizer.dither)
    energies = recognizer.energies([feats])[0].numpy()
    energies = energies[0] if energies.ndim == 3 else energies
    r = recognizer.recognize_features([feats])[0]
    seconds = len(x) / SAMPLE_RATE
    fig, (ax, bx) = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True, height_ratios=[3, 2])
    ax.imshow(feats.numpy().T, origin="lower", aspect="auto", cmap="magma",
              extent=(0, seconds, 0, feats.shape[1]))  # fmt: skip
    for k, (s, e, w) in enumerate(zip(r.starts, r.ends, r.words, strict=True)):
        ax.axvspan(s, e, color="cyan" if k % 2 == 0 else "lime", alpha=0.18)
        ax.axvline(s, color="cyan", lw=1.5)
        ax.text((s + e) / 2, feats.shape[1] + 1, w, ha="center", va="bottom", color="tab:blue")
    for t, w in zip(utterance.word_starts, utterance.words, strict=True):
        if not np.isfinite(t):  # recordings from a data directory carry no true word times
            continue
        ax.axvline(t, color="red", ls="--", lw=1.2)
        ax.text(t, -1, WORDS[w], ha="left", va="top", color="red", fontsize=8)
    ax.set_ylim(-4, feats.shape[1] + 5)
    ax.set_ylabel("mel band")
    ax.set_title(
        f"{utterance.speaker}, {f'{utterance.rate} wpm, ' if utterance.rate else ''}"
        f"{condition}: decoded '{r.text}' "
        f"(confidence {r.confidence:.3f}; blue: decoded, red dashed: true starts)",
        fontsize=9,
    )
    step = features.frame_seconds(recognizer.model.stride)
    bx.imshow(np.exp(-energies).T, origin="lower", aspect="auto", cmap="Greys",
              extent=(0, energies.shape[0] * step, 0, energies.shape[1]))  # fmt: skip
    bx.set_ylabel(f"{recognizer.topology.kind} column")
    bx.set_xlabel("seconds")
    return save_figure(fig, path)


def alignment_figures(corpus, recognizer: SpeechRecognizer, out: Path, name: str) -> list[Path]:
    """:func:`alignment_figure` of the first two utterances of ``corpus``, written to
    ``out/alignment_<name>_<i>.png``."""
    return [
        alignment_figure(u, recognizer, out / f"alignment_{name}_{i}.png")
        for i, u in enumerate(corpus.utterances[:2])
    ]


def training_figure(histories: dict[str, list[dict]], path: str | Path) -> Path:
    """Mean training loss per frame by epoch, one line per loss."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, hist in histories.items():
        ax.plot([h["epoch"] + 1 for h in hist], [h["loss"] for h in hist], "o-", label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss per frame")
    ax.set_yscale("log")
    ax.legend()
    return save_figure(fig, Path(path))
