"""The float64 log-space reference itself, checked against brute-force enumeration and
torch's ctc_loss, so that the stress grid's failures are the kernels' and not the reference's."""

import math

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from gtn.dense_lattice import ctc_graphs, linear_chain_topology
from tests.gtn.dense_lattice import brute
from tests.gtn.dense_lattice import logspace_reference as ref

F64 = torch.float64


@given(brute.dense_graphs(), st.integers(0, 4), st.integers(0, 2**31 - 1))
def test_free_and_min_energy_and_posteriors_equal_brute_force(g, T, seed):
    gen = torch.Generator().manual_seed(seed)
    em = torch.randn(1, T, 3, dtype=F64, generator=gen)
    em[torch.rand(em.shape, generator=gen) < 0.2] = math.inf
    paths = brute.alignments(g, em[0], T)
    free = float(ref.free_energy(g, em)[0])
    low = float(ref.min_energy(g, em)[0])
    want_free = brute.free_energy(paths, 0.7)
    assert math.isclose(float(ref.free_energy(g, em, beta=0.7)[0]), want_free, rel_tol=1e-12,
                        abs_tol=1e-12) or (math.isinf(want_free) and math.isinf(free))  # fmt: skip
    assert low == min((p[0] for p in paths), default=math.inf) or math.isclose(
        low, min(p[0] for p in paths), rel_tol=1e-12, abs_tol=1e-12
    )
    assert free <= low + 1e-12
    post = ref.label_posteriors(g, em)[0].numpy()
    np.testing.assert_allclose(post, brute.label_posteriors(paths, T, 3), atol=1e-12)


@given(brute.dense_graphs(), st.integers(0, 4), st.integers(0, 2**31 - 1))
def test_arc_gradients_equal_brute_force_counts(g, T, seed):
    gen = torch.Generator().manual_seed(seed)
    em = torch.randn(1, T, 3, dtype=F64, generator=gen)
    w = g.weight.detach().clone().requires_grad_(True)
    free = ref.free_energy(g.with_weights(weight=w), em)
    paths = brute.alignments(g, em[0], T)
    if not paths:
        assert math.isinf(float(free[0]))
        return
    gw = torch.zeros_like(w)
    if free.requires_grad:  # else no path uses an arc
        (gw,) = torch.autograd.grad(free.sum(), w, allow_unused=True)
        gw = torch.zeros_like(w) if gw is None else gw
    np.testing.assert_allclose(gw.numpy(), brute.arc_counts(paths, g.num_arcs), atol=1e-12)


def test_ctc_free_energy_equals_torch_with_repeats_and_variable_lengths():
    gen = torch.Generator().manual_seed(0)
    logits = (torch.randn(3, 40, 6, dtype=F64, generator=gen) / 0.05).requires_grad_(True)
    targets = torch.tensor([[1, 1, 2, 2, 2], [3, 4, 5, 5, 1], [2, 0, 0, 0, 0]])
    tl, il = torch.tensor([5, 5, 1]), torch.tensor([40, 23, 7])
    ours = ref.free_energy(ctc_graphs(targets, tl), -logits.log_softmax(-1), il)
    (g_ours,) = torch.autograd.grad(ours.sum(), logits)
    want = F.ctc_loss(logits.log_softmax(-1).transpose(0, 1), targets, il, tl, reduction="none")
    (g_want,) = torch.autograd.grad(want.sum(), logits)
    torch.testing.assert_close(ours, want, rtol=1e-12, atol=1e-9)
    torch.testing.assert_close(g_ours, g_want, rtol=1e-9, atol=1e-9)


def test_alignment_energy_of_a_chain_path_is_its_path_energy():
    gen = torch.Generator().manual_seed(1)
    K, T = 3, 5
    tr, s, e = (torch.randn(*sh, dtype=F64, generator=gen) for sh in ((K, K), (K,), (K,)))
    em = torch.randn(1, T, K, dtype=F64, generator=gen)
    g = linear_chain_topology(tr, s, e)
    tags = torch.tensor([[0, 2, 2, 1, 0]])
    # chain arcs: transitions i-major (i * K + j), then start (K * K + j)
    arcs = torch.tensor([[K * K + 0, 0 * K + 2, 2 * K + 2, 2 * K + 1, 1 * K + 0]])
    got = ref.alignment_energy(g, em, [T], arcs)
    torch.testing.assert_close(got, ref.chain_path_energy(em, tags, tr, s, e, [T]))
