"""Festival and flite: subprocess synthesisers speaking connected digits from recorded voices.

Festival (Debian ``festival`` with ``festvox-*`` voices) is the held-out synthesiser: diphone
and HTS voices built from recordings of real speakers, a different engine from espeak-ng. Its
audio is never used in training, tuning or model selection; it only makes evaluation rows that
tell whether the recogniser learned digits or learned espeak-ng.

Flite (Debian ``flite``, CMU's small C engine, "festival-lite") is an optional second
*training* engine (``--flite N``): only its awb and rms voices (:data:`FLITE_VOICES`). Flite
and festival come from the same group and share a front end (lexicon, letter-to-sound rules,
voice-building tools), so flite is not independent of festival; its awb and rms speakers are
not among festival's voices. Flite's kal, kal16 and slt voices are festival's kal_diphone and
slt speakers and must never be trained, tuned or selected on; awb_time is a talking clock.
Training on awb alone (``--flite-voices awb``) leaves rms as a dev voice that is not festival.

Utterances use the espeak corpus's word vocabulary and drawing rules (1-7 digits, a comma
pause between two digits with probability ``pause_rate``), one plan per voice, deterministic
in (engine, voice, n, seed). Audio is int16 at 16 kHz (resampled if a voice speaks at another
rate), cached on disk like the espeak corpora. Neither engine gives word times here:
``word_starts`` are NaN. Both are optional: :meth:`Engine.available` is False when the
program is not on the PATH; :data:`MISSING` is the one-line reason for skipped festival rows.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy.io import wavfile

from ..cache import cached, settings_key
from . import corpus, features
from .corpus import Corpus, CorpusSettings, Utterance
from .synth import SynthesizerMissing

VERSION = 1
SPLIT = "festival"
# Preferred order; :func:`voices` keeps those festival actually has (voice_list).
KNOWN_VOICES = ("kal_diphone", "ked_diphone", "cmu_us_slt_arctic_hts", "rab_diphone")
INSTALL = (
    "apt-get install festival festvox-kallpc16k festvox-kdlpc16k festvox-us-slt-hts "
    "(or `make speech-extras`)"
)
MISSING = f"festival's text2wave is not installed; skipping the festival rows: {INSTALL}"
# The only flite voices training may use: recorded speakers that festival's voices are not.
FLITE_VOICES = ("awb", "rms")
_VOICE_NAME = re.compile(r"^[a-z0-9_]+$")
_TIMEOUT_S = 60


class FestivalMissing(SynthesizerMissing):
    """A synthesiser's program (text2wave, festival, flite) is not on the PATH."""


def _program(name: str, missing: str = MISSING) -> str:
    path = shutil.which(name)
    if path is None:
        raise FestivalMissing(missing)
    return path


