"""Lattices, confidences, distinct n-best lists and rescoring, against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import decoders
import gtn

from .reference import enumerate_outputs, exact_min_energy, posterior, random_decoding_graph

SMALL = range(30)


def _small(seed: int):
    rng = np.random.default_rng(1000 + seed)
    v = int(rng.integers(2, 4))
    g = random_decoding_graph(rng, int(rng.integers(2, 5)), v, emitting=int(rng.integers(4, 9)))
    emissions = torch.tensor(rng.normal(1.0, 1.0, (int(rng.integers(1, 5)), v)))
    return g, emissions


@pytest.mark.parametrize("seed", SMALL)
def test_lattice_contains_the_best_path_with_consistent_energies(seed):
    g, emissions = _small(seed)
    r = decoders.decode(emissions, g, beam=1.5, lattice=True)
    if not r.found:
        return
    lat = r.lattice
    assert float(gtn.min_energy(lat.graph)) == pytest.approx(r.energy, abs=1e-9)
    # Each arc's energy is a graph arc's energy plus, if it emits, that frame's emission.
    t = lat.times
    emitting = lat.graph.ilabel != gtn.EPSILON
    assert np.all(t[lat.graph.dst] == t[lat.graph.src] + emitting)
    assert t.min() == 0 and t.max() == emissions.shape[0]
    graph_energies = {
        (int(g.ilabel[a]), int(g.olabel[a]), round(float(g.weight[a]), 9))
        for a in range(g.num_arcs)
    }
    for a in lat.graph.arcs():
        emitted = float(emissions[t[a.src], a.ilabel]) if a.ilabel != gtn.EPSILON else 0.0
        assert (a.ilabel, a.olabel, round(a.weight - emitted, 9)) in graph_energies
    assert decoders.lattice_times(lat.graph).tolist() == t.tolist()


@pytest.mark.parametrize("seed", SMALL)
def test_infinite_beam_lattice_has_the_full_free_energy(seed):
    g, emissions = _small(seed)
    full = gtn.compose(gtn.emission_graph(emissions), g)
    r = decoders.decode(emissions, g, beam=math.inf, lattice=True)
    if not r.found:
        assert full.num_nodes == 0
        return
    assert float(gtn.free_energy(r.lattice.graph)) == pytest.approx(
        float(gtn.free_energy(full)), abs=1e-9
    )


@pytest.mark.parametrize("seed", SMALL)
@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_infinite_beam_confidence_is_the_exact_posterior(seed, beta):
    g, emissions = _small(seed)
    paths = enumerate_outputs(emissions.numpy(), g)
    r = decoders.decode(emissions, g, beam=math.inf, beta=beta)
    if not paths:
        assert not r.found
        return
    assert 0.0 <= r.confidence <= 1.0
    assert r.confidence == pytest.approx(posterior(paths, r.output, beta), abs=1e-9)


@pytest.mark.parametrize("seed", SMALL)
def test_finite_beam_confidence_is_a_probability(seed):
    g, emissions = _small(seed)
    r = decoders.decode(emissions, g, beam=0.7, max_active=2)
    assert r.confidence is None if not r.found else 0.0 <= r.confidence <= 1.0


@pytest.mark.parametrize("seed", SMALL)
def test_nbest_are_the_best_distinct_outputs_in_order(seed):
    g, emissions = _small(seed)
    paths = enumerate_outputs(emissions.numpy(), g)
    best_per_output = sorted((min(v), k) for k, v in paths.items())
    r = decoders.decode(emissions, g, beam=math.inf, num_hypotheses=4)
    got = [(h.energy, h.output) for h in r.hypotheses]
    assert len(got) == min(4, len(best_per_output))
    assert len({out for _, out in got}) == len(got)  # distinct
    energies = [e for e, _ in got]
    assert energies == sorted(energies)
    assert energies == pytest.approx([e for e, _ in best_per_output[: len(got)]], abs=1e-9)
    for e, out in got:
        assert min(paths[out]) == pytest.approx(e, abs=1e-9)
    for h in r.hypotheses:
        assert h.posterior == pytest.approx(posterior(paths, h.output, 1.0), abs=1e-9)
    if got:
        assert r.hypotheses[0] == r.best


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_rescoring_equals_exact_decoding_with_the_composed_graph(seed, scale):
    g, emissions = _small(seed)
    rng = np.random.default_rng(seed)
    # A language model over outputs 0..2: one state, a random energy per word, final.
    lm = gtn.Graph.from_arrays(1, [0, 0, 0], [0, 0, 0], [0, 1, 2], weight=rng.uniform(0, 2, 3))
    lm = lm.to(torch.float64)
    r = decoders.decode(emissions, g, beam=math.inf, lattice=True, confidence=False)
    scaled = lm.with_weights(lm.weight * scale)
    exact = exact_min_energy(emissions, gtn.compose(g, scaled))
    if not r.found:
        assert math.isinf(exact)
        return
    rescored = decoders.decode_lattice(decoders.rescore(r.lattice, lm, scale), num_hypotheses=2)
    assert rescored.energy == pytest.approx(exact, abs=1e-9)
    assert len(rescored.alignment) == emissions.shape[0]
    assert 0.0 <= rescored.confidence <= 1.0


def test_rescoring_at_scale_zero_keeps_the_lattice_energies():
    g, emissions = _small(2)
    r = decoders.decode(emissions, g, beam=math.inf, lattice=True)
    assert r.found
    lm = gtn.Graph.from_arrays(1, [0, 0, 0], [0, 0, 0], [0, 1, 2], weight=[5.0, 6.0, 7.0])
    rescored = decoders.decode_lattice(decoders.rescore(r.lattice, lm, 0.0))
    assert rescored.energy == pytest.approx(r.energy, abs=1e-6)
    assert rescored.output == r.output


@pytest.mark.parametrize("seed", range(6))
def test_distinct_outputs_equal_composition_with_complement_sets(seed):
    """The pair search (lattice x trie of found outputs) finds what composing with
    gtn.complement_set and taking the best path finds, energy for energy."""
    from decoders.outputs import distinct_outputs

    g, emissions = _small(seed)
    r = decoders.decode(emissions, g, beam=math.inf, lattice=True, confidence=False)
    if not r.found:
        return
    lat = r.lattice.graph
    got = distinct_outputs(lat, 5)
    alphabet = np.unique(lat.olabel[lat.olabel != gtn.EPSILON]).astype(np.int64)
    want: list = []
    while len(want) < 5:
        rest = lat if not want else gtn.compose(lat, gtn.complement_set(want, alphabet))
        energy = float(gtn.min_energy(rest)) if rest.num_nodes else math.inf
        if energy == math.inf:
            break
        arcs = gtn.best_path_arcs(rest)
        labels = rest.olabel[arcs]
        want.append(tuple(int(x) for x in labels[labels != gtn.EPSILON]))
        assert got[len(want) - 1][1] == pytest.approx(energy, abs=1e-9)
    assert len(got) == len(want)
    assert len({out for out, _ in got}) == len(got)
    for out, energy in got:  # outputs of equal energy may come in another order
        best = gtn.min_energy(gtn.compose(lat, gtn.linear(list(out))))
        assert float(best) == pytest.approx(energy, abs=1e-9)


def test_distinct_outputs_refuse_a_cyclic_graph():
    from decoders.outputs import distinct_outputs

    g = gtn.Graph.from_arrays(2, [0, 1], [1, 0], [0, 1], [3, 4], start=[0], final=[1])
    with pytest.raises(gtn.GraphError, match="acyclic.*state [01] is on a cycle"):
        distinct_outputs(g, 2)
