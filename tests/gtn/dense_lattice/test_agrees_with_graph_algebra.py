"""The fast path equals the general graph algebra: for one utterance,
dense_lattice.intersect_dense(g, emissions) scores like
gtn.intersect(g, gtn.emission_graph(emissions)), in value and in gradient (emissions and graph
weights)."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import gtn
from gtn.dense_lattice import intersect_dense
from tests.gtn.dense_lattice import brute

F64 = torch.float64


def _leaves(g):
    return [
        t.detach().clone().requires_grad_(True) for t in (g.weight, g.start_weight, g.final_weight)
    ]


def _finite_grad(t):
    return torch.nan_to_num(t.grad, nan=0.0, posinf=0.0, neginf=0.0) if t.grad is not None else None


@given(
    brute.dense_graphs(),
    st.integers(1, 4),
    st.sampled_from([None, 1.0, 2.5]),
    st.integers(0, 2**31 - 1),
)
def test_dense_lattice_equals_intersect_with_dense_graph(g, frames, beta, seed):
    emissions = torch.randn(frames, 3, dtype=F64, generator=torch.Generator().manual_seed(seed))

    def score(fast: bool):
        em = emissions.clone().requires_grad_(True)
        w, sw, fw = _leaves(g)
        graph = g.with_weights(w, sw, fw)
        if fast:
            lat = intersect_dense(graph, em.unsqueeze(0))
            value = lat.min_energy()[0] if beta is None else lat.free_energy(beta)[0]
        else:
            product = gtn.intersect(graph, gtn.emission_graph(em))
            value = gtn.min_energy(product) if beta is None else gtn.free_energy(product, beta)
        if torch.isfinite(value):
            value.backward()
        return value.detach(), [_finite_grad(t) for t in (em, w, sw, fw)]

    fast_value, fast_grads = score(True)
    slow_value, slow_grads = score(False)
    assert float(fast_value) == pytest.approx(float(slow_value), rel=1e-9, abs=1e-9)
    if not torch.isfinite(slow_value):
        return
    if beta is None:
        # Ties may pick different best paths; equal values are the contract there.
        return
    for got, want in zip(fast_grads, slow_grads, strict=True):
        got = torch.zeros_like(want) if got is None and want is not None else got
        want = torch.zeros_like(got) if want is None and got is not None else want
        if got is not None:
            assert torch.allclose(got, want, atol=1e-9)


def test_a_state_with_many_unsorted_incoming_arcs_scores_like_the_explicit_lattice():
    # more than 64 arcs into one state in no order: the layout sorts the whole state at once
    gen = torch.Generator().manual_seed(3)
    n_arcs, labels = 300, 7
    lab = torch.randint(0, labels, (n_arcs,), generator=gen)
    src = torch.randint(0, 3, (n_arcs,), generator=gen)
    w = torch.randn(n_arcs, dtype=F64, generator=gen)
    g = gtn.Graph.from_arrays(
        4,
        src.tolist() + [3],
        [3] * n_arcs + [0],
        lab.tolist() + [0],
        weight=w.tolist() + [0.5],
        start=[0, 1, 2],
        final=[3],
    )
    emissions = torch.randn(5, labels, dtype=F64, generator=gen)
    fast = intersect_dense(g, emissions[None]).free_energy()[0]
    slow = gtn.free_energy(gtn.intersect(g, gtn.emission_graph(emissions)))
    assert float(fast) == pytest.approx(float(slow), rel=1e-12)
