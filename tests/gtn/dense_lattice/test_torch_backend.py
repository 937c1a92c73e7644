"""Issue 21: the dense-lattice correctness suite against the device-agnostic torch path, forced
on the CPU with ``EBGTN_BACKEND=torch`` (what runs on a CUDA device).

The tests below are the suite's own, imported under their names; the autouse fixture forces the
torch path and makes every numba entry point raise, so a test that silently ran the numba
kernels would fail here. Torch-path-only checks (backend switch, float32 accumulation, the
layout's epsilon levels, best-alignment ties) follow.
"""

import importlib
import math

import pytest
import torch

import gtn
from gtn.dense_lattice import _crf, _path, _viterbi, criteria
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
)
from tests.gtn.dense_lattice.test_logspace_reference import (
    test_alignment_energy_of_a_chain_path_is_its_path_energy,
    test_arc_gradients_equal_brute_force_counts,
    test_ctc_free_energy_equals_torch_with_repeats_and_variable_lengths,
    test_free_and_min_energy_and_posteriors_equal_brute_force,
)
from tests.gtn.dense_lattice.test_properties import (
    test_batch_equals_one_by_one,
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


intersect = importlib.import_module("gtn.dense_lattice.intersect")  # the module, not the function


def _numba_ran(*args, **kwargs):
    raise AssertionError("a numba kernel ran with EBGTN_BACKEND=torch")


@pytest.fixture(autouse=True)
def torch_backend(monkeypatch):
    monkeypatch.setenv("EBGTN_BACKEND", "torch")
    for module, name in (
        (intersect, "_free_forward"),
        (intersect, "_tropical"),
        (_crf, "_free_forward"),
        (_viterbi, "best_path"),
        (_path, "energy"),
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
