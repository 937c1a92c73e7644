"""A TIDIGITS-like corpus of connected spoken digits synthesised by espeak-ng, cached on disk.

Vocabulary: zero, oh, one ... nine (11 words); utterances of 1-7 digits, drawn uniformly.
A *speaker* is an espeak voice (an English accent) with a variant (m1.., f1.., klatt.., ...).
Each utterance also draws a rate (120-220 words per minute), a pitch (20-80) and, with
probability ``pause_rate`` between two digits, a comma (a short pause).

The split is by speaker and fixed: speaker (voice i, variant j) is a test speaker when
(i + 2 j) % 5 == 0 (one speaker in five; every voice and every variant is seen in training,
but never a test combination). :func:`generate` asserts that no test speaker appears in a
training corpus and no training speaker in a test corpus.

Audio is stored clean, int16 at 16 kHz with the synthesiser's word start times; noise and the
telephone band (:mod:`.noise`) are applied when features are made. Corpora are keyed by
(split, size, seed, settings, format version) and written atomically.
"""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from gtn.utils import atomic_write

from ..cache import cached, member, settings_key
from . import kaldi, synth
from .features import SAMPLE_RATE, as_16k

VERSION = 1
WORDS = ("zero", "oh", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
VOICES = (
    "en-us",
    "en",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-029",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-us-nyc",
)
VARIANTS = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "f1", "f2", "f3", "f4", "f5",
    "klatt", "klatt2", "klatt3", "klatt4", "croak", "Andy", "john", "linda", "steph", "paul",
    "robert", "benjamin", "ian", "edward", "grandma", "aunty", "max",
)  # fmt: skip
_SPLIT_CODE = {"train": 1, "test": 2}


def speaker_split(voice: int, variant: int) -> str:
    """ "test" for one (voice, variant) combination in five, else "train" (see module doc)."""
    return "test" if (voice + 2 * variant) % 5 == 0 else "train"


def speakers(split: str) -> list[str]:
    """Speaker names ("voice+variant") of ``split``, in a fixed order."""
    if split not in _SPLIT_CODE:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return [
        f"{v}+{w}"
        for i, v in enumerate(VOICES)
        for j, w in enumerate(VARIANTS)
        if speaker_split(i, j) == split
    ]


@dataclass(frozen=True)
class CorpusSettings:
    """How utterances are drawn. ``speakers``: use only the first n speakers of the split
    (None: all); tiny corpora for tests use 2."""

    min_digits: int = 1
    max_digits: int = 7
    min_rate: int = 120
    max_rate: int = 220
    min_pitch: int = 20
    max_pitch: int = 80
    pause_rate: float = 0.15
    speakers: int | None = None


DEFAULT_SETTINGS = CorpusSettings()


@dataclass(frozen=True)
class Utterance:
    """One utterance: ``words`` indices into :data:`WORDS`; ``audio`` int16 [N] at 16 kHz;
    ``word_starts`` [len(words)] seconds (espeak's word events)."""

    words: tuple[int, ...]
    audio: np.ndarray
    word_starts: np.ndarray
    speaker: str
    rate: int
    pitch: int

    @property
    def text(self) -> str:
        return " ".join(WORDS[w] for w in self.words)


@dataclass
class Corpus:
    split: str
    utterances: list[Utterance]

    def __len__(self) -> int:
        return len(self.utterances)

    @property
    def speakers(self) -> set[str]:
        return {u.speaker for u in self.utterances}

    def seconds(self) -> float:
        return sum(len(u.audio) for u in self.utterances) / SAMPLE_RATE


def draw_words(rng: np.random.Generator, settings: CorpusSettings) -> tuple[tuple[int, ...], str]:
    """(word indices, text for the synthesiser) of one utterance: a number of digits, each
    followed by a comma (a pause) with probability ``pause_rate`` unless it is the last."""
    length = int(rng.integers(settings.min_digits, settings.max_digits + 1))
    words = tuple(int(w) for w in rng.integers(0, len(WORDS), length))
    pauses = rng.random(length) < settings.pause_rate
    text = " ".join(WORDS[w] + ("," if p and k < length - 1 else "") for k, (w, p) in
                    enumerate(zip(words, pauses, strict=True)))  # fmt: skip
    return words, text


def _plan(split: str, n: int, seed: int, settings: CorpusSettings) -> list[tuple]:
    """The (words, text, speaker, rate, pitch) of each utterance: deterministic in the key."""
    pool = speakers(split)
    if settings.speakers is not None:
        pool = pool[: settings.speakers]
    rng = np.random.default_rng([seed, _SPLIT_CODE[split]])
    plan = []
    for _ in range(n):
        words, text = draw_words(rng, settings)
        speaker = pool[int(rng.integers(len(pool)))]
        rate = int(rng.integers(settings.min_rate, settings.max_rate + 1))
        pitch = int(rng.integers(settings.min_pitch, settings.max_pitch + 1))
        plan.append((words, text, speaker, rate, pitch))
    return plan


