"""The held-out synthesiser: connected digits spoken by Festival's voices, for evaluation only.

Festival (Debian ``festival`` with ``festvox-*`` voices) is a different synthesis engine from
espeak-ng: diphone and HTS voices built from recordings of real speakers. Its audio is never
used in training, tuning or model selection; it only makes evaluation rows that tell whether
the recogniser learned digits or learned espeak-ng.

Utterances use the espeak corpus's word vocabulary and drawing rules (1-7 digits, a comma
pause between two digits with probability ``pause_rate``), one plan per voice, deterministic
in (voice, n, seed). Audio is int16 at 16 kHz (``text2wave -F 16000``, resampled if a voice
ignores it), cached on disk like the espeak corpora. Festival gives no word times through
``text2wave``: ``word_starts`` are NaN.

Festival is optional: :func:`available` is False when ``text2wave`` is not on the PATH, and
callers skip the festival rows with :data:`MISSING` as the one-line reason.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from ..cache import cached, settings_key
from . import corpus, features
from .corpus import Corpus, CorpusSettings, Utterance

VERSION = 1
SPLIT = "festival"
# Preferred order; :func:`voices` keeps those festival actually has (voice_list).
KNOWN_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts", "rab_diphone")
INSTALL = (
    "apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts "
    "(or `make speech-extras`)"
)
MISSING = f"festival's text2wave is not installed; skipping the festival rows: {INSTALL}"
_VOICE_NAME = re.compile(r"^[a-z0-9_]+$")
_TIMEOUT_S = 60


class FestivalMissing(RuntimeError):
    """text2wave (or festival) is not on the PATH."""


def available() -> bool:
    """True when festival's ``text2wave`` is installed."""
    return shutil.which("text2wave") is not None


def _program(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise FestivalMissing(MISSING)
    return path


def voices() -> list[str]:
    """The festival voices installed here (``(voice.list)``), known ones first.

    Raises:
        FestivalMissing: festival is not installed.
    """
    out = subprocess.run(
        [_program("festival"), "--batch", "(print (voice.list))"],
        capture_output=True,
        text=True,
        timeout=_TIMEOUT_S,
        check=True,
    ).stdout
    found = re.findall(r"[a-z0-9_]+", out)
    return [v for v in KNOWN_VOICES if v in found] + sorted(set(found) - set(KNOWN_VOICES))


def _check_voice(voice: str) -> str:
    if not isinstance(voice, str) or not _VOICE_NAME.match(voice):
        raise ValueError(f"festival voice must be a name like 'kal_diphone', got {voice!r}")
    return voice


def synthesize(text: str, voice: str) -> np.ndarray:
    """Speak ``text`` with festival ``voice``; int16 waveform [N] at 16 kHz.

    Args:
        text: words separated by spaces, commas for pauses (e.g. "three seven, oh nine").
        voice: a festival voice name (see :func:`voices`), selected by ``(voice_NAME)``.

    Raises:
        FestivalMissing: text2wave is not installed; ValueError: a bad voice name;
        RuntimeError: text2wave failed (its message, e.g. an unknown voice).
    """
    _check_voice(voice)
    program = _program("text2wave")
    with tempfile.TemporaryDirectory(prefix="ebgtn-festival-") as tmp:
        wav = Path(tmp) / "out.wav"
        done = subprocess.run(
            [program, "-eval", f"(voice_{voice})", "-F", str(corpus.SAMPLE_RATE), "-o", str(wav)],
            input=text,
            capture_output=True,
            text=True,
            timeout=_TIMEOUT_S,
        )
        if done.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            raise RuntimeError(f"text2wave failed for voice {voice!r} on {text!r}: {tail[0]}")
        rate, audio = wavfile.read(wav)
    x = np.asarray(audio, np.float64)
    if x.ndim == 2:
        x = x.mean(1)
    if audio.dtype != np.int16:
        x = x / max(float(np.abs(x).max()), 1e-9) * 16384.0
    if rate != corpus.SAMPLE_RATE:
        x = features.as_16k(x, rate)
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def plan(voice_index: int, n: int, seed: int, settings: CorpusSettings) -> list[tuple]:
    """(words, text) of each of ``n`` utterances, drawn as the espeak corpus draws them."""
    rng = np.random.default_rng([seed, 7, voice_index])
    return [corpus.draw_words(rng, settings) for _ in range(n)]


def _speak_voice(vi: int, voice: str, n: int, seed: int, settings: CorpusSettings) -> Corpus:
    utts = [
        Utterance(words, synthesize(text, voice), np.full(len(words), np.nan),
                  f"festival:{voice}", 0, 0)
        for words, text in plan(vi, n, seed, settings)
    ]  # fmt: skip
    return Corpus(SPLIT, utts)


def _key(voice: str, vi: int, n: int, seed: int, settings: CorpusSettings) -> str:
    return settings_key({"voice": voice, "i": vi, "n": n, "seed": seed,
                         "settings": asdict(settings), "v": VERSION})  # fmt: skip


def load_or_generate(
    n: int,
    seed: int = 0,
    voice_names: list[str] | None = None,
    settings: CorpusSettings = corpus.DEFAULT_SETTINGS,
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, Corpus]:
    """``n`` utterances per festival voice (default: every installed voice): voice -> Corpus
    (split "festival", speaker "festival:<voice>"), cached in the speech cache folder, one
    file per voice."""
    names = voices() if voice_names is None else [_check_voice(v) for v in voice_names]
    out = {}
    for vi, voice in enumerate(names):
        out[voice] = cached(
            "speech",
            cache_dir,
            f"festival-{voice}-{n}-{seed}-{_key(voice, vi, n, seed, settings)}.npz",
            lambda path: corpus._read(path, SPLIT),
            lambda vi=vi, voice=voice: _speak_voice(vi, voice, n, seed, settings),
            corpus._arrays,
        )
    return out
