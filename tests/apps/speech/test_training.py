"""MMI gradients (gradcheck in float64) and a tiny trained recogniser decoding its training
utterances."""

import numpy as np
import torch

import gtn
from apps.speech import corpus, evaluate
from apps.speech.graphs import Topology
from apps.speech.network import TDNN
from apps.speech.train import SpeechLoss, pad


def test_mmi_loss_gradcheck_float64():
    top = Topology("hmm", states_per_word=1)
    nums = top.numerators([[3, 4], [5]])
    lengths = torch.tensor([5, 4])

    def loss(logits):
        return gtn.mmi_loss(-torch.log_softmax(logits, -1), nums, top.denominator, lengths)

    logits = torch.randn(2, 5, top.num_columns, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(loss, (logits,), eps=1e-6, atol=1e-6)


def test_mmi_loss_is_a_negative_log_probability():
    # numerator paths are a subset of denominator paths: F(num) >= F(den), and the
    # probabilities of all one-word transcripts of a 3-frame utterance with 1 state per word
    # plus the all-silence string sum to one
    top = Topology("hmm", states_per_word=1)
    em = -torch.log_softmax(torch.randn(1, 3, top.num_columns, dtype=torch.float64), -1)
    transcripts = [[w] for w in range(11)] + [
        [a, b] for a in range(11) for b in range(11)] + [
        [a, b, c] for a in range(11) for b in range(11) for c in range(11)]  # fmt: skip
    nll = torch.cat([gtn.mmi_loss(em, top.numerators([t]), top.denominator, reduction="none")
                     for t in transcripts])  # fmt: skip
    assert (nll >= -1e-12).all()
    silence = em[0, :, 0].sum() - gtn.intersect_dense(top.denominator, em).free_energy()[0]
    total = torch.exp(-nll).sum() + torch.exp(-silence)
    torch.testing.assert_close(total, torch.tensor(1.0, dtype=torch.float64))


def test_losses_give_finite_gradients_to_the_model(tiny_prepared):
    x = pad(tiny_prepared.features[:3])
    y = tiny_prepared.words[:3]
    for name, kind in (("mmi", "hmm"), ("ctc", "ctc")):
        top = Topology(kind, states_per_word=2)
        model = TDNN(top.num_columns, width=16)
        value = SpeechLoss(name, top)(model, x, y)
        value.backward()
        assert torch.isfinite(value) and value > 0
        grads = [p.grad for p in model.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)


def test_tiny_trained_model_decodes_its_training_utterances(tiny_recognizer, tiny_prepared):
    recognizer, history = tiny_recognizer
    assert history[-1]["loss"] < history[0]["loss"]
    results = recognizer.recognize_features(tiny_prepared.features)
    refs = [[corpus.WORDS[w] for w in ws] for ws in tiny_prepared.words]
    score = evaluate.score(refs, [r.words for r in results])
    # chance (a random digit string of the right length) is about 10/11 word errors
    assert score.wer < 0.35, score
    assert score.ser <= 0.5, score
    for r in results:
        assert 0.0 <= r.confidence <= 1.0
        assert len(r.starts) == len(r.words) == len(r.ends)
        assert np.all(r.starts < r.ends) and np.all(np.diff(r.starts) > 0)
    right = [r.confidence for r, ref in zip(results, refs, strict=True) if r.words == ref]
    assert np.mean(right) > 0.5


def test_edit_distance_and_scores():
    assert evaluate.edit_distance("one two three".split(), "one three".split()) == 1
    assert evaluate.edit_distance([], ["oh"]) == 1
    assert evaluate.edit_distance(["a", "b"], ["b", "a"]) == 2
    s = evaluate.score([["one", "two"], ["oh"]], [["one", "two"], ["six", "oh"]])
    assert (s.errors, s.words, s.wrong, s.utterances) == (1, 3, 1, 2)
    assert s.wer == 1 / 3 and s.ser == 0.5
