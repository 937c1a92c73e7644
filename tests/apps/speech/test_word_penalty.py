"""The word-insertion penalty: exact energies, its effect, persistence, the dev set's speakers."""

import math

import numpy as np
import pytest
import torch

import decoders
import gtn
from apps._common.checkpoint import CheckpointError
from apps.speech import corpus, tune
from apps.speech.api import SpeechRecognizer
from apps.speech.cli import main
from apps.speech.graphs import Topology, with_word_penalty
from apps.speech.network import TDNN
from factors.checkpoint import write_checkpoint

from .conftest import TINY


@pytest.mark.parametrize("kind", ["hmm", "ctc"])
def test_penalty_adds_exactly_penalty_per_output_word(kind):
    top = Topology(kind, states_per_word=2)
    plain, penalised = top.decoding_graph, with_word_penalty(top.decoding_graph, 2.5)
    words = np.asarray(plain.olabel) != gtn.EPSILON
    delta = (penalised.weight - plain.weight).numpy()
    assert words.any() and np.all(delta[words] == 2.5) and np.all(delta[~words] == 0)
    assert not penalised.weight.requires_grad
    torch.testing.assert_close(penalised.final_weight, plain.final_weight)
    e = torch.from_numpy(np.random.default_rng(1).normal(0, 2, (14, top.num_columns)))
    for graph, p in ((plain, 0.0), (penalised, 2.5)):
        r = decoders.decode(e, graph, beam=math.inf)
        path = float(e[torch.arange(14), torch.as_tensor(r.alignment)].sum())
        assert r.energy == pytest.approx(path + p * len(r.best.words), abs=1e-9)


def test_a_large_penalty_decodes_fewer_words(tiny_recognizer, tiny_prepared):
    rec, _ = tiny_recognizer
    feats = tiny_prepared.features
    count = {
        p: sum(len(r.words) for r in rec.recognize_features(feats, word_penalty=p))
        for p in (0.0, 1e4)
    }
    assert count[0.0] > 0 and count[1e4] < count[0.0]
    assert count[1e4] == 0  # silence alone is a complete path of the HMM grammar
    assert rec.word_penalty == 0.0  # the override did not stick
    with pytest.raises(ValueError, match="word_penalty"):
        rec.recognize_features(feats[:1], word_penalty=-1.0)


def test_checkpoint_keeps_the_penalty(tmp_path, tiny_recognizer, tiny_prepared):
    rec, _ = tiny_recognizer
    tuned = SpeechRecognizer(rec.model, rec.topology, word_penalty=3.5)
    tuned.save(tmp_path / "t.pt")
    back = SpeechRecognizer.load(tmp_path / "t.pt")
    assert back.word_penalty == 3.5
    assert SpeechRecognizer.load(tmp_path / "t.pt", word_penalty=1.0).word_penalty == 1.0
    feats = tiny_prepared.features[:3]
    assert [r.words for r in back.recognize_features(feats)] == [
        r.words for r in rec.recognize_features(feats, word_penalty=3.5)
    ]
    assert back.decoding_graph() is back.decoding_graph()  # built once, cached
    # every setting is required: a file without the penalty is refused, not read as 0
    state = torch.load(tmp_path / "t.pt", weights_only=True)
    del state["payload"]["config"]["word_penalty"]
    write_checkpoint(tmp_path / "old.pt", state["format"], state["payload"])
    with pytest.raises(CheckpointError, match="old.pt: config lacks word_penalty"):
        SpeechRecognizer.load(tmp_path / "old.pt")


def test_dev_set_is_new_utterances_of_training_speakers(tmp_path, monkeypatch):
    dev = tune.dev_corpus(4, seed=0, settings=TINY, cache_dir=tmp_path, workers=1)
    assert dev.split == "train" and dev.speakers <= set(corpus.speakers("train"))
    assert not dev.speakers & set(corpus.speakers("test"))
    assert (
        corpus._plan("train", 50, tune.DEV_SEED_OFFSET, TINY)[:4]
        != corpus._plan("train", 50, 0, TINY)[:4]
    )
    test = corpus.generate("test", 2, seed=0, settings=TINY, workers=1)
    monkeypatch.setattr(corpus, "load_or_generate", lambda *a, **k: test)
    with pytest.raises(AssertionError, match="test speakers"):
        tune.dev_corpus(2, settings=TINY, cache_dir=tmp_path)


def test_cli_tune_writes_a_tuned_copy(tmp_path, capsys):
    top = Topology("ctc")
    torch.manual_seed(0)
    SpeechRecognizer(TDNN(top.num_columns, width=8), top).save(tmp_path / "r.pt")
    argv = ["tune", str(tmp_path / "r.pt"), "--out", str(tmp_path), "--dev-utterances", "3"]
    opts = ["--speakers", "2", "--cache-dir", str(tmp_path), "--quiet", "--conditions", "clean"]
    assert main([*argv, *opts, "--penalties", "0,7"]) == 0
    out = capsys.readouterr().out
    assert "penalty 7" in out and (tmp_path / "tuning_r.md").exists()
    assert SpeechRecognizer.load(tmp_path / "r_tuned.pt").word_penalty in (0.0, 7.0)
    assert SpeechRecognizer.load(tmp_path / "r.pt").word_penalty == 0.0  # original untouched


def test_cli_tune_and_evaluate_use_the_checkpoints_dither(tmp_path, capsys, monkeypatch):
    from apps.speech import features

    top = Topology("ctc")
    torch.manual_seed(0)
    SpeechRecognizer(TDNN(top.num_columns, width=8), top, dither=3e-4).save(tmp_path / "d.pt")
    seen = []
    log_mel = features.log_mel
    monkeypatch.setattr(features, "log_mel", lambda x, dither=0.0, warp=1.0:
                        seen.append(dither) or log_mel(x, dither, warp))  # fmt: skip
    opts = ["--speakers", "2", "--cache-dir", str(tmp_path), "--quiet", "--conditions", "clean"]
    argv = ["tune", str(tmp_path / "d.pt"), "--out", str(tmp_path), "--dev-utterances", "2"]
    assert main([*argv, *opts, "--penalties", "0,7"]) == 0
    assert seen and set(seen) == {3e-4}
    assert SpeechRecognizer.load(tmp_path / "d_tuned.pt").dither == 3e-4
    seen.clear()
    argv = ["evaluate", str(tmp_path / "d_tuned.pt"), "--out", str(tmp_path), "--test-utterances"]
    assert main([*argv, "2", *opts]) == 0
    assert 3e-4 in seen and "d_tuned" in capsys.readouterr().out
