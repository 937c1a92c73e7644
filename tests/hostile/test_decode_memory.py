"""The confidence of a long utterance costs memory in proportion to the pruned lattice
(issue 15: composing the lattice with the answer used 2 GB at T = 10,000 and failed at 30,000).

The hard case is a flat lattice: a CTC topology over 30 labels with noisy emissions keeps every
(frame, state) pair within the default beam, and each lattice state is reachable at many
positions of the answer (about 4,000 tokens at T = 10,000)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import torch

import decoders
import gtn
from decoders._posterior_kernels import restricted_free_energy
from decoders.posteriors import (
    NEGLIGIBLE,
    free_energy_value,
    lattice_arrays,
    restrict,
    restricted_energy,
)

from ._ctc_problem import ctc_problem

ROOT = Path(__file__).resolve().parents[2]


def test_posterior_pairs_follow_the_lattice_not_frames_times_answer_length():
    g, e = ctc_problem(6000)
    r = decoders.decode(e, g, lattice=True)
    lat = r.lattice.graph
    args = (lattice_arrays(lat), np.array(r.output, np.int64), 1.0)
    exact, every_pair, _ = restricted_free_energy(*args, math.inf)
    pruned, kept, _ = restricted_free_energy(*args, r.energy + NEGLIGIBLE)
    # Every reachable (state, position) pair grows faster than the lattice (17x its states
    # here); the pairs that carry mass do not.
    assert every_pair > 10 * lat.num_nodes
    assert kept < 2 * lat.num_nodes
    assert pruned == exact or abs(pruned - exact) < 1e-9 * abs(exact)


def test_restricted_energy_equals_free_energy_of_the_composition():
    rng = np.random.default_rng(3)
    g = gtn.Graph.from_arrays(
        3, [0, 0, 1, 1, 2, 2, 0], [1, 2, 0, 2, 0, 1, 0], [0, 1, 1, 0, 2, 1, 2],
        [0, -1, 1, -1, 2, 0, -1], torch.tensor(rng.random(7) * 2, dtype=torch.float64),
        start=[0], final=[0, 1, 2],
    )  # fmt: skip
    for _ in range(20):
        e = torch.tensor(rng.random((int(rng.integers(1, 9)), 3)) * 3, dtype=torch.float64)
        r = decoders.decode(e, g, beam=math.inf, num_hypotheses=3, lattice=True)
        for h in r.hypotheses:
            for beta in (0.5, 1.0, 4.0):
                want = free_energy_value(restrict(r.lattice.graph, h.output), beta)
                assert abs(restricted_energy(r.lattice.graph, h.output, beta) - want) < 1e-9
                got = restricted_energy(r.lattice.graph, h.output, beta, energy=h.energy)
                assert abs(got - want) < 1e-9


def test_confidence_at_ten_thousand_frames_fits_under_a_memory_cap():
    script = textwrap.dedent(
        """
        import resource
        from pathlib import Path
        import decoders
        from tests.hostile._ctc_problem import ctc_problem
        g, e = ctc_problem(10_000)
        decoders.decode(e[:50], g)  # compile (or load) the kernels before the cap
        vm = next(int(l.split()[1]) * 1024 for l in Path("/proc/self/status").read_text()
                  .splitlines() if l.startswith("VmSize:"))
        limit = vm + (1200 << 20)  # the lattice needs ~400 MB; composing needed 1.2 GB more
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        r = decoders.decode(e, g)
        print("confidence", r.confidence)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT,
        timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "confidence" in done.stdout
