"""``ebgtn warmup``: compile the common numba kernels ahead of time, in parallel processes.

numba compiles each kernel on its first call and caches it on disk (see ``gtn._internal.cache_dir``
for where); later processes load it in milliseconds. Nothing needs this command: every operation
compiles what it uses on first call. It only moves that wait to one moment of the user's
choosing and spreads it over the cores. Each task calls public operations on tiny inputs, so
it compiles exactly what a real first call would, for the dtypes real calls use.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import sys
import time

import torch

import gtn  # already imported by the apps package: factors and decoders stay lazy


def _graph_algebra() -> None:
    em = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    lattice = gtn.intersect(gtn.emission_graph(em), gtn.linear([1, 0, 2, 1]))
    (gtn.free_energy(lattice) + gtn.min_energy(lattice)).backward()
    b = gtn.GraphBuilder()
    s = [b.add_node(start=(k == 0), final=True) for k in range(3)]
    for i in s:
        for k in range(3):
            b.add_arc(i, s[k], k, gtn.EPSILON if k in (0, i) else k)
    gtn.compose(gtn.emission_graph(em.detach()), b.build())


def _paths() -> None:
    g = gtn.emission_graph(torch.randn(4, 3, dtype=torch.float64))
    gtn.best_path(g)
    gtn.arc_posteriors(g)
    gtn.nbest(g, 3)
    gtn.sample(g, 2, generator=0)


def _structure() -> None:
    g = gtn.Graph.from_arrays(3, [0, 0, 1], [1, 2, 2], [gtn.EPSILON, 1, 2], final=[2])
    gtn.connect(g)
    gtn.top_sort(g)
    gtn.determinize(gtn.remove_epsilon(g))


def _dense_lattice() -> None:
    em = (-torch.randn(2, 6, 4).log_softmax(-1)).requires_grad_()
    gtn.ctc_loss(em, torch.tensor([[1, 2], [3, 0]]), [6, 5], [2, 1]).backward()


def _factor_chain() -> None:
    import factors

    net = torch.nn.Linear(3, 2)
    crf = factors.chain(4, 2, unary=lambda x: -net(x), pairwise="full", boundary=True)
    x, y = torch.randn(2, 4, 3), torch.randint(0, 2, (2, 4))
    factors.StructuredLoss("nll")(crf, x, y).backward()
    crf.infer(x)


def _decoding() -> None:
    import decoders

    g = gtn.Graph.from_arrays(2, [0, 0, 1], [0, 1, 1], [0, 1, 2], [5, 6, gtn.EPSILON], final=[1])
    emissions = -torch.randn(5, 3).log_softmax(-1)
    decoders.decode(emissions, g, beam=10.0, num_hypotheses=2, lattice=True)


TASKS = {
    "graph algebra": _graph_algebra,
    "paths": _paths,
    "structure": _structure,
    "dense lattices": _dense_lattice,
    "factor chains": _factor_chain,
    "decoding": _decoding,
}


def _run_task(name: str) -> float:
    torch.set_num_threads(1)  # the processes already use every core
    t0 = time.perf_counter()
    TASKS[name]()
    return time.perf_counter() - t0


def run(jobs: int | None = None, names: list[str] | None = None, stream=sys.stderr) -> int:
    """Run the tasks ``names`` (default: all of TASKS), ``jobs`` processes at a time (default:
    one per core), printing a progress line; returns 0, or 1 if a task failed (its error is
    printed)."""
    names = list(TASKS) if names is None else names
    jobs = max(1, min(jobs or os.cpu_count() or 1, len(names)))
    t0, failed = time.perf_counter(), 0
    # spawn: each worker starts clean rather than forking this process's thread pools
    context = multiprocessing.get_context("spawn")
    with cf.ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = {pool.submit(_run_task, name): name for name in names}
        for done, future in enumerate(cf.as_completed(futures), 1):
            try:
                note = f"{futures[future]} {future.result():.1f}s"
            except Exception as err:  # report every task, not only the first failure
                failed += 1
                note = f"{futures[future]} FAILED: {err}"
            line = f"warmup {done}/{len(names)}: {note}"
            if stream.isatty():  # one progress line, rewritten in place
                print("\r\x1b[2K" + line, end="", file=stream, flush=True)
            else:
                print(line, file=stream, flush=True)
    if stream.isatty():
        print(file=stream)
    print(f"warmup: compiled in {time.perf_counter() - t0:.0f}s with {jobs} processes", file=stream)
    return 1 if failed else 0
