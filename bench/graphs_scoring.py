"""Scoring DAGs: ours (gtn.scoring) vs OpenFst's shortest path (kaldifst), same inputs.

    .venv/bin/python bench/graphs_scoring.py

Cases: a dense lattice (100 frames x 20000 labels: 101 states, 2 M arcs) and a random DAG
(500 states, 400 000 arcs grouped by source state, as an OpenFst VectorFst stores them), plus
the same DAG with its arcs shuffled (ours then permutes weights into source order each call).
All energies are float32, like OpenFst's tropical weights; 2 threads.

Columns: median ms after warm-up of
- ``ours``: the call on a graph constructed once (its topological order is cached);
- ``first``: the first call on a freshly constructed graph, topological sort included;
- ``openfst``: ``kaldifst.shortest_path`` alone (FST construction is not timed);
- ``ratio`` = ours / openfst, with the target (min_energy <= 1x; free_energy + backward <= 3x);
- ``py_MB``: tracemalloc peak of Python/numpy allocations during our call (plan arrays, sorted
  copies); torch tensors and numba scratch (O(states + max out-degree)) are not traced.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc

import kaldifst
import numpy as np
import torch

import gtn
from gtn.scoring import free_energy, min_energy

REPEATS = 15
TARGETS = {"min_energy": 1.0, "free_energy+backward": 3.0}


def _lattice(rng, frames=100, labels=20000):
    src = np.repeat(np.arange(frames), labels)
    energies = rng.standard_normal(frames * labels).astype(np.float32) + 10
    return frames + 1, src, src + 1, np.tile(np.arange(labels), frames), energies


def _dag(rng, states=500, arcs=400_000, shuffle=False):
    src = np.sort(rng.integers(0, states - 1, arcs))
    dst = src + 1 + (rng.random(arcs) * (states - 1 - src)).astype(np.int64)
    order = rng.permutation(arcs) if shuffle else np.arange(arcs)
    energies = (rng.random(arcs) * 10).astype(np.float32)
    return states, src[order], dst[order], rng.integers(0, 100, arcs)[order], energies


def _graph(n, src, dst, labels, energies) -> gtn.Graph:
    return gtn.Graph.from_arrays(n, src, dst, labels, weight=torch.from_numpy(energies))


def _openfst(n, src, dst, labels, energies):
    """A StdVectorFst of the same graph (start 0, final n-1; OpenFst label = ours + 1). The
    text lists arcs by source (its first row names the start state); OpenFst stores arcs per
    state whatever their order in our arrays."""
    order = np.argsort(src, kind="stable")
    src, dst, labels, energies = src[order], dst[order], labels[order], energies[order]
    lines = [
        f"{s} {d} {x + 1} {e!r}"
        for s, d, x, e in zip(
            src.tolist(), dst.tolist(), labels.tolist(), energies.tolist(), strict=True
        )
    ]
    return kaldifst.compile(
        "\n".join([*lines, str(n - 1), ""]), acceptor=True, keep_state_numbering=True
    )


def _openfst_energy(fst) -> float:
    """Total weight of the linear FST that shortest_path returns, parsed from its text: arc
    rows are "src dst ilabel olabel weight", final rows "state [weight]"."""
    total = 0.0
    for fields in (row.split() for row in str(fst).strip().splitlines()):
        if len(fields) in (2, 5):
            total += float(fields[-1])
    return total


def _median_ms(fn, repeats=REPEATS) -> float:
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def _first_call_ms(make_graph, op, repeats=5) -> float:
    """Median over fresh graphs (nothing cached) of the op's first call."""
    times = []
    for _ in range(repeats):
        g = make_graph()
        t = time.perf_counter()
        op(g)
        times.append(time.perf_counter() - t)
    return 1e3 * statistics.median(times)


def _py_peak_mb(fn) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def _free_energy_and_backward(g: gtn.Graph) -> None:
    torch.autograd.grad(free_energy(g), [g.weight])


def _ops():
    return {
        "min_energy": lambda g: min_energy(g),
        "free_energy+backward": _free_energy_and_backward,
    }


def run(print_fn=print) -> list[dict]:
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)
    cases = {
        "lattice 100x20000": _lattice(rng),
        "dag 500/400k": _dag(rng),
        "dag 500/400k shuffled": _dag(rng, shuffle=True),
    }
    rows = []
    header = f"{'case':24s} {'op':22s} {'ours':>8s} {'first':>8s} {'openfst':>8s} {'ratio':>6s}"
    print_fn(header + f" {'target':>6s} {'py_MB':>6s}")
    for case, arrays in cases.items():
        fst = _openfst(*arrays)
        openfst_ms = _median_ms(lambda fst=fst: kaldifst.shortest_path(fst, n=1))
        g = _graph(*arrays)
        g.weight.requires_grad_()
        ours_best = float(min_energy(g.detach()))
        assert abs(ours_best - _openfst_energy(kaldifst.shortest_path(fst, n=1))) < 1e-3 * max(
            1.0, abs(ours_best)
        ), "OpenFst and min_energy disagree"
        for op_name, op in _ops().items():

            def fresh(arrays=arrays):
                fresh_graph = _graph(*arrays)
                fresh_graph.weight.requires_grad_()
                return fresh_graph

            ours_ms = _median_ms(lambda g=g, op=op: op(g))
            row = {
                "case": case,
                "op": op_name,
                "ours_ms": ours_ms,
                "first_call_ms": _first_call_ms(fresh, op),
                "openfst_ms": openfst_ms,
                "ratio": ours_ms / openfst_ms,
                "target": TARGETS[op_name],
                "py_peak_mb": _py_peak_mb(lambda g=g, op=op: op(g)),
            }
            rows.append(row)
            print_fn(
                f"{case:24s} {op_name:22s} {row['ours_ms']:8.2f} {row['first_call_ms']:8.2f} "
                f"{openfst_ms:8.2f} {row['ratio']:6.2f} {row['target']:6.1f} "
                f"{row['py_peak_mb']:6.1f}"
            )
    return rows


if __name__ == "__main__":
    run()
