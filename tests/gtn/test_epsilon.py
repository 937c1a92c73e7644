"""gtn.epsilon.remove_epsilon: same weighted language (brute force and OpenFst), no epsilon arcs,
clear errors on epsilon cycles, exact gradients in both semirings."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import gtn
from gtn.epsilon import epsilon_arcs, remove_epsilon
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
BETAS = [1.0, 0.5, 3.0]


def has_epsilon_cycle(g: gtn.Graph) -> bool:
    try:
        remove_epsilon(g)
    except gtn.GraphError:
        return True
    return False


# ---------------------------------------------------------------------------- language


@pytest.mark.parametrize("acceptor", [True, False])
@given(data=st.data())
def test_tropical_keeps_min_energy_of_every_string(acceptor, data):
    g = data.draw(multi_path_graphs(acceptor=acceptor))
    want = string_energies(enumerate_paths(g))
    got = string_energies(enumerate_paths(remove_epsilon(g)))
    assert_same_energies(got, want)


@pytest.mark.parametrize("beta", BETAS)
@given(g=multi_path_graphs(max_arcs=10))
def test_log_keeps_free_energy_of_every_string(beta, g):
    want = string_energies(enumerate_paths(g), beta)
    got = string_energies(enumerate_paths(remove_epsilon(g, gtn.log_semiring(beta))), beta)
    assert_same_energies(got, want)


@given(g=graphs(acceptor=False, max_arcs=12))
def test_output_has_no_epsilon_arcs(g):
    assert not epsilon_arcs(remove_epsilon(g)).any()


def test_arcs_with_one_epsilon_side_are_ordinary_arcs():
    # 0 -(eps:a)/1-> 1 -(eps:eps)/2-> 2 (final): the eps:a arc stays, node 1 becomes final
    g = gtn.Graph.from_arrays(3, [0, 1], [1, 2], [EPS, EPS], [0, EPS], weight=[1.0, 2.0])
    out = remove_epsilon(g)
    assert [(a.src, a.dst, a.ilabel, a.olabel, a.weight) for a in out.arcs()] == [
        (0, 1, EPS, 0, 1.0)
    ]
    assert out.final_weight.tolist() == [float("inf"), 2.0, 0.0]


@pytest.mark.parametrize("beta", [None, 1.0])
@given(g=graphs(max_nodes=4, max_arcs=8, acyclic=False))
def test_cyclic_graphs_without_epsilon_cycles_keep_short_strings(beta, g):
    assume(not has_epsilon_cycle(g))
    out = remove_epsilon(g, semiring(beta))
    assert_same_energies(bounded_string_energies(out, 2, beta), bounded_string_energies(g, 2, beta))


def test_start_energies_and_node_ids_are_kept():
    # 0 -eps/1-> 1 -a/2-> 2, with start energies on 0 and 1
    g = gtn.Graph(
        3,
        [0, 1],
        [1, 2],
        [EPS, 0],
        None,
        [1.0, 2.0],
        [0.5, -1.0, float("inf")],
        [float("inf"), float("inf"), 0.25],
    )
    out = remove_epsilon(g)
    assert out.num_nodes == 3
    assert out.start_weight.tolist() == [0.5, -1.0, float("inf")]
    assert sorted((a.src, a.dst, a.ilabel, a.weight) for a in out.arcs()) == [
        (0, 2, 0, 3.0),
        (1, 2, 0, 2.0),
    ]


def test_final_energy_is_the_semiring_sum_over_epsilon_paths():
    # two epsilon paths 0 -> 2 of energies 1 and 2, then final energy 0.5
    w = torch.tensor([1.0, 1.5, 0.5], dtype=F64)
    g = gtn.Graph(
        3,
        [0, 0, 1],
        [2, 1, 2],
        [EPS, EPS, EPS],
        None,
        w,
        [0.0, float("inf"), float("inf")],
        [float("inf"), float("inf"), 0.5],
    )
    assert remove_epsilon(g).final_weight[0].item() == 1.5
    log_sum = 1.5 - np.log1p(np.exp(-1.0))
    assert remove_epsilon(g, gtn.LOG).final_weight[0].item() == pytest.approx(log_sum, abs=1e-12)


def test_graph_without_epsilon_arcs_is_returned_as_is():
    g = gtn.Graph.from_arrays(2, [0, 0], [1, 1], [0, 1], [EPS, 1], weight=[1.0, 2.0])
    assert remove_epsilon(g) is g


def test_symbol_tables_are_kept():
    syms = gtn.SymbolTable(["a", "b"])
    g = gtn.Graph.from_arrays(3, [0, 1], [1, 2], [EPS, 1], isymbols=syms, osymbols=syms)
    out = remove_epsilon(g)
    assert out.isymbols is syms and out.osymbols is syms


@given(gs=st.lists(graphs(max_arcs=8), min_size=1, max_size=4))
@settings(max_examples=20)
def test_batch_equals_one_by_one(gs):
    assert_batch_is_one_by_one(lambda g: remove_epsilon(g, gtn.LOG), gs)


# ---------------------------------------------------------------------------- OpenFst


@given(g=multi_path_graphs())
def test_tropical_agrees_with_openfst_rmepsilon(g):
    fst = to_openfst(g)
    kaldifst.rmepsilon(fst)
    theirs = from_openfst(fst)
    assert not epsilon_arcs(theirs).any()
    want = string_energies(enumerate_paths(theirs))
    assert_same_energies(string_energies(enumerate_paths(remove_epsilon(g))), want, tol=1e-6)


# ---------------------------------------------------------------------------- errors


def test_epsilon_cycle_raises_naming_a_node_on_the_cycle():
    # node 1 is only downstream of the epsilon cycle 2 <-> 3: it must not be the one named
    g = gtn.Graph.from_arrays(4, [0, 2, 3, 3], [2, 3, 2, 1], [EPS, EPS, EPS, EPS], final=[1])
    with pytest.raises(gtn.GraphError, match="epsilon cycle through node") as err:
        remove_epsilon(g)
    assert int(re.search(r"node (\d+)", str(err.value)).group(1)) in (2, 3)


def test_epsilon_self_loop_is_an_epsilon_cycle():
    g = gtn.Graph.from_arrays(2, [0, 1, 1], [1, 1, 1], [0, EPS, 1])
    with pytest.raises(gtn.GraphError, match="epsilon cycle through node 1"):
        remove_epsilon(g)


def test_epsilon_cycle_in_a_batch_names_the_graph():
    ok = gtn.Graph.from_arrays(2, [0], [1], [EPS])
    bad = gtn.Graph.from_arrays(2, [0, 1], [1, 0], [EPS, EPS])
    with pytest.raises(gtn.GraphError, match="graph 1 has an epsilon cycle"):
        remove_epsilon([ok, bad])


# ---------------------------------------------------------------------------- gradients


def test_tropical_gradient_on_a_tie_is_one_path_indicator():
    # epsilon paths 0 -> 1 -> 3 and 0 -> 2 -> 3 both cost 1: the first one found gets it all
    w = torch.full((4,), 0.5, dtype=F64, requires_grad=True)
    g = gtn.Graph.from_arrays(4, [0, 0, 1, 2], [1, 2, 3, 3], [EPS] * 4, weight=w, final=[3])
    remove_epsilon(g).final_weight[0].backward()
    assert w.grad.tolist() == [1.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("beta", [None, 1.0, 3.0])
@given(g=graphs(max_arcs=8, acyclic=False, num_labels=2), seed=st.integers(0, 2**16))
@settings(max_examples=15)
def test_gradcheck(beta, g, seed):
    assume(not has_epsilon_cycle(g))
    assert gradcheck_energies(lambda g: remove_epsilon(g, semiring(beta)), g, seed)
