"""Issue 21: the dense-lattice correctness suite against the device-agnostic torch path, forced
on the CPU with ``EBGTN_BACKEND=torch`` (what runs on a CUDA device).

The tests below are the suite's own, imported under their names; the autouse fixture forces the
torch path and makes every numba entry point raise, so a test that silently ran the numba
kernels would fail here. Torch-path-only checks (backend switch, float32 accumulation, the
layout's epsilon levels, best-alignment ties) follow.
"""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import gtn
from gtn.dense_lattice import (
    GraphBatch,
    _crf,
    _lanes,
    _torch,
    _viterbi,
    asg_loss,
    crf_decode,
    crf_nll,
    criteria,
    ctc_graphs,
    ctc_loss,
    mmi_loss,
)
from gtn.dense_lattice._backend import backend
from tests.gtn.dense_lattice import brute
from tests.gtn.dense_lattice import stress_grid as grid

# ruff: noqa: F401  (imported tests are collected and run here with the torch path forced)
from tests.gtn.dense_lattice.test_agrees_with_graph_algebra import (
    test_a_state_with_many_unsorted_incoming_arcs_scores_like_the_explicit_lattice,
    test_dense_lattice_equals_intersect_with_dense_graph,
)
from tests.gtn.dense_lattice.test_bad_input import (
    test_a_forbidden_gold_transition_gives_inf_not_nan,
    test_all_forbidden_transitions_give_inf_loss_and_zero_gradient,
    test_ctc_zero_frames_and_empty_target_is_zero_like_torch,
    test_mmi_denominator_without_a_path_is_an_error,
    test_mmi_numerator_without_a_path_is_inf_or_dropped,
    test_nan_and_minus_inf_weights_are_named,
    test_path_energy_names_a_nan_emission_on_the_path,
    test_tags_are_checked_on_valid_frames_only,
)
from tests.gtn.dense_lattice.test_crf import (
    test_crf_reduction_inside_the_node_matches_reducing_after,
    test_crf_rejects_unknown_reduction,
    test_decode_equals_pytorch_crf,
    test_float32_crf_matches_float64,
    test_float32_nll_is_not_rounded_through_its_path_energy,
    test_linear_chain_graph_paths_are_tag_sequences_with_crf_energies,
    test_nll_and_gradients_equal_pytorch_crf,
)
from tests.gtn.dense_lattice.test_ctc import (
    test_concatenated_targets_and_nonzero_blank,
    test_ctc_graph_accepts_exactly_the_ctc_alignments,
    test_ctc_topology_free_energy_is_zero_for_normalised_emissions,
    test_equals_torch_ctc_loss_values_and_gradients,
    test_float32_matches_torch_float32,
    test_impossible_alignment_is_inf_or_dropped_with_zero_infinity,
    test_repeated_labels_at_minimal_length,
)
from tests.gtn.dense_lattice.test_intersect import (
    test_a_beta_too_small_for_float64_is_refused_and_says_why,
    test_an_energy_beyond_float32_is_infinite_with_zero_gradient,
    test_batch_equals_one_by_one_with_a_list_of_graphs,
    test_best_alignment_is_a_minimum_energy_path,
    test_float32_agrees_with_float64,
    test_free_and_min_energy_equal_brute_force,
    test_gradcheck_free_energy_wrt_emissions_and_all_graph_weights,
    test_gradcheck_min_energy_wrt_emissions_and_all_graph_weights,
    test_gradients_are_posteriors_and_expected_arc_counts,
    test_graph_batch_input_equals_list_input,
    test_impossible_frame_with_inf_emissions_gives_inf,
    test_label_outside_emission_range_is_named,
    test_label_posteriors_sum_to_one_per_frame_and_equal_the_gradient,
    test_malformed_inputs_are_named,
    test_nan_and_minus_inf_emissions_are_named,
    test_no_path_gives_inf_and_zero_gradient_not_nan,
    test_padding_frames_never_change_results_or_receive_gradient,
    test_results_are_deterministic,
    test_shared_graph_gradient_is_the_sum_over_the_batch,
    test_the_smallest_beta_gives_the_log_of_the_path_count,
)
from tests.gtn.dense_lattice.test_logspace_reference import (
    test_alignment_energy_of_a_chain_path_is_its_path_energy,
    test_arc_gradients_equal_brute_force_counts,
    test_ctc_free_energy_equals_torch_with_repeats_and_variable_lengths,
    test_free_and_min_energy_and_posteriors_equal_brute_force,
)
from tests.gtn.dense_lattice.test_properties import (
    test_at_any_beta_free_energy_keeps_its_exact_bounds_and_posteriors_sum_to_one,
    test_batch_equals_one_by_one,
    test_ctc_at_any_beta_keeps_its_exact_bounds_and_posteriors_sum_to_one,
    test_ctc_equals_torch_on_peaked_long_and_impossible_labels,
    test_free_energy_is_at_most_min_energy_and_both_equal_the_reference,
    test_label_posteriors_sum_to_one_per_valid_frame,
)
from tests.gtn.dense_lattice.test_topologies_criteria import (
    test_asg_loss_equals_brute_force_and_is_differentiable_in_transitions,
    test_hmm_graph_paths_are_left_to_right_state_sequences,
    test_hmm_skip_lets_a_state_be_skipped,
    test_mmi_loss_is_numerator_minus_denominator_free_energy,
    test_mmi_zero_infinity_drops_utterances_without_a_numerator_path,
)

