"""Test-time vocal-tract-length normalisation: each speaker's filterbank warp is the one of
least best-path energy per frame; per speaker (utt2spk) or per utterance; the CLI options."""

from __future__ import annotations

import math

import numpy as np
import pytest

from apps.speech import corpus, kaldi, vtln
from apps.speech.augment import speed_perturb
from apps.speech.cli import main

WARPS = (0.9, 1.0, 1.1)


def test_a_group_scores_its_summed_energy_over_its_summed_frames():
    # a short utterance favours warp 0.9 and a long one 1.0; pooled per frame the long one
    # weighs nine times more (0.92 / 0.82 / 1.00), whereas the mean of the utterances'
    # energies per frame (0.6 / 0.9 / 1.0) would pick 0.9
    energies = np.array([[2.0, 10.0, 10.0], [90.0, 72.0, 90.0], [5.0, 5.0, 1.0]])
    s = vtln.select_warps(energies, np.array([10, 90, 5]), ["a", "a", "b"], WARPS)
    assert s.groups == ["a", "b"] and s.utterances == {"a": 2, "b": 1}
    np.testing.assert_allclose(s.scores, [[0.92, 0.82, 1.0], [1.0, 1.0, 0.2]])
    assert s.chosen == {"a": 1.0, "b": 1.1}


def test_ties_go_to_the_warp_nearest_one_and_a_warp_without_a_path_is_never_chosen():
    flat = np.ones((1, 3))
    assert vtln.select_warps(flat, [4], ["a"], WARPS).chosen["a"] == 1.0
    assert vtln.select_warps(flat[:, [0, 2]], [4], ["a"], (0.9, 1.1)).chosen["a"] == 0.9
    no_path = np.array([[math.inf, 5.0, 1.0], [2.0, 5.0, math.inf]])
    assert vtln.select_warps(no_path, [4, 4], ["a", "a"], WARPS).chosen["a"] == 1.0
    nothing = np.full((1, 3), math.inf)
    assert vtln.select_warps(nothing, [4], ["a"], WARPS).chosen["a"] == 1.0


@pytest.mark.parametrize(
    "bad, message",
    [
        (lambda: vtln.select_warps(np.ones((2, 2)), [1, 1], ["a", "b"], WARPS), r"\[2, 3\]"),
        (lambda: vtln.select_warps(np.ones((1, 3)), [0], ["a"], WARPS), "positive counts"),
        (lambda: vtln.check_grid([]), "grid is empty"),
        (lambda: vtln.check_grid([1.0, 2.5]), r"warp 2.5 is outside \[0.5, 2\]"),
        (lambda: vtln.check_grid([float("nan")]), "warp nan is outside"),
        (lambda: vtln.parse_grid("0.8:1.2"), "start:stop:step, got '0.8:1.2'"),
        (lambda: vtln.parse_grid("0.8,x"), "comma-separated numbers"),
        (lambda: vtln.parse_grid("0.4:1.2:0.1"), r"warp 0.4 is outside"),
        (lambda: vtln.parse_grid("0.5:2:0.001"), "start:stop:step"),
        (lambda: vtln.check_grid(np.linspace(0.5, 2, 200)), "200 warps, at most 101"),
        (lambda: vtln.group_keys(["a"], 2), "1 speakers for 2 utterances"),
        (lambda: vtln.group_keys(["a"], 1, "room"), "grouping must be one of speaker"),
    ],
)
def test_bad_grids_and_groupings_are_named(bad, message):
    with pytest.raises(ValueError, match=message):
        bad()


def test_grids_parse_from_lists_and_ranges():
    assert vtln.parse_grid("0.8:1.2:0.04") == vtln.GRID
    assert len(vtln.GRID) == 11 and vtln.GRID[5] == 1.0
    assert vtln.parse_grid(" 1.1,0.9,1,0.9 ") == WARPS


def test_grouping_is_by_speaker_or_by_utterance():
    assert vtln.group_keys(["s1", "s2", "s1"], 3) == ["s1", "s2", "s1"]
    assert vtln.group_keys(["s1", "s2", "s1"], 3, "utterance") == ["0", "1", "2"]
    assert vtln.group_keys(None, 2) == ["0", "1"]


@pytest.mark.parametrize("speed, lowest, highest", [(0.8, 1.1, 1.3), (1.0, 0.95, 1.05),
                                                    (1.25, 0.7, 0.9)])  # fmt: skip
def test_a_speaker_whose_spectrum_is_scaled_gets_roughly_the_inverse_warp(
    tiny_recognizer, tiny_corpus, speed, lowest, highest
):
    # playing the training speakers' audio `speed` times faster scales every frequency (and
    # formant) by `speed`; the warp that reads them as trained is about 1 / speed
    rec, _ = tiny_recognizer
    waves = [speed_perturb(u.audio / 32768.0, speed) for u in tiny_corpus.utterances]
    grid = vtln.parse_grid("0.7:1.3:0.05")
    results, s = rec.recognize_vtln(waves, 16000, ["spk"] * len(waves), grid)
    assert lowest <= s.chosen["spk"] <= highest
    assert [r.warp for r in results] == [s.chosen["spk"]] * len(waves)
    best = int(np.argmin(s.scores[0]))
    assert s.scores[0, best] < s.scores[0, grid.index(1.0)] or s.chosen["spk"] == 1.0