@dataclass(frozen=True)
class Engine:
    """A synthesiser run as a subprocess: ``program`` followed by ``arguments(voice, text file,
    WAV file)``. ``name`` is its corpora's split and speaker prefix; ``stream`` keeps its plans
    apart from the other engine's; a voice of ``roster`` keeps its place there as its plan's
    index whichever voices are asked for (others: their place in the request)."""

    name: str
    program: str
    missing: str
    arguments: Callable[[str, str, str], list[str]]
    stream: int
    roster: tuple[str, ...] = ()

    def available(self) -> bool:
        return shutil.which(self.program) is not None

    def check_voice(self, voice: str) -> str:
        if not isinstance(voice, str) or not _VOICE_NAME.match(voice):
            raise ValueError(f"{self.name} voice must be a name like 'kal_diphone', got {voice!r}")
        return voice

    def synthesize(self, text: str, voice: str) -> np.ndarray:
        """Speak ``text`` (words, commas for pauses) with ``voice``; int16 waveform [N] at
        16 kHz. Raises FestivalMissing (no program), ValueError (a bad voice name) or
        RuntimeError (the program failed, with its message, e.g. an unknown voice)."""
        self.check_voice(voice)
        program = _program(self.program, self.missing)
        with tempfile.TemporaryDirectory(prefix=f"ebgtn-{self.name}-") as tmp:
            txt, wav = Path(tmp) / "in.txt", Path(tmp) / "out.wav"
            txt.write_text(text + "\n")
            done = subprocess.run(
                [program, *self.arguments(voice, str(txt), str(wav))],
                capture_output=True,
                text=True,
                timeout=_TIMEOUT_S,
            )
            if done.returncode != 0 or not wav.exists() or wav.stat().st_size <= 44:
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                raise RuntimeError(
                    f"{self.program} failed for voice {voice!r} on {text!r}: {tail[0]}"
                )
            rate, audio = wavfile.read(wav)
        x = np.asarray(audio, np.float64)
        if x.ndim == 2:
            x = x.mean(1)
        if audio.dtype != np.int16:
            x = x / max(float(np.abs(x).max()), 1e-9) * 16384.0
        if rate != corpus.SAMPLE_RATE:
            x = features.as_16k(x, rate)
        return np.clip(np.round(x), -32768, 32767).astype(np.int16)

    def plan(self, voice_index: int, n: int, seed: int, settings: CorpusSettings) -> list[tuple]:
        """(words, text) of each of ``n`` utterances, drawn as the espeak corpus draws them."""
        rng = np.random.default_rng([seed, self.stream, voice_index])
        return [corpus.draw_words(rng, settings) for _ in range(n)]

    def _speak(self, vi: int, voice: str, n: int, seed: int, settings: CorpusSettings) -> Corpus:
        utts = [
            Utterance(words, self.synthesize(text, voice), np.full(len(words), np.nan),
                      f"{self.name}:{voice}", 0, 0)
            for words, text in self.plan(vi, n, seed, settings)
        ]  # fmt: skip
        return Corpus(self.name, utts)

    def load_or_generate(
        self, n: int, seed: int, voice_names, settings=corpus.DEFAULT_SETTINGS, cache_dir=None
    ) -> dict[str, Corpus]:
        """``n`` utterances per voice of ``voice_names``: voice -> Corpus (split ``name``,
        speaker "<name>:<voice>"), cached in the speech cache folder, one file per voice."""
        out = {}
        for i, voice in enumerate(self.check_voice(v) for v in voice_names):
            vi = self.roster.index(voice) if voice in self.roster else i
            key = settings_key({"voice": voice, "i": vi, "n": n, "seed": seed,
                                "settings": asdict(settings), "v": VERSION})  # fmt: skip
            out[voice] = cached(
                "speech",
                cache_dir,
                f"{self.name}-{voice}-{n}-{seed}-{key}.npz",
                lambda path: corpus._read(path, self.name),
                lambda vi=vi, voice=voice: self._speak(vi, voice, n, seed, settings),
                corpus._arrays,
            )
        return out


FESTIVAL = Engine(
    SPLIT, "text2wave", MISSING,
    lambda voice, txt, wav: ["-eval", f"(voice_{voice})", "-F", str(corpus.SAMPLE_RATE),
                             "-o", wav, txt],
    7,
)  # fmt: skip
FLITE = Engine(
    "flite", "flite",
    "flite is not installed (--flite and --flite-voice need it): apt-get install flite (or "
    "`make speech-extras`)",
    lambda voice, txt, wav: ["-voice", voice, "-f", txt, "-o", wav],
    8,
    FLITE_VOICES,
)  # fmt: skip
available, synthesize, plan = FESTIVAL.available, FESTIVAL.synthesize, FESTIVAL.plan


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


def load_or_generate(
    n: int,
    seed: int = 0,
    voice_names: list[str] | None = None,
    settings: CorpusSettings = corpus.DEFAULT_SETTINGS,
    cache_dir: str | os.PathLike | None = None,
) -> dict[str, Corpus]:
    """``n`` utterances per festival voice (default: every installed voice); see
    :meth:`Engine.load_or_generate`."""
    names = voices() if voice_names is None else voice_names
    return FESTIVAL.load_or_generate(n, seed, names, settings, cache_dir)


def flite_corpora(
    n: int,
    seed: int,
    settings: CorpusSettings = corpus.DEFAULT_SETTINGS,
    cache_dir=None,
    voice_names: tuple[str, ...] = FLITE_VOICES,
) -> dict[str, corpus.Corpus]:
    """``n`` utterances of each of ``voice_names``, some of :data:`FLITE_VOICES` (never flite's
    kal, kal16, slt: they are festival's held-out speakers): voice -> Corpus. Raises ValueError
    for another voice (before any synthesis), FestivalMissing without flite."""
    if not voice_names or set(voice_names) - set(FLITE_VOICES):
        raise ValueError(f"flite voices are some of {','.join(FLITE_VOICES)} (flite's kal, kal16 "
                         f"and slt are festival's held-out speakers), not "
                         f"{','.join(voice_names)!r}")  # fmt: skip
    _program(FLITE.program, FLITE.missing)
    return FLITE.load_or_generate(n, seed, voice_names, settings, cache_dir)


def flite_training(
    n: int,
    seed: int,
    settings: CorpusSettings = corpus.DEFAULT_SETTINGS,
    cache_dir=None,
    voice_names: tuple[str, ...] = FLITE_VOICES,
) -> list[Utterance]:
    """The utterances of :func:`flite_corpora` for training; none for ``n`` = 0."""
    if not n:
        return []
    corpora = flite_corpora(n, seed, settings, cache_dir, voice_names)
    return [u for c in corpora.values() for u in c.utterances]
