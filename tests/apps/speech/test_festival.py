"""The held-out synthesiser (festival): the vocabulary plan, the missing-program path, the
evaluation rows it adds, and one real synthesis when text2wave is installed."""

import numpy as np
import pytest
import torch

from apps.speech import corpus, experiment, festival
from apps.speech.api import SpeechRecognizer
from apps.speech.corpus import WORDS
from apps.speech.graphs import Topology
from apps.speech.network import TDNN

needs_festival = pytest.mark.skipif(not festival.available(), reason=festival.MISSING)


def test_plan_uses_the_corpus_vocabulary_and_is_deterministic():
    a = festival.plan(0, 50, 3, corpus.DEFAULT_SETTINGS)
    assert a == festival.plan(0, 50, 3, corpus.DEFAULT_SETTINGS)
    assert a != festival.plan(1, 50, 3, corpus.DEFAULT_SETTINGS)  # each voice its own plan
    for words, text in a:
        assert 1 <= len(words) <= 7
        assert text.replace(",", "").split() == [WORDS[w] for w in words]


def test_missing_text2wave_is_one_clear_message_and_no_rows(monkeypatch, capsys):
    monkeypatch.setattr(festival.shutil, "which", lambda name: None)
    assert not festival.available()
    with pytest.raises(festival.FestivalMissing, match="apt-get install festival"):
        festival.synthesize("one two", "kal_diphone")
    with pytest.raises(festival.FestivalMissing, match="make speech-extras"):
        festival.voices()
    assert experiment.festival_sets(5, 0, 0.0) is None
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [festival.MISSING]


@pytest.mark.parametrize("voice", ['kal_diphone) (system "ls"', "", "KAL", None])
def test_a_voice_name_cannot_smuggle_scheme(voice):
    with pytest.raises(ValueError, match="festival voice must be a name"):
        festival.synthesize("one", voice)


def test_festival_cells_pool_voices_and_keep_each_voice(monkeypatch):
    # fake feature sets stand in for festival audio; the recogniser is untrained, so this
    # checks the bookkeeping (pooled = sum over voices), not accuracy
    torch.manual_seed(0)
    top = Topology("hmm", states_per_word=1)
    rec = SpeechRecognizer(TDNN(top.num_columns, width=8), top)
    sets = {}
    for v, n in (("a_voice", 2), ("b_voice", 3)):
        sets[v] = {
            c: experiment.PreparedSet([torch.randn(30, 40) for _ in range(n)],
                                      [(1, 2)] * n, [np.zeros(2)] * n, [c] * n)
            for c in experiment.FESTIVAL_CONDITIONS
        }  # fmt: skip
    cells = experiment.evaluate_festival(rec, sets)
    assert set(cells) == {f"{p} {c}" for p in ("festival", "a_voice", "b_voice")
                          for c in ("clean", "10dB")}  # fmt: skip
    for c in ("clean", "10dB"):
        pooled, a, b = cells[f"festival {c}"], cells[f"a_voice {c}"], cells[f"b_voice {c}"]
        assert (pooled.words, pooled.utterances) == (10, 5)
        assert pooled.errors == a.errors + b.errors and pooled.wrong == a.wrong + b.wrong


@needs_festival
def test_real_synthesis_speaks_the_digits_and_caches(tmp_path):
    voice = festival.voices()[0]
    audio = festival.synthesize("three seven, oh nine", voice)
    assert audio.dtype == np.int16 and np.abs(audio).max() > 1000
    assert 0.5 < len(audio) / corpus.SAMPLE_RATE < 5.0  # four digits, a pause
    first = festival.load_or_generate(2, seed=1, voice_names=[voice], cache_dir=tmp_path)
    again = festival.load_or_generate(2, seed=1, voice_names=[voice], cache_dir=tmp_path)
    assert len(list(tmp_path.glob("festival-*.npz"))) == 1
    for u, v in zip(first[voice].utterances, again[voice].utterances, strict=True):
        assert u.words == v.words and np.array_equal(u.audio, v.audio)
        assert u.speaker == f"festival:{voice}" and np.isnan(u.word_starts).all()


def test_target_table_has_the_issue_rows_and_a_dash_for_what_was_not_scored():
    s = experiment.evaluate.Score
    rows = {
        "mmi": {"clean": s(1, 200, 1, 50), "10dB": s(3, 200, 2, 50),
                "festival clean": s(10, 100, 5, 30), "festival 10dB": s(20, 100, 9, 30),
                "kal_diphone clean": s(4, 50, 2, 15), "kal_diphone 10dB": s(8, 50, 4, 15)},
        "ctc": {"clean": s(2, 200, 2, 50), "10dB": s(4, 200, 3, 50)},
    }  # fmt: skip
    lines = experiment.format_targets(rows).splitlines()
    assert lines[0] == "| WER clean / 10 dB | mmi | ctc |"
    assert lines[2] == "| held-out espeak-ng speakers | 0.50% / 1.50% | 1.00% / 2.00% |"
    assert lines[3] == "| festival voices | 10.00% / 20.00% | - / - |"
    assert lines[4] == "| festival kal_diphone | 8.00% / 16.00% | - / - |"
    assert len(lines) == 5


def test_run_with_augmentation_reports_festival_rows_or_says_why_not(tmp_path, capsys):
    config = experiment.Config(
        train_utterances=8, test_utterances=4, epochs=1, batch_size=4, width=16,
        losses=("mmi",), conditions=("clean",), speakers=2, threads=1, workers=1,
        cache_dir=str(tmp_path / "cache"), festival=2, augment="all",
    )  # fmt: skip
    rows = experiment.run(config, tmp_path / "out", progress=False)
    table = (tmp_path / "out" / "results.md").read_text()
    assert "| held-out espeak-ng speakers |" in table
    if festival.available():
        assert rows["mmi"]["festival clean"].utterances == 2 * len(festival.voices())
        assert "| festival voices |" in table
    else:
        assert set(rows["mmi"]) == {"clean"}
        assert festival.MISSING in capsys.readouterr().out
    with pytest.raises(ValueError, match="unknown augmentation"):
        experiment.run(experiment.Config(augment="echo"), tmp_path / "bad", progress=False)
