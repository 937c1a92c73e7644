"""Composition: ours (gtn.compose.compose) vs OpenFst's (kaldifst.compose), same inputs.

    .venv/bin/python bench/graphs_compose.py

Case (the target): a dense 100-frame graph over 20 labels (101 states, one arc per label from
frame t to t+1, random energies) composed with a 50-state transducer holding 500 arcs per state
(random ilabels / olabels among the 20 labels, random targets) plus a self-loop on every state;
every state of the second graph is final. The product has 5,001 states and ~2.5 M arcs. A
second row gives the second graph's self-loops epsilon inputs, exercising the epsilon filter.
All energies are float32, like OpenFst's tropical weights, and ours require grad (the output
energies are built through the arc maps, ready for backward); 2 threads.

Columns: median ms after warm-up, the two calls interleaved in the same process, of
- ``ours``: ``compose(a, b)``, including its own arc indexing (its equivalent of arc sorting);
- ``openfst``: ``kaldifst.compose`` on inputs arc-sorted beforehand (sorting not timed, so
  this favours OpenFst), with its default sequence filter and trimming, as ours;
- ``ratio`` = ours / openfst (target <= 1.5);
- ``ours_MB`` / ``ofst_MB``: growth of the peak resident set during one call (Linux
  ``/proc/self/clear_refs``, after ``malloc_trim``), so numba, numpy, torch and C++
  allocations all count, the output included.
Both results are checked to have the same numbers of states and arcs.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import statistics
import time

import kaldifst
import numpy as np
import torch

import gtn
from gtn.composition import compose
from gtn.utils import sync_threads

REPEATS = 11
TARGET = 1.5
_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if ctypes.util.find_library("c") else None


def _inputs(rng, epsilon_loops: bool, frames=100, labels=20, states=50, per_state=500):
    """Arrays (n, src, dst, ilabel, olabel, energies, finals) of the two graphs."""
    t = np.repeat(np.arange(frames), labels)
    lab = np.tile(np.arange(labels), frames)
    a = (frames + 1, t, t + 1, lab, lab, rng.random(t.size, dtype=np.float32), [frames])
    src = np.concatenate([np.repeat(np.arange(states), per_state), np.arange(states)])
    dst = np.concatenate([rng.integers(0, states, states * per_state), np.arange(states)])
    il = rng.integers(0, labels, src.size)
    if epsilon_loops:
        il[-states:] = gtn.EPSILON
    ol = rng.integers(0, labels, src.size)
    b = (states, src, dst, il, ol, rng.random(src.size, dtype=np.float32), np.arange(states))
    return a, b


def _ours(n, src, dst, il, ol, energies, finals) -> gtn.Graph:
    w = torch.from_numpy(energies).requires_grad_()
    return gtn.Graph.from_arrays(n, src, dst, il, ol, w, start=[0], final=finals)


def _openfst(n, src, dst, il, ol, energies, finals, sort_type):
    """The same graph as a StdVectorFst (start 0; OpenFst label = ours + 1, epsilon 0)."""
    rows = [
        f"{s} {d} {i + 1} {o + 1} {e!r}"
        for s, d, i, o, e in zip(
            src.tolist(), dst.tolist(), il.tolist(), ol.tolist(), energies.tolist(), strict=True
        )
    ]
    fst = kaldifst.compile(
        "\n".join([*rows, *map(str, finals), ""]), acceptor=False, keep_state_numbering=True
    )
    kaldifst.arcsort(fst, sort_type)
    return fst


def _interleaved_medians_ms(fns, repeats=REPEATS) -> list[float]:
    for fn in fns:  # warm-up: numba cache load, allocator growth
        fn()
        fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times, strict=True):
            gc.collect()
            t = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t)
    return [1e3 * statistics.median(ts) for ts in times]


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _peak_rss_growth_mb(fn) -> float:
    gc.collect()
    if _LIBC is not None:
        _LIBC.malloc_trim(0)  # hand freed heap pages back, so reuse does not hide the peak
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # reset the peak resident set (VmHWM) to the current one
    except OSError:
        return float("nan")
    base = _status_kb("VmRSS")
    result = fn()
    peak = _status_kb("VmHWM")
    del result
    return (peak - base) / 1024


def run(print_fn=print) -> list[dict]:
    torch.set_num_threads(2)
    sync_threads()
    rng = np.random.default_rng(0)
    cases = {
        "dense100x20 o 50x500+loops": _inputs(rng, epsilon_loops=False),
        "  same, eps-input loops": _inputs(rng, epsilon_loops=True),
    }
    header = f"{'case':28s} {'states':>7s} {'arcs':>9s} {'ours':>8s} {'openfst':>8s} {'ratio':>6s}"
    print_fn(header + f" {'target':>6s} {'ours_MB':>8s} {'ofst_MB':>8s}")
    rows = []
    for case, (a_arrays, b_arrays) in cases.items():
        a, b = _ours(*a_arrays), _ours(*b_arrays)
        fa, fb = _openfst(*a_arrays, "olabel"), _openfst(*b_arrays, "ilabel")
        c, f = compose(a, b), kaldifst.compose(fa, fb)
        arcs = sum(f.num_arcs(s) for s in range(f.num_states))
        assert (c.num_nodes, c.num_arcs) == (f.num_states, arcs), "OpenFst and ours disagree"
        del c, f
        ours_ms, openfst_ms = _interleaved_medians_ms(
            [lambda a=a, b=b: compose(a, b), lambda fa=fa, fb=fb: kaldifst.compose(fa, fb)]
        )
        row = {
            "case": case.strip(),
            "states": int(compose(a, b).num_nodes),
            "arcs": arcs,
            "ours_ms": ours_ms,
            "openfst_ms": openfst_ms,
            "ratio": ours_ms / openfst_ms,
            "target": TARGET,
            "ours_peak_mb": _peak_rss_growth_mb(lambda a=a, b=b: compose(a, b)),
            "openfst_peak_mb": _peak_rss_growth_mb(lambda fa=fa, fb=fb: kaldifst.compose(fa, fb)),
        }
        rows.append(row)
        print_fn(
            f"{case:28s} {row['states']:7d} {arcs:9d} {ours_ms:8.2f} {openfst_ms:8.2f} "
            f"{row['ratio']:6.2f} {TARGET:6.1f} {row['ours_peak_mb']:8.1f} "
            f"{row['openfst_peak_mb']:8.1f}"
        )
    return rows


if __name__ == "__main__":
    run()