def _speak(item: tuple) -> Utterance:
    words, text, speaker, rate, pitch = item
    s = synth.synthesize(text, speaker, rate, pitch)
    if len(s.word_starts) != len(words):
        raise RuntimeError(
            f"espeak reported {len(s.word_starts)} word events for {len(words)} words in {text!r}"
        )
    audio = as_16k(s.audio, s.sample_rate)
    audio = np.clip(np.round(audio), -32768, 32767).astype(np.int16)
    return Utterance(words, audio, s.word_starts, speaker, rate, pitch)


def generate(
    split: str,
    n: int,
    seed: int,
    settings: CorpusSettings = DEFAULT_SETTINGS,
    workers: int = 2,
    progress: bool = False,
) -> Corpus:
    """Synthesise ``n`` utterances of ``split`` ("train" or "test"). What is said, by whom, how
    fast and how high is deterministic in (split, n, seed, settings); the audio nearly so
    (espeak-ng's noise sources differ slightly between calls; the cache fixes it).
    ``workers`` > 1 synthesises in that many processes (each initialises its own espeak-ng,
    which is not thread-safe)."""
    plan = _plan(split, n, seed, settings)
    bar = dict(total=n, desc=f"synthesising {split}", disable=not progress, leave=False)
    if workers > 1 and n >= 4 * workers:
        # fork, not spawn: spawn re-imports the caller's __main__; each worker still
        # initialises its own espeak-ng (:func:`synth.forget`) instead of sharing a copy
        with multiprocessing.get_context("fork").Pool(workers, synth.forget) as pool:
            utts = list(tqdm(pool.imap(_speak, plan, chunksize=16), **bar))
    else:
        utts = [_speak(item) for item in tqdm(plan, **bar)]
    corpus = Corpus(split, utts)
    check_split(corpus)
    return corpus


def check_split(corpus: Corpus) -> None:
    """Raise AssertionError if ``corpus`` holds a speaker of the other split."""
    allowed = set(speakers(corpus.split))
    stray = sorted(corpus.speakers - allowed)
    assert not stray, f"{corpus.split} corpus holds speakers of the other split: {stray[:5]}"


def cache_key(split: str, n: int, seed: int, settings: CorpusSettings) -> str:
    return settings_key(
        {"split": split, "n": n, "seed": seed, "settings": asdict(settings), "v": VERSION}
    )


def load_or_generate(
    split: str,
    n: int,
    seed: int,
    settings: CorpusSettings = DEFAULT_SETTINGS,
    cache_dir: str | os.PathLike | None = None,
    workers: int = 2,
    progress: bool = False,
) -> Corpus:
    """:func:`generate` through an on-disk cache (``cache_dir=None``: the default folder)."""

    def read(path: Path) -> Corpus:
        corpus = _read(path, split)
        check_split(corpus)
        return corpus

    return cached(
        "speech",
        cache_dir,
        f"{split}-{n}-{seed}-{cache_key(split, n, seed, settings)}.npz",
        read,
        lambda: generate(split, n, seed, settings, workers, progress),
        _arrays,
    )


def _arrays(corpus: Corpus) -> dict[str, np.ndarray]:
    us = corpus.utterances
    return {
        "words": np.array([w for u in us for w in u.words], np.int8),
        "num_words": np.array([len(u.words) for u in us], np.int64),
        "starts": np.concatenate([u.word_starts for u in us]) if us else np.zeros(0),
        "samples": np.array([len(u.audio) for u in us], np.int64),
        "audio": np.concatenate([u.audio for u in us]) if us else np.zeros(0, np.int16),
        "speakers": np.array([u.speaker for u in us]),
        "rates": np.array([u.rate for u in us], np.int64),
        "pitches": np.array([u.pitch for u in us], np.int64),
    }


def _read(path: Path, split: str) -> Corpus:
    """The corpus of a cache file written from :func:`_arrays`; ValueError (the file is then
    regenerated) unless every member has the rank, kind and length the others imply."""
    with np.load(path, allow_pickle=False) as z:
        samples = member(z, "samples", "iu", (None,))
        n = len(samples)
        num_words = member(z, "num_words", "iu", (n,))
        if min(samples.min(initial=0), num_words.min(initial=0)) < 0:
            raise ValueError("cache members samples and num_words hold negative counts")
        total_words, total_samples = int(num_words.sum()), int(samples.sum())
        words = member(z, "words", "iu", (total_words,))
        starts = member(z, "starts", "f", (total_words,))
        audio = member(z, "audio", "iuf", (total_samples,))
        names = member(z, "speakers", "U", (n,))
        rates, pitches = member(z, "rates", "iu", (n,)), member(z, "pitches", "iu", (n,))
    w_off = np.concatenate([[0], np.cumsum(num_words)])
    a_off = np.concatenate([[0], np.cumsum(samples)])
    utts = [
        Utterance(
            tuple(int(x) for x in words[w_off[i] : w_off[i + 1]]),
            audio[a_off[i] : a_off[i + 1]],
            starts[w_off[i] : w_off[i + 1]],
            str(names[i]),
            int(rates[i]),
            int(pitches[i]),
        )
        for i in range(len(samples))
    ]
    return Corpus(split, utts)


