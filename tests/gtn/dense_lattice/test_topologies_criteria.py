"""HMM and ASG graphs, asg_loss and mmi_loss against brute-force enumeration."""

import pytest
import torch

from gtn.dense_lattice import (
    asg_graphs,
    asg_loss,
    hmm_graphs,
    hmm_topology,
    linear_chain_topology,
    mmi_loss,
)
from tests.gtn.dense_lattice import brute

F64 = torch.float64


def test_hmm_graph_paths_are_left_to_right_state_sequences():
    g = hmm_graphs(torch.tensor([[1, 0]]), torch.tensor([2]), states_per_symbol=2).graph(0)
    paths = brute.alignments(g, torch.zeros(5, 4, dtype=F64), 5)
    # symbol 1 -> columns 2, 3; symbol 0 -> columns 0, 1; each state at least one frame
    got = sorted(p[1] for p in paths)
    assert got == sorted([(2, 2, 3, 0, 1), (2, 3, 3, 0, 1), (2, 3, 0, 0, 1), (2, 3, 0, 1, 1)])


def test_hmm_skip_lets_a_state_be_skipped():
    g = hmm_graphs(torch.tensor([[0]]), torch.tensor([1]), states_per_symbol=3, skip=0.5).graph(0)
    paths = brute.alignments(g, torch.zeros(2, 3, dtype=F64), 2)
    assert [(p[1], p[0]) for p in paths] == [((0, 2), 0.5)]


def test_mmi_loss_is_numerator_minus_denominator_free_energy():
    em = torch.randn(2, 5, 6, dtype=F64, requires_grad=True)
    num = hmm_graphs(torch.tensor([[1, 0], [2, 2]]), torch.tensor([2, 1]), 2, self_loop=0.1)
    den = hmm_topology(3, 2, self_loop=0.1)
    loss = mmi_loss(em, num, den, lengths=[5, 4], reduction="none")
    for b, T in enumerate([5, 4]):
        n = brute.free_energy(brute.alignments(num.graph(b), em[b], T))
        d = brute.free_energy(brute.alignments(den, em[b], T))
        assert float(loss[b]) == pytest.approx(n - d, rel=1e-9)
        assert float(loss[b]) >= 0  # numerator paths are a subset of denominator paths
    loss.sum().backward()
    assert torch.isfinite(em.grad).all()


def test_asg_loss_equals_brute_force_and_is_differentiable_in_transitions():
    K = 3
    trans = torch.randn(K, K, dtype=F64, requires_grad=True)
    em = torch.randn(2, 4, K, dtype=F64)
    targets, lens = torch.tensor([[0, 2], [1, 1]]), torch.tensor([2, 2])
    loss = asg_loss(em, targets, lens, trans, reduction="none")
    num = asg_graphs(targets, lens, trans)
    den = linear_chain_topology(trans)
    for b in range(2):
        expected = brute.free_energy(brute.alignments(num.graph(b), em[b], 4)) - brute.free_energy(
            brute.alignments(den, em[b], 4)
        )
        assert float(loss[b]) == pytest.approx(expected, rel=1e-9)
    assert torch.autograd.gradcheck(
        lambda t: asg_loss(em, targets, lens, t, reduction="sum"), (trans,)
    )


def test_mmi_zero_infinity_drops_utterances_without_a_numerator_path():
    em = torch.randn(2, 2, 9, dtype=F64, requires_grad=True)
    num = hmm_graphs(torch.tensor([[1, 0], [2, 2]]), torch.tensor([2, 1]), 3)  # needs >= 6/3
    den = hmm_topology(3, 3)
    raw = mmi_loss(em, num, den, reduction="none")
    assert raw[0] == float("inf")
    loss = mmi_loss(em, num, den, reduction="sum", zero_infinity=True)
    loss.backward()
    assert torch.isfinite(loss) and (em.grad[0] == 0).all()
