"""Scoring hypothesis text files against reference ones, as Kaldi's compute-wer does:
substitution / insertion / deletion counts, SER, missing hypotheses and a speaker breakdown."""

from __future__ import annotations

import numpy as np
import pytest

from apps.speech import evaluate
from apps.speech.cli import main


def test_counts_agree_with_the_edit_distance_and_the_lengths():
    rng = np.random.default_rng(0)
    for _ in range(300):
        ref = list(rng.integers(0, 4, rng.integers(0, 7)))
        hyp = list(rng.integers(0, 4, rng.integers(0, 7)))
        e = evaluate.word_errors(ref, hyp)
        assert e.errors == evaluate.edit_distance(ref, hyp)
        assert e.correct + e.substitutions + e.deletions == len(ref)
        assert e.correct + e.substitutions + e.insertions == len(hyp)
        assert e.wrong == (ref != hyp)


def test_compute_wer_lines_and_missing_hypotheses_as_deletions():
    refs = {"a": "one two three".split(), "b": "four five".split(), "c": "six".split()}
    hyps = {"a": "one two three".split(), "b": "four five five".split()}  # c is missing
    s = evaluate.score_texts(refs, hyps)
    t = s.total
    assert (t.words, t.substitutions, t.insertions, t.deletions) == (6, 0, 1, 1)
    assert s.missing == ["c"] and (t.wrong, t.utterances) == (2, 3)
    lines = evaluate.format_scoring(s).splitlines()
    assert lines[:3] == [
        "%WER 33.33 [ 2 / 6, 1 ins, 1 del, 0 sub ]",
        "%SER 66.67 [ 2 / 3 ]",
        "Scored 3 sentences, 1 not present in hyp.",
    ]
    assert lines[3] == "Missing hypotheses (scored as deletions): c"


def test_per_speaker_breakdown():
    refs = {"s1-a": ["one"], "s1-b": ["two"], "s2-a": ["three", "four"]}
    hyps = {"s1-a": ["one"], "s1-b": ["nine"], "s2-a": ["three", "four"]}
    s = evaluate.score_texts(refs, hyps, {"s1-a": "s1", "s1-b": "s1", "s2-a": "s2"})
    assert s.by_speaker["s1"].substitutions == 1 and s.by_speaker["s1"].wer == 0.5
    assert s.by_speaker["s2"].errors == 0 and s.by_speaker["s2"].words == 2
    table = evaluate.format_scoring(s)
    assert "| s1 | 2 | 2 | 50.0 | 50.0 | 0.0 | 0.0 | 50.00 | 50.00 |" in table
    assert "| **all** | 3 | 4 | 75.0 | 25.0 | 0.0 | 0.0 | 25.00 | 33.33 |" in table


def test_a_hypothesis_without_a_reference_names_its_line():
    with pytest.raises(ValueError, match=r"hyp:2: utterance z has no reference"):
        evaluate.score_texts({"a": ["one"]}, {"a": ["one"], "z": []}, None, {"z": "hyp:2"})


def test_cli_scores_text_files(tmp_path, capsys):
    (tmp_path / "ref").write_text("s1-a one two\ns1-b three\ns2-a four\n")
    (tmp_path / "hyp").write_text("s1-a one\ns2-a four four\n")
    (tmp_path / "utt2spk").write_text("s1-a s1\ns1-b s1\ns2-a s2\n")
    argv = ["evaluate", "--ref", str(tmp_path / "ref"), "--hyp", str(tmp_path / "hyp")]
    assert (
        main([*argv, "--utt2spk", str(tmp_path / "utt2spk"), "--out", str(tmp_path / "wer")]) == 0
    )
    out = capsys.readouterr().out
    assert "%WER 75.00 [ 3 / 4, 1 ins, 2 del, 0 sub ]" in out
    assert "1 not present in hyp" in out and "| s2 | 1 | 1 |" in out
    assert (tmp_path / "wer").read_text().startswith("%WER 75.00")
    (tmp_path / "hyp").write_text("s1-a one\ns1-a two\n")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{tmp_path / 'hyp'}:2: duplicate id s1-a" in err
    assert main(["evaluate", "--ref", str(tmp_path / "ref")]) == 2
    assert "--ref TEXT and --hyp TEXT" in capsys.readouterr().err