F64 = torch.float64


import gtn.dense_lattice.intersection as intersect  # noqa: E402

# the numba entry points, before the fixture replaces them (the tie-breaking test needs them)
_FREE_FORWARD, _TROPICAL, _BEST_PATH = (
    intersect._free_forward,
    intersect._tropical,
    _viterbi.best_path,
)
INF = math.inf
_GENERAL = grid._general_graph(torch.Generator().manual_seed(0))


def _numba_ran(*args, **kwargs):
    raise AssertionError("a numba kernel ran with EBGTN_BACKEND=torch")


@pytest.fixture(autouse=True)
def torch_backend(monkeypatch):
    monkeypatch.setenv("EBGTN_BACKEND", "torch")
    for module, name in (
        (intersect, "_free_forward"),
        (intersect, "_tropical"),
        (_lanes, "forward_backward"),
        (_viterbi, "best_path"),
    ):
        monkeypatch.setattr(module, name, _numba_ran)
    monkeypatch.setattr(criteria.CrfNll, "apply", _numba_ran)


# A slice of the stress grid (stress_grid.py): every criterion and kind at T=150, float32 and
# float64; T=1000 for the criteria whose cases are cheapest to check. The full grid is slow.
_GRID_SLICE = [
    (c, d, k, 150) for c in grid.CRITERIA for d in ("float64", "float32") for k in grid.KINDS
] + [(c, "float32", k, 1000) for c in ("ctc", "crf_nll") for k in ("peaked0.01", "onehot")]


@pytest.mark.parametrize("criterion,dtype,kind,T", _GRID_SLICE)
def test_stress_grid_slice_equals_float64_reference(criterion, dtype, kind, T):
    out = grid.evaluate(criterion, getattr(torch, dtype), kind, T)
    assert not out.failures, f"{criterion} {dtype} {kind} T={T}: " + "; ".join(out.failures)


