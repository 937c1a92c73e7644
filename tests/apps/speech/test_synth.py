"""The espeak-ng wrapper: plausible audio, monotone word events, distinct voices, clear errors."""

import sys

import numpy as np
import pytest

from apps.speech import features, synth


def test_audio_length_is_plausible_for_the_words():
    s = synth.synthesize("one two three", "en-us", rate=170, pitch=50)
    assert s.sample_rate == synth.ESPEAK_RATE
    assert s.audio.dtype == np.int16
    # three short words at 170 words per minute: about a second, certainly 0.4-3 s
    assert 0.4 < len(s.audio) / s.sample_rate < 3.0
    assert np.abs(s.audio).max() > 1000  # not silence


def test_faster_speech_is_shorter():
    slow = synth.synthesize("seven seven seven seven", "en-us", rate=120, pitch=50)
    fast = synth.synthesize("seven seven seven seven", "en-us", rate=220, pitch=50)
    assert len(fast.audio) < 0.8 * len(slow.audio)


def test_one_word_event_per_word_in_order():
    s = synth.synthesize("three seven oh nine", "en-gb-scotland+f2", rate=150, pitch=40)
    assert len(s.word_starts) == 4
    assert np.all(np.diff(s.word_starts) > 0)
    assert 0 <= s.word_starts[0] and s.word_starts[-1] < len(s.audio) / s.sample_rate


def _spectrum(voice: str) -> np.ndarray:
    s = synth.synthesize("five nine", voice, rate=170, pitch=50)
    return (
        features.log_mel_energies(features.as_16k(s.audio / 32768.0, s.sample_rate)).mean(0).numpy()
    )


def test_different_voices_differ_more_than_repeats_of_one_voice():
    # espeak-ng is not bit-exact between calls (its noise sources), so compare average spectra
    m1, again, f3 = _spectrum("en-us+m1"), _spectrum("en-us+m1"), _spectrum("en-us+f3")
    assert np.abs(m1 - f3).mean() > 3 * np.abs(m1 - again).mean()


def test_missing_synthesiser_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import now fails
    monkeypatch.setattr(synth, "_INSTANCE", None)
    with pytest.raises(synth.SynthesizerMissing, match="pip install espeakng-loader"):
        synth.synthesize("one")
