"""The command line over Kaldi data directories: generate -> decode -> evaluate round trip,
decode's inputs (data directory, wav.scp, folder, files), and training on a data directory."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.io import wavfile

from apps.speech import corpus, evaluate, kaldi
from apps.speech.cli import main


def test_generate_decode_evaluate_round_trip(tmp_path, capsys, generated, tiny_recognizer):
    rec, _ = tiny_recognizer
    rec.save(tmp_path / "r.pt")
    data = kaldi.read_data_dir(generated)
    assert len(data) == 4 and all(w in corpus.WORDS for t in data.text.values() for w in t)
    argv = ["decode", str(generated), "--checkpoint", str(tmp_path / "r.pt")]
    assert main([*argv, "--out", str(tmp_path / "dec"), "--quiet"]) == 0
    hyps = kaldi.read_text(tmp_path / "dec" / "text")
    assert sorted(hyps) == data.utterances
    # the same audio recognised directly gives the same words
    direct = {u: rec.recognize([data.audio(u)], 16000)[0] for u in data.utterances}
    assert hyps == {u: tuple(r.words) for u, r in direct.items()}
    ctm = [line.split() for line in (tmp_path / "dec" / "ctm").read_text().splitlines()]
    assert len(ctm) == sum(len(w) for w in hyps.values())
    for utt, channel, start, dur, word, conf in ctm:
        assert channel == "1" and word in corpus.WORDS and 0 <= float(conf) <= 1
        assert 0 <= float(start) and float(start) + float(dur) <= data.seconds(utt) + 0.05
    assert [c[4] for c in ctm if c[0] == data.utterances[0]] == list(hyps[data.utterances[0]])
    capsys.readouterr()
    ref, hyp, spk = (str(p) for p in (generated / "text", tmp_path / "dec" / "text",
                                      generated / "utt2spk"))  # fmt: skip
    assert main(["evaluate", "--ref", ref, "--hyp", hyp, "--utt2spk", spk]) == 0
    out = capsys.readouterr().out
    want = evaluate.score_texts(data.text, hyps).total
    assert out.startswith(f"%WER {100 * want.wer:.2f} [ {want.errors} / {want.words},")
    assert all(f"| {s} |" in out for s in set(data.utt2spk.values()))


def test_evaluate_a_checkpoint_on_a_data_dir(tmp_path, capsys, generated, tiny_recognizer):
    rec, _ = tiny_recognizer
    rec.save(tmp_path / "r.pt")
    argv = ["evaluate", str(tmp_path / "r.pt"), "--data", str(generated), "--conditions", "clean"]
    assert main([*argv, "--out", str(tmp_path / "ev"), "--quiet"]) == 0
    text = (tmp_path / "ev" / "evaluation.md").read_text()
    assert text.startswith(f"4 test utterances from {generated}, 2 speakers")
    data = corpus.from_data_dir(generated)
    results = rec.recognize([u.audio for u in data.utterances], 16000)
    want = evaluate.score([u.text.split() for u in data.utterances], [r.words for r in results])
    assert f"| {want.wer:.2%} | {want.ser:.2%} |" in text
    assert len(list((tmp_path / "ev").glob("alignment_*.png"))) == 2


def test_decode_inputs_files_folders_and_wav_scp(tmp_path):
    audio = (np.sin(np.arange(4000) / 5) * 8000).astype(np.int16)
    (tmp_path / "wavs").mkdir()
    for name in ("b.wav", "a.WAV"):
        wavfile.write(tmp_path / "wavs" / name, 8000, np.stack([audio, audio], 1))
    (tmp_path / "notes.txt").write_text("not audio")
    wavfile.write(tmp_path / "my take.wav", 16000, audio)
    (tmp_path / "list.scp").write_text(f"r1 {tmp_path / 'wavs' / 'b.wav'}\n")
    items = kaldi.utterances_of(
        [tmp_path / "wavs", tmp_path / "my take.wav", tmp_path / "list.scp"]
    )
    assert [(u, label) for u, label, _ in items] == [
        ("a", str(tmp_path / "wavs" / "a.WAV")),
        ("b", str(tmp_path / "wavs" / "b.wav")),
        ("my_take", str(tmp_path / "my take.wav")),
        ("r1", "r1"),
    ]
    for utt, _, data in items:
        assert data.audio(utt).shape == ((8000,) if utt != "my_take" else (4000,))
    with pytest.raises(ValueError, match=r"b.wav: utterance id b is also given by"):
        kaldi.utterances_of([tmp_path / "wavs", tmp_path / "wavs" / "b.wav"])
    with pytest.raises(ValueError, match=r"notes.txt is not a WAV file"):
        kaldi.utterances_of([tmp_path / "notes.txt"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"empty: neither a data directory"):
        kaldi.utterances_of([tmp_path / "empty"])


def test_train_on_data_dirs(tmp_path, capsys, generated):
    train_dir = tmp_path / "train"
    argv = ["generate", "--utterances", "4", "--speakers", "2", "--quiet"]
    assert main([*argv, "--cache-dir", str(tmp_path / "c"), "--data-dir", str(train_dir)]) == 0
    common = ["--epochs", "1", "--losses", "ctc", "--width", "8", "--conditions", "clean",
              "--batch-size", "2", "--quiet", "--out", str(tmp_path / "out")]  # fmt: skip
    assert main(["train", "--data", str(train_dir), "--test-data", str(train_dir), *common]) == 2
    assert "speakers in both the training and the test data" in capsys.readouterr().err
    assert main(["train", "--data", str(train_dir), "--test-data", str(generated), *common]) == 0
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["config"]["train_data"] == str(train_dir)
    seconds = corpus.from_data_dir(train_dir).seconds()
    assert results["train_minutes_of_audio"] == pytest.approx(seconds / 60)
    assert (tmp_path / "out" / "ctc.pt").exists()


def test_tune_on_a_data_dir(tmp_path, capsys, generated, tiny_recognizer):
    from apps.speech.api import SpeechRecognizer

    rec, _ = tiny_recognizer
    rec.save(tmp_path / "r.pt")
    argv = ["tune", str(tmp_path / "r.pt"), "--data", str(generated), "--conditions", "clean"]
    assert main([*argv, "--penalties", "0,50", "--out", str(tmp_path / "t"), "--quiet"]) == 0
    report = (tmp_path / "t" / "tuning_r.md").read_text()
    assert f"on 4 dev utterances from {generated} of 2 speakers" in report
    data = corpus.from_data_dir(generated)
    energies = rec.energies([features_of(u.audio) for u in data.utterances])
    refs = [u.text.split() for u in data.utterances]
    wers = {}
    for p in (0.0, 50.0):
        hyps = [r.words for r in rec.decode_energies(energies, word_penalty=p)]
        wers[p] = evaluate.score(refs, hyps).wer
    best = min(wers, key=lambda p: (round(wers[p], 12), p))
    assert SpeechRecognizer.load(tmp_path / "t" / "r_tuned.pt").word_penalty == best
    assert f"| penalty 50 | {wers[50.0]:.2%} |" in report


def features_of(audio):
    from apps.speech import features

    return features.log_mel(audio)


def test_decode_runs_wav_scp_commands_only_when_allowed(
    tmp_path, capsys, generated, tiny_recognizer
):
    rec, _ = tiny_recognizer
    rec.save(tmp_path / "r.pt")
    piped = tmp_path / "piped"
    piped.mkdir()
    lines = (generated / "wav.scp").read_text().splitlines()
    (piped / "wav.scp").write_text(
        "".join(f"{u} cat {p} |\n" for u, p in (x.split(" ", 1) for x in lines))
    )
    argv = ["decode", "--checkpoint", str(tmp_path / "r.pt"), "--quiet"]
    assert main([*argv, str(piped), "--out", str(tmp_path / "a")]) == 2
    assert "--allow-wav-commands" in capsys.readouterr().err and not (tmp_path / "a").exists()
    assert main([*argv, str(piped), "--out", str(tmp_path / "a"), "--allow-wav-commands"]) == 0
    assert main([*argv, str(generated), "--out", str(tmp_path / "b")]) == 0
    assert (tmp_path / "a" / "text").read_text() == (tmp_path / "b" / "text").read_text()
    assert (tmp_path / "a" / "ctm").read_text() == (tmp_path / "b" / "ctm").read_text()


def test_training_corpora_from_data_dirs_pass_the_command_opt_in(tmp_path, generated):
    from dataclasses import replace

    from apps.speech.experiment import DEMO, load_corpora

    piped = tmp_path / "piped"
    piped.mkdir()
    for name in ("text", "utt2spk", "spk2utt"):
        (piped / name).write_text((generated / name).read_text().upper())
    scp = []
    for line in (generated / "wav.scp").read_text().splitlines():
        utt, path = line.split(" ", 1)
        scp.append(f"{utt.upper()} cat {path} |\n")  # upper-case ids: other speakers
    (piped / "wav.scp").write_text("".join(scp))
    config = replace(DEMO, train_data=str(piped), test_data=str(generated))
    with pytest.raises(ValueError, match="--allow-wav-commands"):
        load_corpora(config, progress=False)
    train, test = load_corpora(replace(config, allow_wav_commands=True), progress=False)
    assert [u.words for u in train.utterances] == [u.words for u in test.utterances]  # upper case
    np.testing.assert_array_equal(train.utterances[0].audio, test.utterances[0].audio)