def test_vtln_decodes_each_speaker_as_recognize_does_at_its_warp(tiny_recognizer, tiny_corpus):
    rec, _ = tiny_recognizer
    utts = tiny_corpus.utterances[:4]
    waves = [speed_perturb(u.audio / 32768.0, 1.2) if k < 2 else u.audio
             for k, u in enumerate(utts)]  # fmt: skip
    speakers = ["fast", "fast", "plain", "plain"]
    results, s = rec.recognize_vtln(waves, 16000, speakers, WARPS)
    assert s.groups == ["fast", "plain"]
    for k, r in enumerate(results):
        # the same batch at the same warp (padding in a batch moves the energies a little)
        again = rec.recognize(waves, 16000, warp=s.chosen[speakers[k]])[k]
        assert (r.words, r.energy, r.warp) == (again.words, again.energy, again.warp)
    # per utterance, every utterance is its own group
    _, per = rec.recognize_vtln(waves, 16000, None, WARPS)
    assert per.groups == ["0", "1", "2", "3"]
    # what was asked for is decoded at the chosen warp too
    asked, _ = rec.recognize_vtln(waves[:1], 16000, None, WARPS, num_hypotheses=2, lattice=True)
    assert asked[0].lattice is not None and asked[0].hypotheses
    with pytest.raises(ValueError, match="warp 3 is outside"):
        rec.recognize(waves[:1], 16000, warp=3)
    with pytest.raises(ValueError, match="3 speakers for 4 utterances"):
        rec.recognize_vtln(waves, 16000, speakers[:3], WARPS)


def test_cli_decode_chooses_a_warp_per_utt2spk_speaker(tmp_path, capsys, generated,
                                                      tiny_recognizer):  # fmt: skip
    from apps.speech.api import SpeechRecognizer

    rec, _ = tiny_recognizer
    rec.save(tmp_path / "r.pt")
    argv = ["decode", str(generated), "--checkpoint", str(tmp_path / "r.pt"), "--vtln"]
    assert main([*argv, "--warps", "0.9,1,1.1", "--out", str(tmp_path / "d")]) == 0
    out = capsys.readouterr().out
    data = kaldi.read_data_dir(generated)
    spk2warp = {s: float(w[0]) for s, w in kaldi.read_text(tmp_path / "d" / "spk2warp").items()}
    assert sorted(spk2warp) == sorted(set(data.utt2spk.values())) and len(spk2warp) == 2
    hyps = kaldi.read_text(tmp_path / "d" / "text")
    loaded = SpeechRecognizer.load(tmp_path / "r.pt")
    assert set(spk2warp.values()) <= set(WARPS)
    for spk, warp in spk2warp.items():
        # a speaker's utterances are decoded together, in one batch
        utts = [u for u in data.utterances if data.utt2spk[u] == spk]
        want = loaded.recognize([data.audio(u) for u in utts], 16000, warp=warp)
        assert [hyps[u] for u in utts] == [tuple(r.words) for r in want]
        assert f"\twarp {warp:g}" in out
    assert "VTLN: 2 speakers" in out
    # per utterance: a warp per utterance, written as utt2warp
    argv[-1:] = ["--vtln", "utterance", "--out", str(tmp_path / "u"), "--quiet"]
    assert main(argv) == 0
    assert sorted(kaldi.read_text(tmp_path / "u" / "utt2warp")) == data.utterances


def test_cli_refuses_warps_without_vtln_and_bad_grids(tmp_path, capsys, generated,
                                                     tiny_recognizer):  # fmt: skip
    rec, _ = tiny_recognizer
    rec.save(tmp_path / "r.pt")
    argv = ["decode", str(generated), "--checkpoint", str(tmp_path / "r.pt"), "--quiet"]
    assert main([*argv, "--warps", "0.9,1"]) == 2
    assert "--warps goes with --vtln" in capsys.readouterr().err
    assert main([*argv, "--vtln", "--warps", "0.9:1.1"]) == 2
    assert "start:stop:step, got '0.9:1.1'" in capsys.readouterr().err
    assert main(["evaluate", "--ref", "a", "--hyp", "b", "--vtln"]) == 2
    assert "--vtln goes with checkpoints" in capsys.readouterr().err


def test_cli_evaluate_adds_a_vtln_row_and_its_warps(tmp_path, capsys, generated, tiny_recognizer):
    from apps.speech import evaluate

    rec, _ = tiny_recognizer
    rec.save(tmp_path / "r.pt")
    argv = ["evaluate", str(tmp_path / "r.pt"), "--data", str(generated), "--conditions", "clean"]
    assert main([*argv, "--vtln", "--warps", "0.9,1,1.1", "--out", str(tmp_path / "ev")]) == 0
    text = (tmp_path / "ev" / "evaluation.md").read_text()
    assert "| r (word penalty 0) + VTLN per speaker |" in text
    assert "Warps chosen by r (word penalty 0) + VTLN per speaker" in text
    listing = (tmp_path / "ev" / "vtln_r.md").read_text()
    data = corpus.from_data_dir(generated)
    speakers = sorted(data.speakers)
    starts = tuple(f"| {s} |" for s in speakers)
    rows = [line for line in listing.splitlines() if line.startswith(starts)]
    assert len(rows) == 2
    warp = {r.split("|")[1].strip(): float(r.split("|")[3]) for r in rows}
    # the whole set is decoded in one batch at each warp
    audio = [u.audio for u in data.utterances]
    at = {w: rec.recognize(audio, 16000, warp=w) for w in set(warp.values())}
    hyps = [at[warp[u.speaker]][k].words for k, u in enumerate(data.utterances)]
    want = evaluate.score([u.text.split() for u in data.utterances], hyps)
    assert f"| r (word penalty 0) + VTLN per speaker | {want.wer:.2%} | {want.ser:.2%} |" in text
