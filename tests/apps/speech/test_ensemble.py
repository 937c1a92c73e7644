"""Ensembles of acoustic models trained apart: combination on word strings, files, errors, CLI."""

import numpy as np
import pytest
import torch

from apps.speech import corpus
from apps.speech.api import CheckpointError, Recognition, SpeechRecognizer, _combined
from apps.speech.cli import main
from apps.speech.graphs import Topology
from apps.speech.network import TDNN
from factors.checkpoint import read_checkpoint, write_checkpoint

FORMAT = "ebgtn.speech.recognizer"


def recognizer(seed, width=8, kind="hmm", dither=0.0, word_penalty=0.0):
    torch.manual_seed(seed)
    top = Topology(kind)
    return SpeechRecognizer(TDNN(top.num_columns, width=width), top, 16.0, word_penalty, dither)


def read(words, hypotheses, energy=1.0):
    t = np.arange(len(words), dtype=float)
    return Recognition(words.split(), hypotheses[0][1] if hypotheses else 0.0, t, t + 1, energy,
                       hypotheses)  # fmt: skip


@pytest.fixture(scope="module")
def feats():
    g = torch.Generator().manual_seed(0)
    return [torch.randn(37, 40, generator=g), torch.randn(12, 40, generator=g)]


def test_the_answer_is_the_best_string_with_the_highest_mean_posterior():
    a = read("one two", [("one two", 0.5), ("one oh", 0.45), ("nine", 0.05)], energy=2.0)
    b = read("one oh", [("one oh", 0.6), ("one two", 0.1)], energy=4.0)
    r = _combined([a, b], num_hypotheses=2)
    # one oh: (0.45 + 0.6) / 2 = 0.525 beats one two: (0.5 + 0.1) / 2 = 0.3
    assert r.words == ["one", "oh"] and r.confidence == pytest.approx(0.525)
    assert r.hypotheses == [("one oh", pytest.approx(0.525)), ("one two", pytest.approx(0.3))]
    assert r.energy == 3.0 and r.starts is b.starts  # the times of the member that read it
    # a string no member read best is not chosen, however probable on the lists
    c = read("five", [("five", 0.4), ("six", 0.35)])
    d = read("seven", [("seven", 0.41), ("six", 0.35)])
    assert _combined([c, d], 0).words == ["seven"] and _combined([c, d], 0).hypotheses == []
    # a member that found no path adds nothing but lowers every mean
    lost = Recognition([], 0.0, np.zeros(0), np.zeros(0), float("inf"))
    r = _combined([lost, a], 1)
    assert r.words == ["one", "two"] and r.confidence == 0.25 and r.energy == 2.0
    assert _combined([lost, lost], 0) is lost


def test_an_ensemble_reads_with_each_member_and_combines(feats):
    a, b = recognizer(0), recognizer(1)
    both = SpeechRecognizer.combine([a, b])
    assert len(both.models) == 2 and both.model is a.model
    energies = both.energies(feats)
    for e, ea, eb in zip(energies, a.energies(feats), b.energies(feats), strict=True):
        assert e.shape == (2, *ea.shape)
        torch.testing.assert_close(e[0], ea)
        torch.testing.assert_close(e[1], eb)
    mine = both.decode_energies(energies, num_hypotheses=3)
    alone = [r.decode_energies(r.energies(feats), num_hypotheses=10) for r in (a, b)]
    for r, ra, rb in zip(mine, *alone, strict=True):
        expected = _combined([ra, rb], 3)
        assert (r.words, r.confidence, r.hypotheses) == (
            expected.words, expected.confidence, expected.hypotheses
        )  # fmt: skip
        assert len(r.hypotheses) <= 3
    with pytest.raises(ValueError, match="an ensemble has no single lattice"):
        both.decode_energies(energies, lattice=True)
    three = SpeechRecognizer.combine([both, recognizer(2)])  # an ensemble adds its members
    assert len(three.models) == 3 and three.energies(feats[:1])[0].shape[0] == 3


def test_two_copies_of_one_model_read_as_the_model(tiny_recognizer, tiny_corpus):
    rec, _ = tiny_recognizer
    twice = SpeechRecognizer.combine([rec, rec])
    audio = [u.audio for u in tiny_corpus.utterances[:4]]
    for r, r2 in zip(rec.recognize(audio, corpus.SAMPLE_RATE),
                     twice.recognize(audio, corpus.SAMPLE_RATE), strict=True):  # fmt: skip
        assert r.words == r2.words and r.confidence == pytest.approx(r2.confidence)
        np.testing.assert_allclose(r.starts, r2.starts)
        assert r.energy == pytest.approx(r2.energy)


