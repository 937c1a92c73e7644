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


def test_flite_voices_are_some_of_the_training_voices(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(festival.shutil, "which", lambda name: None)
    for bad in (("kal",), ("awb", "slt"), ()):
        with pytest.raises(ValueError, match="flite voices are some of awb,rms"):
            festival.flite_training(2, 0, cache_dir=tmp_path, voice_names=bad)
    argv = ["train", "--flite", "2", "--flite-voices", "awb,kal16", "--speakers", "2"]
    argv += ["--cache-dir", str(tmp_path), "--out", str(tmp_path / "o"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "flite voices are some of awb,rms" in err[0]
    # generate refuses festival's speakers too, before any synthesis
    argv = ["generate", "--flite-voice", "kal", "--utterances", "2", "--cache-dir", str(tmp_path)]
    assert main([*argv, "--data-dir", str(tmp_path / "kal"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "flite voices are some of awb,rms" in err[0]
    assert not (tmp_path / "kal").exists()


def test_generate_without_flite_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(festival.shutil, "which", lambda name: None)
    argv = ["generate", "--flite-voice", "rms", "--utterances", "2", "--cache-dir", str(tmp_path)]
    assert main([*argv, "--data-dir", str(tmp_path / "rms"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "flite is not installed" in err[0]
    assert not (tmp_path / "rms").exists()


@needs_flite
def test_one_flite_voice_keeps_its_utterances(tmp_path):
    # a voice asked for alone speaks what it speaks alongside the other (its roster place)
    both = festival.flite_training(2, 0, cache_dir=tmp_path)
    awb = festival.flite_training(2, 0, cache_dir=tmp_path, voice_names=("awb",))
    rms = festival.FLITE.load_or_generate(2, 0, ["rms"], cache_dir=tmp_path)["rms"].utterances
    assert [u.speaker for u in awb] == ["flite:awb"] * 2
    for u, v in zip(both, awb + rms, strict=True):
        assert u.speaker == v.speaker and u.words == v.words and np.array_equal(u.audio, v.audio)


@needs_flite
def test_generate_writes_a_flite_voice_as_a_data_directory(tmp_path, capsys):
    argv = ["generate", "--flite-voice", "rms", "--utterances", "3", "--cache-dir", str(tmp_path)]
    assert main([*argv, "--data-dir", str(tmp_path / "rms"), "--quiet"]) == 0
    assert "flite rms: 3 utterances" in capsys.readouterr().out
    test = corpus.from_data_dir(tmp_path / "rms")
    assert len(test) == 3 and test.speakers == {"flite:rms"}
    planned = festival.FLITE.plan(1, 3, 0, corpus.DEFAULT_SETTINGS)
    assert [u.words for u in test.utterances] == [words for words, _ in planned]
