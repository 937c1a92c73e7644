"""Chain + linear factors + NLL is a linear-chain CRF: equal to pytorch-crf."""

import pytest
import torch
from torch import nn

from factors import StructuredLoss, chain

torchcrf = pytest.importorskip("torchcrf")


def crf_pair(seed, n=7, k=4, d=5):
    """A factors chain and a pytorch-crf CRF with the same parameters (scores = -energies)."""
    torch.manual_seed(seed)
    net = nn.Linear(d, k).double()
    g = chain(n, k, unary=lambda x: -net(x), pairwise="full", boundary=True).double()
    g.add_module("net", net)
    crf = torchcrf.CRF(k, batch_first=True).double()
    with torch.no_grad():
        for p in (crf.transitions, crf.start_transitions, crf.end_transitions):
            p.normal_()
        g.factors[1].weight.copy_(-crf.transitions)
        g.factors[2].weight.copy_(-crf.start_transitions[None])
        g.factors[3].weight.copy_(-crf.end_transitions[None])
    return g, net, crf


@pytest.mark.parametrize("seed", range(3))
def test_nll_and_gradients_equal_pytorch_crf(seed):
    g, net, crf = crf_pair(seed)
    x = torch.randn(4, 7, 5, dtype=torch.float64)
    y = torch.randint(0, 4, (4, 7))
    ours = StructuredLoss("nll").per_example(g, x, y)
    theirs = -crf(net(x), y, reduction="none")
    torch.testing.assert_close(ours, theirs)

    ours.sum().backward()
    ours_grads = [net.weight.grad.clone(), -g.factors[1].weight.grad.clone()]
    net.zero_grad()
    theirs.sum().backward()
    torch.testing.assert_close(ours_grads[0], net.weight.grad)
    torch.testing.assert_close(ours_grads[1], crf.transitions.grad)
    torch.testing.assert_close(-g.factors[2].weight.grad[0], crf.start_transitions.grad)


def test_viterbi_equals_pytorch_crf_decode():
    g, net, crf = crf_pair(7)
    x = torch.randn(5, 7, 5, dtype=torch.float64)
    ours = g.infer(x).assignment
    theirs = torch.tensor(crf.decode(net(x)))
    assert torch.equal(ours, theirs)
