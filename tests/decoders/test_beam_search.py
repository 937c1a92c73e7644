"""The beam search against exact decoding of the fully composed graph."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import decoders
import gtn

from .reference import exact_min_energy, random_decoding_graph

CASES = range(40)


def _case(seed: int, max_states: int = 7, max_frames: int = 7):
    rng = np.random.default_rng(seed)
    v = int(rng.integers(2, 5))
    g = random_decoding_graph(
        rng, int(rng.integers(2, max_states + 1)), v, emitting=int(rng.integers(4, 14))
    )
    emissions = torch.tensor(rng.normal(1.0, 1.0, (int(rng.integers(1, max_frames + 1)), v)))
    return g, emissions


@pytest.mark.parametrize("seed", CASES)
def test_infinite_beam_equals_exact_min_energy(seed):
    g, emissions = _case(seed)
    exact = exact_min_energy(emissions, g)
    result = decoders.decode(emissions, g, beam=math.inf, confidence=False)
    if math.isinf(exact):
        assert not result.found
    else:
        assert result.energy == pytest.approx(exact, abs=1e-9)


@pytest.mark.parametrize("seed", CASES)
def test_best_path_energy_is_its_graph_plus_emission_energies(seed):
    g, emissions = _case(seed)
    result = decoders.decode(emissions, g, beam=math.inf, confidence=False)
    if not result.found:
        return
    arcs = result.path_arcs
    assert len(result.alignment) == emissions.shape[0]
    first, last = int(g.src[arcs[0]]), int(g.dst[arcs[-1]])
    emitted = emissions[torch.arange(emissions.shape[0]), torch.from_numpy(result.alignment)]
    total = (
        float(g.start_weight[first])
        + float(g.weight[torch.from_numpy(arcs)].sum())
        + float(emitted.sum())
        + float(g.final_weight[last])
    )
    assert total == pytest.approx(result.energy, abs=1e-9)
    outputs = g.olabel[arcs]
    assert result.output == tuple(int(x) for x in outputs[outputs != gtn.EPSILON])
    assert np.all(np.diff(result.output_frames) >= 0)


@pytest.mark.parametrize("seed", CASES)
@pytest.mark.parametrize("beam, max_active", [(0.5, 10_000), (2.0, 2), (math.inf, 1)])
def test_finite_beam_never_reports_below_exact(seed, beam, max_active):
    g, emissions = _case(seed)
    exact = exact_min_energy(emissions, g)
    result = decoders.decode(emissions, g, beam=beam, max_active=max_active, confidence=False)
    assert result.energy >= exact - 1e-9
    assert np.all(result.active[:-1] <= max_active)  # random energies: no ties at the cut


def test_utterance_longer_than_any_path_is_no_path():
    g = gtn.linear([0, 1])  # accepts exactly two frames
    result = decoders.decode(torch.zeros(3, 2), g, num_hypotheses=2, lattice=True)
    assert not result.found
    assert result.energy == math.inf and result.output == () and result.hypotheses == []


def test_epsilon_arcs_consume_no_frame_and_emit_outputs():
    # 0 -a:w1-> 1 -eps:w2-> 0 (a word loop), final at 0.
    g = gtn.Graph.from_arrays(2, [0, 1], [1, 0], [0, gtn.EPSILON], [5, 6], final=[0])
    result = decoders.decode(torch.zeros(3, 1), g)
    assert result.output == (5, 6, 5, 6, 5, 6)
    assert result.output_frames.tolist() == [0, 1, 1, 2, 2, 3]


def test_zero_frames_uses_start_and_final_only():
    g = gtn.Graph.from_arrays(2, [0, 0], [1, 1], [gtn.EPSILON, 0], [3, 4], [0.5, 0.0], final=[1])
    result = decoders.decode(torch.zeros(0, 1), g)
    assert result.output == (3,) and result.energy == pytest.approx(0.5)


def test_batch_with_lengths_equals_one_by_one():
    g, _ = _case(3)
    rng = np.random.default_rng(0)
    batch = torch.tensor(rng.normal(1.0, 1.0, (3, 6, 4)))
    lengths = [6, 2, 4]
    results = decoders.decode_batch(batch, g, lengths, beam=3.0)
    for b, r in enumerate(results):
        one = decoders.decode(batch[b, : lengths[b]], g, beam=3.0)
        assert (r.energy, r.output) == (one.energy, one.output)


def test_epsilon_cycle_is_refused():
    g = gtn.Graph.from_arrays(2, [0, 1], [1, 0], [gtn.EPSILON, gtn.EPSILON], final=[1])
    with pytest.raises(gtn.GraphError, match="input-epsilon arcs form a cycle"):
        decoders.decode(torch.zeros(1, 1), g)


def test_emissions_with_too_few_labels_are_refused():
    g = gtn.linear([0, 3])
    with pytest.raises(gtn.GraphError, match="3 labels per frame.*input label 3"):
        decoders.decode(torch.zeros(2, 3), g)


def test_nan_emissions_are_refused():
    e = torch.zeros(2, 2)
    e[1, 0] = float("nan")
    with pytest.raises(gtn.GraphError, match="frame 1, label 0"):
        decoders.decode(e, gtn.linear([0, 1]))


@given(
    st.lists(
        st.sampled_from([0.0, 1.0, 1.0, 2.5, -3.0, float("inf"), 7.25]) | st.floats(-50, 50),
        min_size=1,
        max_size=60,
    ),
    st.data(),
)
def test_kth_smallest_equals_numpy_partition(values, data):
    from decoders._beam_kernels import kth_smallest

    x = np.array(values, dtype=np.float64)
    k = data.draw(st.integers(0, len(values) - 1))
    want = np.partition(x.copy(), k)[k]
    buf = np.concatenate([x, [np.nan] * 3])  # only x[:n] is read
    assert kth_smallest(buf, len(values), k) == want


# A callee compiled into a cached caller is not listed among its own signatures, so this runs in
# a fresh process with an empty cache, where the first decode compiles everything it calls.
HELPERS_PROBE = """
import torch, gtn, decoders
from decoders import _beam_kernels as K
g = gtn.Graph.from_arrays(2, [0, 0, 1, 1], [0, 1, 1, 0], [0, 1, 2, 0], [5, 6, gtn.EPSILON, 7],
                          final=[1])
