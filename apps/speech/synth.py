"""A thin ctypes wrapper around the espeak-ng speech synthesiser (from the espeakng-loader wheel).

:func:`synthesize` speaks a text with one voice, variant, rate and pitch and returns the
waveform (int16 at :data:`ESPEAK_RATE` Hz) with each word's start time from espeak's word
events. The library is process-global and not thread-safe: each process initialises it once
(:func:`_library`), and parallel generation uses processes, never threads.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

ESPEAK_RATE = 22050  # espeak-ng's output sample rate (checked at initialisation)

# speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_CHARS_UTF8 = 1
_OK = 0


class _Event(ctypes.Structure):
    """``espeak_EVENT`` (speak_lib.h): audio_position is in ms from the start of the text."""

    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


class SynthesizerMissing(RuntimeError):
    """espeak-ng cannot be loaded."""


@dataclass(frozen=True)
class Speech:
    """One synthesised utterance: ``audio`` int16 [N] at ``sample_rate`` Hz; ``word_starts``
    float [W] seconds, one per word event, non-decreasing."""

    audio: np.ndarray
    sample_rate: int
    word_starts: np.ndarray


class _Espeak:
    """The initialised library plus the buffers its callback fills."""

    def __init__(self):
        try:
            import espeakng_loader
        except ImportError:
            raise SynthesizerMissing(
                "the speech app synthesises its corpus with espeak-ng: "
                "pip install espeakng-loader (or pip install 'ebgtn[apps]')"
            ) from None
        try:
            lib = ctypes.CDLL(espeakng_loader.get_library_path())
        except OSError as err:
            raise SynthesizerMissing(
                f"cannot load libespeak-ng ({err}): reinstall it with "
                "pip install --force-reinstall espeakng-loader"
            ) from None
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        lib.espeak_SetSynthCallback.argtypes = [_CALLBACK]
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.argtypes = [
            ctypes.c_char_p,
            ctypes.c_size_t,
            ctypes.c_uint,
            ctypes.c_int,
            ctypes.c_uint,
            ctypes.c_uint,
            ctypes.POINTER(ctypes.c_uint),
            ctypes.c_void_p,
        ]
        data = espeakng_loader.get_data_path().encode()
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data, 0)
        if rate != ESPEAK_RATE:
            raise SynthesizerMissing(f"espeak-ng failed to initialise (returned {rate})")
        self.lib = lib
        self.chunks: list[np.ndarray] = []
        self.word_ms: list[int] = []
        self.callback = _CALLBACK(self._on_audio)  # kept alive: espeak holds the pointer
        lib.espeak_SetSynthCallback(self.callback)

    def _on_audio(self, wav, numsamples, events) -> int:
        if numsamples > 0:
            self.chunks.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
        i = 0
        while events[i].type != _EVENT_LIST_TERMINATED:
            if events[i].type == _EVENT_WORD:
                self.word_ms.append(events[i].audio_position)
            i += 1
        return 0  # continue synthesis

    def speak(self, text: str, voice: str, rate: int, pitch: int) -> Speech:
        lib = self.lib
        if lib.espeak_SetVoiceByName(voice.encode()) != _OK:
            raise ValueError(f"espeak-ng has no voice {voice!r}")
        lib.espeak_SetParameter(_PARAM_RATE, int(rate), 0)
        lib.espeak_SetParameter(_PARAM_PITCH, int(pitch), 0)
        self.chunks, self.word_ms = [], []
        blob = text.encode()
        status = lib.espeak_Synth(blob, len(blob) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
        if status != _OK:
            raise RuntimeError(f"espeak_Synth failed with status {status} on {text!r}")
        audio = np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.int16)
        return Speech(audio, ESPEAK_RATE, np.asarray(self.word_ms, np.float64) / 1000.0)


_INSTANCE: _Espeak | None = None


def _library() -> _Espeak:
    global _INSTANCE
    if _INSTANCE is None:
        _INSTANCE = _Espeak()
    return _INSTANCE


def forget() -> None:
    """Drop this process's espeak-ng handle (a forked worker then initialises its own)."""
    global _INSTANCE
    _INSTANCE = None


def synthesize(text: str, voice: str = "en-us", rate: int = 170, pitch: int = 50) -> Speech:
    """Speak ``text`` with espeak-ng.

    Args:
        text: words separated by spaces (e.g. "three seven oh nine").
        voice: a voice name with an optional variant, e.g. "en-us+m3" or "en-gb-scotland+f2".
        rate: speaking rate in words per minute (espeak accepts 80-450).
        pitch: base pitch, 0-100 (50 is the voice's normal pitch).

    Returns:
        :class:`Speech` with the int16 waveform at 22,050 Hz and the word start times (s).

    Raises:
        SynthesizerMissing: espeak-ng is not installed; ValueError: unknown voice.
    """
    return _library().speak(text, voice, rate, pitch)
