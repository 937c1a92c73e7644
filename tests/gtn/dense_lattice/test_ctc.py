"""ctc_loss equals torch.nn.functional.ctc_loss on -emissions, values and gradients.

torch's ctc_loss returns d/d(log_probs) = exp(log_probs) - posterior, which is the true
gradient only after log_softmax; ours is the true gradient (the posterior). So gradients are
compared with respect to the logits that feed log_softmax, where both are exact."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import gtn
from gtn.dense_lattice import ctc_graphs, ctc_loss, intersect_dense
from tests.gtn.dense_lattice import brute

F64 = torch.float64


def _both(logits, targets, il, tl, reduction="mean", zero_infinity=False, blank=0):
    a = logits.detach().clone().requires_grad_(True)
    ours = ctc_loss(-a.log_softmax(-1), targets, il, tl, blank, reduction, zero_infinity)
    ours.sum().backward()
    b = logits.detach().clone().requires_grad_(True)
    ref = F.ctc_loss(
        b.log_softmax(-1).transpose(0, 1), targets, il, tl, blank, reduction, zero_infinity
    )
    ref.sum().backward()
    return ours, ref, a.grad, b.grad


@given(
    st.integers(1, 4),
    st.integers(1, 12),
    st.integers(2, 5),
    st.integers(0, 5),
    st.sampled_from(["none", "sum", "mean"]),
    st.integers(0, 2**31 - 1),
)
def test_equals_torch_ctc_loss_values_and_gradients(B, T, C, L, reduction, seed):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, C, dtype=F64, generator=gen)
    targets = torch.randint(1, C, (B, L), generator=gen)
    tl = torch.randint(0, L + 1, (B,), generator=gen)
    il = torch.randint(0, T + 1, (B,), generator=gen)
    ours, ref, ga, gb = _both(logits, targets, il, tl, reduction, zero_infinity=True)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-8)
    torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-8)


def test_repeated_labels_at_minimal_length():
    logits = torch.randn(2, 5, 4, dtype=F64)
    targets = torch.tensor([[2, 2, 3], [1, 1, 1]])
    # "2 2 3" needs 4 frames (a blank between the repeats); "1 1 1" needs 5
    ours, ref, ga, gb = _both(logits, targets, torch.tensor([4, 5]), torch.tensor([3, 3]), "none")
    assert torch.isfinite(ours).all()
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=0)
    torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-10)


def test_impossible_alignment_is_inf_or_dropped_with_zero_infinity():
    logits = torch.randn(2, 3, 4, dtype=F64)
    targets = torch.tensor([[1, 1, 2], [1, 2, 3]])  # first needs 4 frames
    il, tl = torch.tensor([3, 3]), torch.tensor([3, 3])
    ours, ref, _, _ = _both(logits, targets, il, tl, "none")
    assert ours[0] == float("inf") == ref[0]
    ours, ref, ga, gb = _both(logits, targets, il, tl, "mean", zero_infinity=True)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=0)
    assert (ga[0] == 0).all() and not torch.isnan(ga).any()
    torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-10)


def test_concatenated_targets_and_nonzero_blank():
    logits = torch.randn(3, 8, 5, dtype=F64)
    tl = torch.tensor([2, 3, 1])
    flat = torch.tensor([1, 2, 0, 0, 3, 1])
    ours, ref, ga, gb = _both(logits, flat, torch.tensor([8, 7, 5]), tl, "sum", blank=4)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=0)
    torch.testing.assert_close(ga, gb, rtol=1e-5, atol=1e-10)


def test_float32_matches_torch_float32():
    logits = torch.randn(8, 50, 20)
    targets = torch.randint(1, 20, (8, 15))
    ours, ref, ga, gb = _both(logits, targets, torch.full((8,), 50), torch.full((8,), 15))
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(ga, gb, rtol=1e-4, atol=1e-6)


def test_ctc_graph_accepts_exactly_the_ctc_alignments():
    # all alignments of "1 1" in 4 frames over {blank=0, 1}: 0101? no -- "1 0 1" patterns
    g = ctc_graphs(torch.tensor([[1, 1]]), torch.tensor([2])).graph(0)
    paths = brute.alignments(g, torch.zeros(4, 2, dtype=F64), 4)
    got = sorted(p[1] for p in paths)
    assert got == sorted([(1, 0, 1, 1), (1, 1, 0, 1), (1, 0, 0, 1), (0, 1, 0, 1), (1, 0, 1, 0)])


def test_ctc_topology_free_energy_is_zero_for_normalised_emissions():
    # every label sequence is some transcript: summing all transcripts sums all label paths
    lp = torch.randn(2, 6, 4, dtype=F64).log_softmax(-1)
    F_all = intersect_dense(gtn.dense_lattice.ctc_topology(4), -lp).free_energy()
    np.testing.assert_allclose(F_all.detach().numpy(), 0.0, atol=1e-12)


def test_blank_in_targets_is_rejected():
    with pytest.raises(ValueError, match="blank"):
        ctc_loss(torch.zeros(1, 4, 3), torch.tensor([[0, 1]]), [4], [2])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_ctc_graphs_layout_and_dtype(dtype):
    """Empty transcripts, repeats (no skip arc) and non-default float dtypes."""
    b = ctc_graphs(torch.tensor([[3, 3, 1], [2, 0, 0]]), torch.tensor([3, 0]), 0, dtype)
    assert b.weight.dtype == b.start_weight.dtype == b.final_weight.dtype == dtype
    g0, g1 = b.graph(0), b.graph(1)
    arcs0 = sorted(zip(g0.src.tolist(), g0.dst.tolist(), g0.ilabel.tolist(), strict=True))
    # states: 0 initial, 1 blank, 2 "3", 3 blank, 4 "3", 5 blank, 6 "1", 7 blank
    skips = [(s, d, y) for s, d, y in arcs0 if d - s == 2]
    assert skips == [(0, 2, 3), (4, 6, 1)]  # no skip into the repeated 3
    assert len(arcs0) == 2 * 7 + 2
    assert torch.isinf(b.final_weight[:8]).tolist() == [True] * 6 + [False, False]
    assert g1.num_nodes == 2 and g1.ilabel.tolist() == [0, 0]
    assert torch.isinf(b.start_weight).tolist() == [False] + [True] * 7 + [False, True]


@given(st.integers(0, 5), st.integers(0, 6), st.integers(2, 6), st.integers(0, 2**31 - 1))
def test_ctc_graphs_precomputed_structure_equals_the_general_one(B, L, C, seed):
    """ctc_graphs writes its kernel layout directly; it must equal what _prep would build."""
    from gtn.dense_lattice._prep import _build, structure
    from gtn.dense_lattice.batch import GraphBatch

    gen = torch.Generator().manual_seed(seed)
    targets = torch.randint(1, C, (B, L), generator=gen)
    tl = torch.randint(0, L + 1, (B,), generator=gen)
    g = ctc_graphs(targets, tl)
    fresh = GraphBatch(
        g.node_offsets, g.arc_offsets, g.src, g.dst, g.label, g.weight, g.start_weight,
        g.final_weight,
    )  # fmt: skip
    ours, ref = structure(g), _build(fresh)
    for name, x, y in zip(ref._fields, ours, ref, strict=True):
        if isinstance(y, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), name
        else:
            assert x == y and type(x) is type(y), name
