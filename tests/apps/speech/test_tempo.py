"""Test-time tempo normalisation: features played faster or slower by linear interpolation;
each speaker's rate is the one of least best-path energy per frame (frames counted as
T_r ** a * T_1 ** (1 - a)); per speaker or per utterance; the evaluate option."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from apps.speech import corpus, tempo
from apps.speech.cli import main

RATES = (0.9, 1.0, 1.1)


def test_resampling_interpolates_between_the_first_and_last_frames():
    x = torch.tensor([[0.0, 10.0], [1.0, 20.0], [3.0, 0.0]])  # [3, 2]
    slow = tempo.resample_frames(x, 0.6)  # 3 / 0.6 = 5 frames at times 0, 0.5, 1, 1.5, 2
    torch.testing.assert_close(slow[:, 0], torch.tensor([0.0, 0.5, 1.0, 2.0, 3.0]))
    torch.testing.assert_close(slow[:, 1], torch.tensor([10.0, 15.0, 20.0, 10.0, 0.0]))
    assert tempo.resample_frames(x, 1.5).shape == (2, 2)  # round(3 / 1.5)
    assert tempo.resample_frames(x, 1.0) is x
    assert tempo.resample_frames(x[:1], 0.5).tolist() == [[0.0, 10.0], [0.0, 10.0]]


def test_a_group_scores_its_energy_over_frames_mixed_from_the_resampled_and_original():
    energies = np.array([[11.0, 10.5, 9.2], [21.0, 20.0, 18.3]])  # summed: 32, 30.5, 27.5
    frames = np.array([[11.0, 10.0, 9.0], [22.0, 20.0, 18.0]])
    s = tempo.select_rates(energies, frames, ["a", "a"], RATES, exponent=0.5)
    # a = 0.5: sqrt(T_r * T_1) summed over the group's utterances
    want = [32.0 / (math.sqrt(110) + math.sqrt(440)), 30.5 / 30.0,
            27.5 / (math.sqrt(90) + math.sqrt(360))]  # fmt: skip
    np.testing.assert_allclose(s.scores[0], want)
    assert s.chosen == {"a": 1.1} and s.utterances == {"a": 2}
    # per resampled frame (a = 1) the same energies favour slowing down, per original frame
    # (a = 0) speeding up
    assert tempo.select_rates(energies, frames, ["a", "a"], RATES, 1.0).chosen["a"] == 0.9
    assert tempo.select_rates(energies, frames, ["a", "a"], RATES, 0.0).chosen["a"] == 1.1
    np.testing.assert_allclose(
        tempo.select_rates(energies, frames, ["a", "a"], RATES, 1.0).scores[0],
        [32.0 / 33.0, 30.5 / 30.0, 27.5 / 27.0],
    )


def test_ties_go_to_the_rate_nearest_one_and_a_rate_without_a_path_is_never_chosen():
    flat = np.ones((1, 3))
    assert tempo.select_rates(flat, flat, ["a"], RATES).chosen["a"] == 1.0
    equal_ends = np.array([[2.0, 3.0, 2.0]])
    assert tempo.select_rates(equal_ends, flat, ["a"], RATES).chosen["a"] == 0.9
    no_path = np.array([[5.0, math.inf, 1.0]])
    assert tempo.select_rates(no_path, flat, ["a"], RATES).chosen["a"] == 1.1
    assert tempo.select_rates(np.full((1, 3), math.inf), flat, ["a"], RATES).chosen["a"] == 1.0


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda: tempo.check_rates([]), "grid is empty"),
        (lambda: tempo.check_rates([1.0, 2.5]), r"rate 2.5 is outside \[0.5, 2\]"),
        (lambda: tempo.check_rates(["x"]), "rate 'x' is not a number"),
        (lambda: tempo.check_rates(np.linspace(0.5, 2, 200)), "200 rates, at most 101"),
        (lambda: tempo.resample_frames(torch.zeros(0, 40), 1.1), r"\[frames > 0, bands\]"),
        (lambda: tempo.resample_frames(torch.zeros(5, 40), 0.1), "rate 0.1 is outside"),
        (lambda: tempo.select_rates(np.ones((1, 2)), np.ones((1, 3)), ["a"], RATES),
         r"energies must be \[utterances, rates\] = \[1, 3\]"),
        (lambda: tempo.select_rates(np.ones((1, 3)), np.zeros((1, 3)), ["a"], RATES),
         "positive counts"),
        (lambda: tempo.select_rates(np.ones((1, 2)), np.ones((1, 2)), ["a"], (0.9, 1.1)),
         "must hold rate 1"),
    ],
)  # fmt: skip
def test_bad_rates_and_shapes_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


@pytest.mark.parametrize("played, lowest, highest", [(0.7, 1.25, 1.6), (1.0, 0.9, 1.1),
                                                     (1.4, 0.6, 0.8)])  # fmt: skip
def test_a_speaker_played_slower_or_faster_gets_roughly_the_inverse_rate(
    tiny_recognizer, tiny_prepared, played, lowest, highest
):
    rec, _ = tiny_recognizer
    feats = [tempo.resample_frames(f, played) for f in tiny_prepared.features]
    grid = (0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.25, 1.4, 1.6)
    s, results = tempo.choose(rec, feats, ["spk"] * len(feats), grid)
    assert lowest <= s.chosen["spk"] <= highest
    assert [r.rate for r in results] == [s.chosen["spk"]] * len(feats)


def test_each_group_is_decoded_as_recognize_features_does_at_its_rate(
    tiny_recognizer, tiny_prepared
):
    rec, _ = tiny_recognizer
    feats = [tempo.resample_frames(f, 0.7) if k < 2 else f
             for k, f in enumerate(tiny_prepared.features[:4])]  # fmt: skip
    groups = ["slow", "slow", "plain", "plain"]
    s, results = tempo.choose(rec, feats, groups, RATES)
    assert s.groups == ["slow", "plain"] and s.scores.shape == (2, 3)
    for k, r in enumerate(results):
        played = [tempo.resample_frames(f, s.chosen[groups[k]]) for f in feats]
        again = rec.recognize_features(played)[k]  # the same batch at the same rate
        assert (r.words, r.energy, r.rate) == (again.words, again.energy, s.chosen[groups[k]])
        stretch = (feats[k].shape[0] - 1) / (played[k].shape[0] - 1)  # times on feats' clock
        np.testing.assert_allclose(r.starts, again.starts * stretch)
    with pytest.raises(ValueError, match="4 utterances but 3 groups"):
        tempo.choose(rec, feats, groups[:3], RATES)


def test_word_times_are_on_the_clock_of_the_features_given(tiny_recognizer, tiny_prepared):
    # a speaker played 0.7 times as fast says each word 1 / 0.7 times later than the original
    rec, _ = tiny_recognizer
    plain = rec.recognize_features(tiny_prepared.features)
    slow = [tempo.resample_frames(f, 0.7) for f in tiny_prepared.features]
    _, results = tempo.choose(rec, slow, ["spk"] * len(slow), (1.0, 1.4))
    same = [(p, r) for p, r in zip(plain, results, strict=True) if p.words == r.words]
    assert len(same) >= len(plain) // 2 and all(r.rate == 1.4 for _, r in same)
    for p, r in same:
        np.testing.assert_allclose(r.starts, p.starts / 0.7, atol=0.05)


def test_cli_evaluate_adds_tempo_rows_alone_and_after_vtln(
    tmp_path, capsys, generated, tiny_recognizer
):
    from apps.speech import evaluate

    rec, _ = tiny_recognizer
    rec.save(tmp_path / "r.pt")
    argv = ["evaluate", str(tmp_path / "r.pt"), "--data", str(generated), "--conditions", "clean"]
    assert main([*argv, "--tempo", "--out", str(tmp_path / "t")]) == 0
    text = (tmp_path / "t" / "evaluation.md").read_text()
    assert "Rates chosen by r (word penalty 0) + tempo per speaker" in text
    listing = (tmp_path / "t" / "tempo_r.md").read_text()
    data = corpus.from_data_dir(generated)
    rows = [line for line in listing.splitlines()
            if line.startswith(tuple(f"| {s} |" for s in data.speakers))]  # fmt: skip
    rate = {r.split("|")[1].strip(): float(r.split("|")[3]) for r in rows}
    assert len(rate) == 2 and set(rate.values()) <= set(tempo.RATES)
    # the whole set is decoded in one batch at each rate
    feats = _clean_features(rec, data)
    at = {r: rec.recognize_features([tempo.resample_frames(f, r) for f in feats])
          for r in set(rate.values())}  # fmt: skip
    hyps = [at[rate[u.speaker]][k].words for k, u in enumerate(data.utterances)]
    want = evaluate.score([u.text.split() for u in data.utterances], hyps)
    assert f"| r (word penalty 0) + tempo per speaker | {want.wer:.2%} | {want.ser:.2%} |" in text
    # with --vtln: a VTLN row and a VTLN + tempo row
    out = tmp_path / "vt"
    assert main([*argv, "--vtln", "--warps", "0.9,1,1.1", "--tempo", "utterance",
                 "--out", str(out)]) == 0  # fmt: skip
    text = (out / "evaluation.md").read_text()
    assert "| r (word penalty 0) + VTLN per speaker |" in text
    assert "| r (word penalty 0) + VTLN per speaker + tempo per utterance |" in text
    assert (out / "vtln_r.md").exists() and (out / "tempo_r.md").exists()
    assert main(["evaluate", "--ref", "a", "--hyp", "b", "--tempo"]) == 2
    assert "--tempo goes with checkpoints" in capsys.readouterr().err


def _clean_features(rec, data):
    from apps.speech import features
    from apps.speech.data import condition_waveform

    waves = [condition_waveform(u.audio, "clean", 0, k) for k, u in enumerate(data.utterances)]
    return [features.log_mel(x, rec.dither) for x in waves]


def test_cli_decode_chooses_a_rate_per_speaker_and_after_the_warp(
    tmp_path, capsys, generated, tiny_recognizer
):
    from apps.speech import api, features, kaldi

    rec, _ = tiny_recognizer
    rec.save(tmp_path / "r.pt")
    argv = ["decode", str(generated), "--checkpoint", str(tmp_path / "r.pt")]
    assert main([*argv, "--tempo", "--out", str(tmp_path / "t")]) == 0
    out = capsys.readouterr().out
    data = kaldi.read_data_dir(generated)
    spk2rate = {s: float(r[0]) for s, r in kaldi.read_text(tmp_path / "t" / "spk2rate").items()}
    assert sorted(spk2rate) == sorted(set(data.utt2spk.values())) and len(spk2rate) == 2
    hyps = kaldi.read_text(tmp_path / "t" / "text")
    for spk, rate in spk2rate.items():
        # a speaker's utterances are decoded together, in one batch, at its rate
        utts = [u for u in data.utterances if data.utt2spk[u] == spk]
        feats = [features.log_mel(api.check_waveform(data.audio(u), 0), rec.dither) for u in utts]
        want = rec.recognize_features([tempo.resample_frames(f, rate) for f in feats])
        assert [hyps[u] for u in utts] == [tuple(r.words) for r in want]
        assert f"\trate {rate:g}" in out
    assert "Tempo: 2 speakers" in out
    # word times are on the recording's clock: every CTM word ends within its utterance
    for line in (tmp_path / "t" / "ctm").read_text().splitlines():
        utt, _, start, duration = line.split()[:4]
        assert float(start) + float(duration) <= len(data.audio(utt)) / 16000 + 0.03
    # after VTLN per utterance, with n-best lists: both tables
    more = ["--vtln", "utterance", "--warps", "0.9,1,1.1", "--tempo", "--nbest", "2"]
    assert main([*argv, *more, "--out", str(tmp_path / "vt")]) == 0
    out = capsys.readouterr().out
    assert sorted(kaldi.read_text(tmp_path / "vt" / "utt2warp")) == data.utterances
    assert len(kaldi.read_text(tmp_path / "vt" / "spk2rate")) == 2
    assert "n-best" in out and "\twarp " in out and "\trate " in out
