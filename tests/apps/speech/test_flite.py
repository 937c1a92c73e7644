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
