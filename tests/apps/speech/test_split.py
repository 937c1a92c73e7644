"""Speaker split discipline and corpus caching."""

import dataclasses

import numpy as np
import pytest

from apps.speech import corpus

from .conftest import TINY


def test_train_and_test_speakers_are_disjoint_and_cover_voices_and_variants():
    train, test = set(corpus.speakers("train")), set(corpus.speakers("test"))
    assert not train & test
    assert len(train) + len(test) == len(corpus.VOICES) * len(corpus.VARIANTS)
    assert 0.15 < len(test) / (len(train) + len(test)) < 0.25
    # every accent and every variant is heard in training, only combinations are held out
    assert {s.split("+")[0] for s in train} == set(corpus.VOICES)
    assert {s.split("+")[1] for s in train} == set(corpus.VARIANTS)


def test_generated_test_corpus_holds_only_test_speakers():
    c = corpus.generate("test", 6, seed=1, settings=TINY, workers=1)
    assert c.speakers <= set(corpus.speakers("test"))
    assert all(1 <= len(u.words) <= 2 for u in c.utterances)


def test_a_training_speaker_in_a_test_corpus_is_refused(tiny_corpus):
    mislabelled = corpus.Corpus("test", tiny_corpus.utterances)
    with pytest.raises(AssertionError, match="other split"):
        corpus.check_split(mislabelled)


def test_what_is_said_is_deterministic_in_the_key():
    a = corpus._plan("train", 20, 3, TINY)
    assert a == corpus._plan("train", 20, 3, TINY)
    assert a != corpus._plan("train", 20, 4, TINY)
    assert corpus._plan("train", 20, 3, TINY) != corpus._plan("test", 20, 3, TINY)


def test_cache_round_trip_and_keys(tmp_path, tiny_corpus):
    first = corpus.load_or_generate("train", 3, 5, TINY, tmp_path, workers=1)
    files = list(tmp_path.glob("*.npz"))
    assert len(files) == 1
    again = corpus.load_or_generate("train", 3, 5, TINY, tmp_path, workers=1)
    for u, v in zip(first.utterances, again.utterances, strict=True):
        np.testing.assert_array_equal(u.audio, v.audio)  # read back, not re-synthesised
        np.testing.assert_array_equal(u.word_starts, v.word_starts)
        assert (u.words, u.speaker, u.rate, u.pitch) == (v.words, v.speaker, v.rate, v.pitch)
    other = dataclasses.replace(TINY, pause_rate=0.5)
    assert corpus.cache_key("train", 3, 5, other) != corpus.cache_key("train", 3, 5, TINY)
    files[0].write_bytes(b"damaged")
    assert len(corpus.load_or_generate("train", 3, 5, TINY, tmp_path, workers=1)) == 3


@pytest.mark.parametrize(
    "edit",
    [
        lambda z: z.update(audio=z["audio"][:-1]),
        lambda z: z.update(num_words=z["num_words"] + 1),
        lambda z: z.update(samples=-z["samples"]),
        lambda z: z.update(starts=z["starts"][:, None]),
        lambda z: z.update(speakers=z["speakers"][:-1]),
        lambda z: z.pop("rates"),
    ],
    ids=["audio-short", "words-short", "negative-samples", "starts-2d", "speakers-short", "rates"],
)
def test_a_cache_file_whose_members_disagree_is_refused_and_regenerated(tmp_path, edit):
    first = corpus.load_or_generate("train", 3, 5, TINY, tmp_path, workers=1)
    (path,) = tmp_path.glob("*.npz")
    with np.load(path) as z:
        members = dict(z)
    edit(members)
    with path.open("wb") as f:
        np.savez(f, **members)
    with pytest.raises((ValueError, KeyError)):
        corpus._read(path, "train")
    again = corpus.load_or_generate("train", 3, 5, TINY, tmp_path, workers=1)
    replaced = corpus._read(path, "train")  # re-synthesised audio differs by a few samples
    for u, v, w in zip(first.utterances, again.utterances, replaced.utterances, strict=True):
        assert (u.words, u.speaker, u.rate) == (v.words, v.speaker, v.rate)
        np.testing.assert_array_equal(v.audio, w.audio)
