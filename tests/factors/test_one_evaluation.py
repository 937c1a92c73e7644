"""A loss step evaluates a factor graph's factors, and the network inside them, once: E_C, F,
E_min and E_I all share one EnergyTerms (they used to call the network once each)."""

from __future__ import annotations

import pytest
import torch

import factors
from factors import StructuredLoss


def counted_chain(n: int = 5, k: int = 3, features: int = 4):
    torch.manual_seed(0)
    net = torch.nn.Linear(features, k).double()
    calls = []
    net.register_forward_hook(lambda *_: calls.append(1))
    crf = factors.chain(n, k, unary=lambda x: -net(x), pairwise="full", boundary=True).double()
    x = torch.randn(4, n, features, dtype=torch.float64)
    y = torch.randint(0, k, (4, n))
    return crf, x, y, calls


@pytest.mark.parametrize(
    "name", ["nll", "mee", "perceptron", "hinge", "log", "square_square", "pseudo_likelihood"]
)
def test_one_loss_step_runs_the_unary_network_once(name):
    crf, x, y, calls = counted_chain()
    StructuredLoss(name)(crf, x, y).backward()
    assert len(calls) == 1


def test_nll_and_its_gradients_are_those_of_separate_evaluations():
    crf, x, y, _ = counted_chain()
    StructuredLoss("nll")(crf, x, y).backward()
    shared = [p.grad.clone() for p in crf.parameters()]
    crf.zero_grad()
    reference = (crf.energy(x, y) - crf.free_energy(x)).mean()  # two evaluations
    reference.backward()
    for ours, theirs in zip(shared, (p.grad for p in crf.parameters()), strict=True):
        torch.testing.assert_close(ours, theirs)


def test_terms_stand_in_for_the_input_and_broadcast_a_batch_of_one():
    crf, x, y, calls = counted_chain()
    terms = crf.terms(x[:1])
    assert crf.terms(terms) is terms
    torch.testing.assert_close(crf.energy(terms, y), crf.energy(x[:1].expand(4, -1, -1), y))
    assert len(calls) == 2
    with pytest.raises(ValueError, match="terms of a batch of 4 for 2 answers"):
        crf.energy(crf.terms(x), y[:2])
    with pytest.raises(ValueError, match="terms are for 5 variables with 3 labels; the graph"):
        factors.chain(6, 3).energy(terms, torch.zeros(1, 6, dtype=torch.long))
