"""flite as a second training engine: only its awb and rms voices, one clear error when it is
asked for and missing, and its utterances in the training corpus (never the test one)."""

import numpy as np
import pytest

from apps.speech import corpus, experiment, festival
from apps.speech.cli import main

needs_flite = pytest.mark.skipif(not festival.FLITE.available(), reason=festival.FLITE.missing)
TINY = dict(train_utterances=4, test_utterances=2, speakers=2, workers=1)


def test_training_voices_are_not_festivals_speakers():
    # flite's kal, kal16 and slt are festival's kal_diphone and slt speakers (held out)
    assert set(festival.FLITE_VOICES) == {"awb", "rms"}
    assert festival.FLITE.plan(0, 20, 0, corpus.DEFAULT_SETTINGS) != festival.plan(
        0, 20, 0, corpus.DEFAULT_SETTINGS
    )


def test_missing_flite_is_one_line_before_any_synthesis(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(festival.shutil, "which", lambda name: None)
    assert festival.flite_training(0, 0) == []
    with pytest.raises(festival.FestivalMissing, match="apt-get install flite"):
        festival.flite_training(2, 0, cache_dir=tmp_path)
    argv = ["train", "--flite", "2", "--train-utterances", "4", "--test-utterances", "2"]
    argv += ["--speakers", "2", "--cache-dir", str(tmp_path), "--out", str(tmp_path / "o")]
    assert main([*argv, "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "flite is not installed" in err[0]
    assert not list(tmp_path.glob("*.npz"))  # no espeak corpus was synthesised first


@needs_flite
def test_flite_utterances_join_training_only(tmp_path):
    config = experiment.Config(**TINY, flite=2, cache_dir=str(tmp_path))
    train_set, test_set = experiment.load_corpora(config, progress=False)
    flite = [u for u in train_set.utterances if u.speaker.startswith("flite:")]
    assert {u.speaker for u in flite} == {"flite:awb", "flite:rms"} and len(flite) == 4
    assert len(train_set) == 4 + 4 and not any("flite" in s for s in test_set.speakers)
    for u in flite:
        assert u.audio.dtype == np.int16 and np.abs(u.audio).max() > 1000
        assert 0.2 < len(u.audio) / corpus.SAMPLE_RATE < 8.0 and np.isnan(u.word_starts).all()
    again, _ = experiment.load_corpora(config, progress=False)  # from the cache
    for u, v in zip(train_set.utterances, again.utterances, strict=True):
        assert u.words == v.words and np.array_equal(u.audio, v.audio)


def _f0(audio: np.ndarray) -> float:
    """Median autocorrelation pitch (Hz) of the loud 40 ms frames: crude, enough to compare."""
    sr, frame, out = corpus.SAMPLE_RATE, 640, []
    for start in range(0, len(audio) - frame, 160):
        w = audio[start : start + frame].astype(np.float64)
        w -= w.mean()
        if np.sqrt((w**2).mean()) < 500:
            continue
        ac = np.correlate(w, w, "full")[frame - 1 :]
        lag = sr // 400 + int(np.argmax(ac[sr // 400 : sr // 60]))
        if ac[lag] > 0.5 * ac[0]:
            out.append(sr / lag)
    return float(np.median(out))


def test_flite_draws_espeaks_rate_and_pitch_per_utterance_deterministically():
    s = corpus.DEFAULT_SETTINGS
    draws = festival.FLITE.prosody_plan(0, 50, 3, s)
    assert draws == festival.FLITE.prosody_plan(0, 50, 3, s)
    assert draws != festival.FLITE.prosody_plan(1, 50, 3, s)  # each voice its own draws
    assert len(set(draws)) > 40
    assert all(s.min_rate <= r <= s.max_rate and s.min_pitch <= p <= s.max_pitch for r, p in draws)
    assert festival.FESTIVAL.prosody_plan(0, 5, 3, s) == [(0, 0)] * 5  # festival: its own voice


@needs_flite
def test_two_flite_utterances_of_one_voice_get_different_durations_and_pitches():
    s, text = corpus.DEFAULT_SETTINGS, "seven seven four oh eight"
    slow_low, fast_high = (
        festival.FLITE.synthesize(text, "awb", festival.FLITE.prosody(rate, pitch, s))
        for rate, pitch in ((s.min_rate, s.min_pitch), (s.max_rate, s.max_pitch))
    )
    ratio = len(slow_low) / len(fast_high)
    assert 0.8 * s.max_rate / s.min_rate < ratio < 1.2 * s.max_rate / s.min_rate
    assert _f0(fast_high) / _f0(slow_low) > 1.8  # espeak's pitch 20 to 80: f0 x 2 ** 1.2