assert decoders.decode(-torch.randn(6, 3).log_softmax(-1), g, beam=10.0, max_active=1).found
for f in (K._heap_push, K._heap_pop, K._grow, K.kth_smallest):
    print(sum("Literal" in str(t) for s in f.signatures for t in s), end=" ")
"""


def test_search_helpers_compile_no_literal_variants(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", HELPERS_PROBE], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == ["0"] * 4  # a literal argument would be a second compilation


PAIR_PASS_PROBE = """
import torch, gtn, decoders
from decoders import _posterior_kernels as P
from gtn.utils import csr
g = gtn.Graph.from_arrays(2, [0, 0, 1, 1], [0, 1, 1, 0], [0, 1, 2, 0], [5, 6, gtn.EPSILON, 7],
                          final=[1])
em = -torch.randn(20, 3).log_softmax(-1)
r = decoders.decode(em, g, beam=10.0, num_hypotheses=3, lattice=True)
assert r.found and len(r.hypotheses) > 1
print(len(P.pair_pass.signatures), len(csr.signatures))
"""


def test_a_first_decode_compiles_the_pair_pass_and_csr_once(tmp_path):
    from tests.gtn.test_jit import allocations_compiled

    # the lattice's free energy, the posteriors and the distinct hypotheses share one pair
    # pass; lattices and search graphs share csr's int32 compilation; arrays come from np.empty
    counts, allocations = allocations_compiled(PAIR_PASS_PROBE, tmp_path)
    assert counts.split() == ["1", "1"]
    assert allocations.split() == ["ol_np_empty"]