@pytest.mark.slow
@pytest.mark.parametrize("T", grid.FAST_T + grid.SLOW_T)
@pytest.mark.parametrize("kind", grid.KINDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("criterion", grid.CRITERIA)
def test_full_stress_grid_equals_float64_reference(criterion, dtype, kind, T):
    out = grid.evaluate(criterion, getattr(torch, dtype), kind, T)
    assert not out.failures, f"{criterion} {dtype} {kind} T={T}: " + "; ".join(out.failures)


# ---- the torch path itself ------------------------------------------------------------------


def test_non_cpu_emissions_take_the_torch_path_and_the_variable_is_checked(monkeypatch):
    g = gtn.Graph.from_arrays(1, [0], [0], [0], start=[0], final=[0])
    assert intersect.intersect_dense(g, torch.zeros(1, 2, 1)).backend == "torch"
    meta = torch.zeros(1, 2, 1, device="meta")
    for value in ("", "numba"):  # any device but the CPU runs torch whatever the variable says
        monkeypatch.setenv("EBGTN_BACKEND", value)
        assert backend(meta) == "torch"
        assert backend(torch.zeros(1)) == "numba"
    monkeypatch.setenv("EBGTN_BACKEND", "cuda")
    with pytest.raises(ValueError, match="EBGTN_BACKEND must be 'numba' or 'torch', got 'cuda'"):
        intersect.intersect_dense(g, torch.zeros(1, 2, 1))


def _meta_safe(monkeypatch):
    """Skip the value checks (they read one bool back; a meta tensor has no values)."""
    monkeypatch.setattr(intersect, "_check_values", lambda *a: None)
    monkeypatch.setattr(criteria, "_check_denominator", lambda *a: None)
    monkeypatch.setattr("gtn.dense_lattice.batch.first_bad_energy", lambda t: -1)  # energies

    def validate(em, tags, tr, st, en, lengths):
        lens = np.full(em.shape[0], em.shape[1]) if lengths is None else np.asarray(lengths)
        return (None if tags is None else tags.long()), lens.astype(np.int64)

    monkeypatch.setattr(criteria, "validate", validate)


def test_no_value_is_read_back_to_the_host(monkeypatch):
    # On the meta device tensors have shapes but no values: any .item(), .cpu(), .numpy() or
    # data-dependent shape in the path raises. Every operation runs there end to end, forward
    # and backward, and leaves its results and gradients on that device.
    _meta_safe(monkeypatch)
    B, T, V = 3, 7, 5
    em = torch.randn(B, T, V, device="meta", requires_grad=True)
    tg, tl, il = torch.tensor([[1, 2, 2], [3, 1, 0], [4, 0, 0]]), [3, 2, 1], [7, 5, 3]
    g = gtn.Graph.from_arrays(
        3,
        [0, 0, 1, 2, 0],
        [0, 1, 2, 2, 2],
        [0, 1, gtn.EPSILON, 2, gtn.EPSILON],
        start=[0],
        final=[2],
    )
    w = torch.zeros(5, device="meta", requires_grad=True)
    sw = torch.tensor([0.0, INF, INF], device="meta", requires_grad=True)
    fw = torch.tensor([INF, INF, 0.0], device="meta", requires_grad=True)
    batch = GraphBatch.from_graphs(g).with_weights(w, sw, fw)
    lat = intersect.intersect_dense(batch, em, il)
    outs = [
        ctc_loss(em, tg, il, tl),
        lat.free_energy(0.5).sum(),
        lat.min_energy().sum(),
        mmi_loss(em, ctc_graphs(tg, tl, 0, torch.float32), batch, il),
        asg_loss(em, tg, tl, torch.randn(V, V, device="meta", requires_grad=True)),
        crf_nll(
            em, tg.new_zeros(B, T), *(torch.randn(*s, device="meta") for s in ((V, V), (V,), (V,)))
        ),
    ]
    for out in outs:
        grads = torch.autograd.grad(out, [em, w, sw, fw], allow_unused=True)
        assert out.device.type == "meta" and grads[0].shape == (B, T, V)
        assert all(x is None or x.device.type == "meta" for x in grads)
    ali = lat.best_alignment()
    assert ali.labels.device.type == ali.arcs.device.type == ali.energy.device.type == "meta"
    assert lat.label_posteriors().shape == (B, T, V)
    tags = crf_decode(em, *(torch.randn(*s, device="meta") for s in ((V, V), (V,), (V,))))
    assert tags.shape == (B, T) and tags.device.type == "meta"


@given(brute.dense_graphs(max_nodes=5, max_arcs=12), st.integers(1, 5), st.integers(0, 2**31 - 1))
def test_best_alignment_breaks_ties_like_the_numba_path(g, T, seed):
    # integer energies: many paths tie, and both paths must pick the same one
    gen = torch.Generator().manual_seed(seed)
    em = torch.randint(0, 3, (2, T, 3), generator=gen).double()
    em.requires_grad_()
    lat = intersect.intersect_dense(g, em, [T, max(T - 2, 0)])
    ours = lat.best_alignment()
    ours_grad = torch.autograd.grad(lat.min_energy().sum(), em)[0]
    with pytest.MonkeyPatch.context() as m:  # the numba kernels back, for the reference
        m.setenv("EBGTN_BACKEND", "numba")
        m.setattr(intersect, "_free_forward", _FREE_FORWARD)
        m.setattr(intersect, "_tropical", _TROPICAL)
        m.setattr(_viterbi, "best_path", _BEST_PATH)
        lat = intersect.intersect_dense(g, em, [T, max(T - 2, 0)])
        ref = lat.best_alignment()
        ref_grad = torch.autograd.grad(lat.min_energy().sum(), em)[0]
    assert torch.equal(ours.labels, ref.labels) and torch.equal(ours.arcs, ref.arcs)
    assert torch.equal(ours.energy, ref.energy)
    assert torch.equal(ours_grad, ref_grad)


@pytest.mark.parametrize("criterion", ["ctc", "crf_nll", "free", "alignment"])
def test_float32_accumulation_is_an_option_close_to_float64(criterion, monkeypatch):
    # EBGTN_TORCH_ACCUMULATE=float32 trades exactness for speed: within float32 rounding of
    # the float64 result on plain emissions (the stress grid holds the float64 default)
    monkeypatch.setenv("EBGTN_TORCH_ACCUMULATE", "float32")
    p = grid.problem(grid._FAMILY[criterion], "plain", 150)
    got = grid.OURS[criterion](p, torch.float32)
    ref = grid.REFERENCE[criterion](p)
    general = grid.problem("general", "plain", 10)
    lat = intersect.intersect_dense(grid.general_graph(*_GENERAL), general.emissions)
    assert _torch.forward(_torch._run(lat), 1.0)[0].dtype == torch.float32  # alpha
    assert grid._rel(got.values, ref.values) < 1e-4
    for name, value in ref.tensors.items():
        assert torch.allclose(got.tensors[name].double(), value.double(), rtol=1e-4, atol=2e-3), (
            name
        )
    monkeypatch.setenv("EBGTN_TORCH_ACCUMULATE", "float16")
    with pytest.raises(ValueError, match="EBGTN_TORCH_ACCUMULATE must be"):
        grid.OURS[criterion](p, torch.float32)


def test_the_device_side_value_checks_name_the_first_bad_entry():
    # the checks emissions and tags get on a GPU (torch ops, one bool read back), run here on
    # CPU tensors: the first NaN / -inf in a valid frame, padding ignored
    em = torch.zeros(2, 4, 3)
    lens = np.array([4, 2])
    em[1, 3, 0] = math.nan  # padding
    intersect._check_values(em, lens)
    em[1, 1, 2] = -INF
    em[0, 2, 1] = math.nan
    with pytest.raises(ValueError, match=r"emissions\[0, 2, 1\] is nan"):
        intersect._check_values(em, lens)
    tags = torch.tensor([[0, 1, 2, 1], [2, 1, 7, -1]])  # out of range only in padding
    _crf._check_tags_on_device(tags, lens, 3)
    tags[1, 1] = 3
    with pytest.raises(IndexError, match=r"tags\[1, 1\] = 3 is outside \[0, 3\)"):
        _crf._check_tags_on_device(tags, lens, 3)