def test_tuning_and_vtln_read_an_ensemble_like_one_model(tiny_recognizer, tiny_prepared):
    from apps.speech import tune, vtln

    rec, _ = tiny_recognizer
    twice = SpeechRecognizer.combine([rec, rec])
    sets = {"clean": tiny_prepared}
    assert tune.sweep(twice, sets, (0.0, 3.0)) == tune.sweep(rec, sets, (0.0, 3.0))
    feats = tiny_prepared.features[:4]

    def features_at(warp, which):  # the warp is ignored: every warp reads the same features
        return [feats[i] for i in which]

    groups = ["a", "a", "b", "b"]
    one, mine = (vtln.choose(r, features_at, groups, (0.9, 1.0))[1] for r in (rec, twice))
    assert [r.words for r in mine] == [r.words for r in one]
    assert [r.energy for r in mine] == pytest.approx([r.energy for r in one])


def test_save_load_round_trip(tmp_path, feats):
    both = SpeechRecognizer.combine([recognizer(0), recognizer(1, word_penalty=3.0)])
    assert both.word_penalty == 1.5  # the members' mean
    both.save(tmp_path / "e.pt")
    back = SpeechRecognizer.load(tmp_path / "e.pt")
    assert len(back.models) == 2 and back.word_penalty == 1.5
    for x, y in zip(both.energies(feats), back.energies(feats), strict=True):
        torch.testing.assert_close(x, y)


def test_a_file_written_before_ensembles_reads_as_one_model(tmp_path, feats):
    one = recognizer(0)
    one.save(tmp_path / "r.pt")
    payload = read_checkpoint(tmp_path / "r.pt", FORMAT)
    assert payload["config"]["model"].pop("members") == 1
    write_checkpoint(tmp_path / "old.pt", FORMAT, payload)
    back = SpeechRecognizer.load(tmp_path / "old.pt")
    assert len(back.models) == 1
    torch.testing.assert_close(back.energies(feats)[0], one.energies(feats)[0])


@pytest.mark.parametrize(
    "members, message",
    [
        (17, r"config\.model\.members = 17 is outside \[1, 16\]"),
        (3, r"weights do not fit the config \(model\.2\.\S+ missing"),
        (1, r"weights do not fit the config \(model\.body\.0\.weight missing"),
    ],
)
def test_a_file_that_misstates_its_members_is_refused(tmp_path, members, message):
    SpeechRecognizer.combine([recognizer(0), recognizer(1)]).save(tmp_path / "e.pt")
    payload = read_checkpoint(tmp_path / "e.pt", FORMAT)
    payload["config"]["model"]["members"] = members
    write_checkpoint(tmp_path / "bad.pt", FORMAT, payload)
    with pytest.raises(CheckpointError, match=message):
        SpeechRecognizer.load(tmp_path / "bad.pt")


@pytest.mark.parametrize(
    "others, message",
    [
        ([recognizer(1, kind="ctc")], "recogniser 1 has topology Topology"),
        ([recognizer(1), recognizer(2, dither=3e-4)], "recogniser 2 has dither 0.0003"),
        ([recognizer(1, width=16)], "model 1 has config"),
        ([], "an ensemble needs at least two acoustic models, got 1"),
    ],
)
def test_members_that_do_not_fit_are_named(others, message):
    with pytest.raises(ValueError, match=message):
        SpeechRecognizer.combine([recognizer(0), *others])


def test_cli_combines_and_decodes(tmp_path, capsys, tiny_recognizer, tiny_corpus):
    from scipy.io import wavfile

    rec, _ = tiny_recognizer
    rec.save(tmp_path / "a.pt")
    recognizer(1, width=32).save(tmp_path / "b.pt")
    e = tmp_path / "e.pt"
    assert main(["combine", str(tmp_path / "a.pt"), str(tmp_path / "b.pt"), "--out", str(e)]) == 2
    assert "topology" in capsys.readouterr().err  # b is untrained with another topology
    assert main(["combine", str(tmp_path / "a.pt"), str(tmp_path / "a.pt"), "--out", str(e)]) == 0
    assert "an ensemble of 2 acoustic models" in capsys.readouterr().out
    wavfile.write(tmp_path / "u.wav", corpus.SAMPLE_RATE, tiny_corpus.utterances[0].audio)
    assert main(["decode", str(tmp_path / "u.wav"), "--checkpoint", str(e), "--vtln"]) == 0
    assert "confidence" in capsys.readouterr().out
    assert main(["combine", str(tmp_path / "a.pt"), "--out", str(tmp_path / "x.pt")]) == 2
    assert "at least two acoustic models" in capsys.readouterr().err
