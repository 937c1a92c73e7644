"""gtn.determinize.determinize: deterministic output with the same weighted language (brute force
and OpenFst), the state cap on cyclic inputs, clear errors, exact gradients in both semirings."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import gtn
from gtn.determinization import determinize
from gtn.epsilon import epsilon_arcs
from tests.gtn.reference import enumerate_paths, string_energies
from tests.gtn.strategies import graphs

kaldifst = pytest.importorskip("kaldifst")
from tests.gtn.language_checks import (  # noqa: E402
    assert_batch_is_one_by_one,
    assert_same_energies,
    bounded_string_energies,
    gradcheck_energies,
    multi_path_graphs,
    semiring,
)
from tests.gtn.openfst_oracle import from_openfst, to_openfst  # noqa: E402

EPS = gtn.EPSILON
F64 = torch.float64
INF = float("inf")


def is_deterministic(g: gtn.Graph) -> bool:
    pairs = set(zip(g.src.tolist(), g.ilabel.tolist(), strict=True))
    return len(pairs) == g.num_arcs and not epsilon_arcs(g).any()


# ---------------------------------------------------------------------------- language


@given(g=multi_path_graphs())
def test_tropical_keeps_min_energy_of_every_string(g):
    want = string_energies(enumerate_paths(g))
    assert_same_energies(string_energies(enumerate_paths(determinize(g))), want)


@pytest.mark.parametrize("beta", [1.0, 0.5, 3.0])
@given(g=multi_path_graphs(max_arcs=10))
def test_log_keeps_free_energy_of_every_string(beta, g):
    want = string_energies(enumerate_paths(g), beta)
    # log residuals such as log(1 + e^(-beta k)) / beta can differ by less than the default
    # delta and be merged (an approximation of up to about delta); a fine delta makes it exact
    out = determinize(g, gtn.log_semiring(beta), delta=1e-12)
    assert_same_energies(string_energies(enumerate_paths(out), beta), want)


@pytest.mark.parametrize("beta", [None, 1.0])
@given(g=graphs(max_arcs=12, num_labels=2))
def test_output_is_deterministic_with_one_start_state(beta, g):
    out = determinize(g, semiring(beta))
    assert is_deterministic(out)
    assert len(out.start_nodes) == 1


@given(g=multi_path_graphs(max_arcs=10))
def test_log_with_default_delta_is_within_a_few_delta(g):
    want = string_energies(enumerate_paths(g), 3.0)
    out = determinize(g, gtn.log_semiring(3.0))
    assert_same_energies(string_energies(enumerate_paths(out), 3.0), want, tol=1e-5)


def test_start_energy_is_the_semiring_sum_of_start_energies():
    # two start states (energies 1 and 2), both final with energy 0
    g = gtn.Graph(
        2,
        [],
        [],
        [],
        None,
        torch.zeros(0, dtype=F64),
        torch.tensor([1.0, 2.0], dtype=F64),
        torch.zeros(2, dtype=F64),
    )
    assert determinize(g).start_weight.tolist() == [1.0]
    out = determinize(g, gtn.LOG)
    assert out.start_weight.item() + out.final_weight.item() == pytest.approx(
        1.0 - np.log1p(np.exp(-1.0)), abs=1e-12
    )


def test_residuals_closer_than_delta_are_merged():
    # 0 -a-> {1, 2} twice, via a and b, with residuals of 2 differing by 1e-9: the subsets
    # {1: 0, 2: 1} and {1: 0, 2: 1 + 1e-9} are one state unless delta is finer than 1e-9
    w = torch.tensor([0.0, 1.0, 0.0, 1.0 + 1e-9, 0.0, 0.0], dtype=F64)
    g = gtn.Graph(
        4,
        [0, 0, 0, 0, 1, 2],
        [1, 2, 1, 2, 3, 3],
        [0, 0, 1, 1, 2, 2],
        None,
        w,
        torch.tensor([0.0, INF, INF, INF], dtype=F64),
        torch.tensor([INF, INF, INF, 0.0], dtype=F64),
    )
    assert determinize(g).num_nodes == 3
    assert determinize(g, delta=1e-12).num_nodes == 4


def test_graph_with_no_nodes_gives_an_empty_graph():
    out = determinize(gtn.Graph(0, [], [], []))
    assert out.num_nodes == 0 and out.num_arcs == 0


def test_symbol_tables_are_kept():
    syms = gtn.SymbolTable(["a", "b"])
    g = gtn.Graph.from_arrays(3, [0, 0], [1, 2], [1, 1], final=[1, 2], isymbols=syms)
    assert determinize(g).isymbols is syms


@given(gs=st.lists(graphs(max_arcs=8), min_size=1, max_size=4))
@settings(max_examples=20)
def test_batch_equals_one_by_one(gs):
    assert_batch_is_one_by_one(lambda g: determinize(g, gtn.LOG), gs)


# ---------------------------------------------------------------------------- cyclic inputs


@st.composite
def twins_graphs(draw):
    """Cyclic acceptors whose arc energy is phi(dst) - phi(src) + lam(label): every cycle costs
    the sum of lam over its labels, so the twins property holds and tropical determinization
    terminates."""
    g = draw(graphs(max_nodes=4, max_arcs=8, acyclic=False, epsilon=False))
    phi = (
        np.asarray(draw(st.lists(st.integers(-4, 4), min_size=g.num_nodes, max_size=g.num_nodes)))
        / 4
    )
    lam = np.asarray(draw(st.lists(st.integers(-4, 4), min_size=3, max_size=3))) / 4
    w = phi[g.dst] - phi[g.src] + lam[g.ilabel]
    return g.with_weights(torch.as_tensor(w, dtype=F64))


@given(g=twins_graphs())
def test_tropical_cyclic_input_with_twins_property_keeps_short_strings(g):
    out = determinize(g, max_states=500)
    assert is_deterministic(out)
    assert_same_energies(bounded_string_energies(out, 3), bounded_string_energies(g, 3))


def test_cycles_without_twins_property_hit_the_state_cap():
    # after a b^k, states 1 and 2 differ by k (loops of energy 1 and 2): no finite equivalent
    g = gtn.Graph.from_arrays(
        4,
        [0, 0, 1, 2, 1, 2],
        [1, 2, 1, 2, 3, 3],
        [0, 0, 1, 1, 2, 3],
        weight=[0.0, 0.0, 1.0, 2.0, 0.0, 0.0],
    )
    with pytest.raises(gtn.GraphError, match="more than max_states=50 states.*twins property"):
        determinize(g, max_states=50)


# ---------------------------------------------------------------------------- OpenFst


@given(g=multi_path_graphs())
def test_tropical_agrees_with_openfst_determinize(g):
    fst = to_openfst(g)
    kaldifst.rmepsilon(fst)  # OpenFst's determinize treats epsilon as an ordinary label
    theirs = from_openfst(kaldifst.determinize(fst))
    assert is_deterministic(theirs)
    want = string_energies(enumerate_paths(theirs))
    assert_same_energies(string_energies(enumerate_paths(determinize(g))), want, tol=1e-6)


@given(g=multi_path_graphs(epsilon=False))
def test_same_number_of_states_as_openfst_on_epsilon_free_input(g):
    # one start state of energy 0, so that OpenFst needs no epsilon arcs to express the start
    start = torch.full_like(g.start_weight, INF)
    start[int(g.start_nodes[0])] = 0.0
    g = g.with_weights(start_weight=start)
    theirs = kaldifst.determinize(to_openfst(g))
    assert determinize(g).num_nodes == theirs.num_states


# ---------------------------------------------------------------------------- errors


def test_transducer_raises_naming_the_arc():
    g = gtn.Graph.from_arrays(2, [0, 0], [1, 1], [0, 1], [0, 2])
    message = "needs an acceptor, but arc 1 has ilabel 1 != olabel 2"
    with pytest.raises(gtn.GraphError, match=message):
        determinize(g)


def test_epsilon_cycle_raises():
    g = gtn.Graph.from_arrays(2, [0, 1, 0], [1, 0, 1], [EPS, EPS, 0])
    with pytest.raises(gtn.GraphError, match="epsilon cycle through node"):
        determinize(g)


# ---------------------------------------------------------------------------- gradients


def test_tropical_gradient_on_a_tie_is_one_path_indicator():
    # two a-arcs of energy 1 into different final states: the first one carries the gradient
    w = torch.ones(2, dtype=F64, requires_grad=True)
    g = gtn.Graph.from_arrays(3, [0, 0], [1, 2], [0, 0], weight=w, final=[1, 2])
    out = determinize(g)
    (out.weight.sum() + out.final_weight[torch.isfinite(out.final_weight)].sum()).backward()
    assert w.grad.tolist() == [1.0, 0.0]


@pytest.mark.parametrize("beta", [None, 1.0, 3.0])
@given(g=multi_path_graphs(max_arcs=10), seed=st.integers(0, 2**16))
@settings(max_examples=15)
def test_gradcheck(beta, g, seed):
    # a fine delta: no merge decision may change under gradcheck's perturbations
    assert gradcheck_energies(lambda g: determinize(g, semiring(beta), delta=1e-12), g, seed)