# -- Kaldi data directories: the one path for synthetic and real recordings ------------------


def word_ids(words, where: str) -> tuple[int, ...]:
    """Indices into :data:`WORDS` of a transcript's words (case is ignored); ValueError naming
    ``where`` (a file and line) for a word outside the vocabulary."""
    ids = []
    for w in words:
        k = _WORD_ID.get(w.lower())
        if k is None:
            raise ValueError(
                f"{where}: the word {w!r} is not in the recogniser's vocabulary ({' '.join(WORDS)})"
            )
        ids.append(k)
    return tuple(ids)


_WORD_ID = {w: i for i, w in enumerate(WORDS)}


class DataUtterance:
    """An utterance of a Kaldi data directory, with :class:`Utterance`'s fields. ``audio``
    (float64 [N] at 16 kHz) is read from disk each time it is asked for, so a corpus never
    holds all its audio; ``word_starts`` are NaN (a data directory has no word times);
    ``rate`` and ``pitch`` are 0 (unknown)."""

    rate = 0
    pitch = 0

    def __init__(self, data: kaldi.DataDir, utt_id: str, words: tuple[int, ...]):
        self.data, self.utt_id, self.words = data, utt_id, words
        self.speaker = data.utt2spk[utt_id]
        self.word_starts = np.full(len(words), np.nan)

    @property
    def audio(self) -> np.ndarray:
        return self.data.audio(self.utt_id)

    @property
    def text(self) -> str:
        return " ".join(WORDS[w] for w in self.words)


@dataclass
class DataCorpus(Corpus):
    """A :class:`Corpus` read from a Kaldi data directory (``data``); ``split`` is the
    directory's name. Speakers and durations come from its tables and WAV headers."""

    data: kaldi.DataDir | None = None

    def seconds(self) -> float:
        """Seconds of audio (utterances made by wav.scp commands are not counted: their
        length is known only once they have run)."""
        return sum(self.data.seconds(u.utt_id) or 0.0 for u in self.utterances)


def from_data_dir(
    path: str | os.PathLike,
    allow_commands: bool = False,
    command_timeout: float = kaldi.COMMAND_TIMEOUT,
) -> DataCorpus:
    """The utterances of a Kaldi data directory with their transcripts (see :mod:`.kaldi`),
    in Kaldi's sorted order; every word must be in :data:`WORDS` (ValueError naming the
    ``text`` file and line otherwise). Audio is read when an utterance's ``audio`` is."""
    data = kaldi.read_data_dir(path, allow_commands, True, command_timeout)
    _, lines = kaldi.read_text(data.path / kaldi.TEXT, with_lines=True)
    utts = [DataUtterance(data, u, word_ids(data.text[u], lines[u])) for u in data.utterances]
    return DataCorpus(Path(path).name or str(path), utts, data)


def write_data_dir(corpus: Corpus, path: str | os.PathLike) -> Path:
    """Write ``corpus`` as a Kaldi data directory: ``wav/<utterance-id>.wav`` (16-bit, 16 kHz)
    and ``wav.scp`` (absolute paths, as Kaldi's recipes write them), ``text``, ``utt2spk``,
    ``spk2utt``. Utterance ids are ``<speaker>-<split>-<index>`` (the speaker first, so that
    ``utt2spk`` and ``spk2utt`` sort alike, as Kaldi requires). Returns the folder."""
    from scipy.io import wavfile

    folder = Path(path)
    (folder / "wav").mkdir(parents=True, exist_ok=True)
    wav, text, utt2spk = {}, {}, {}
    for i, u in enumerate(corpus.utterances):
        utt = f"{u.speaker}-{corpus.split}-{i:05d}"
        file = (folder / "wav" / f"{utt}.wav").resolve()
        audio = np.asarray(u.audio)
        if audio.dtype != np.int16:
            audio = np.clip(np.round(audio * 32768.0), -32768, 32767).astype(np.int16)
        with atomic_write(file, "wb") as f:
            wavfile.write(f, SAMPLE_RATE, audio)
        wav[utt], text[utt], utt2spk[utt] = str(file), [WORDS[w] for w in u.words], u.speaker
    kaldi.write_data_dir(folder, wav, text, utt2spk)
    return folder
