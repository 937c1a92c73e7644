"""Every kernel family gives the same numbers on one thread (the serial compilations) and on
two (the parallel ones), on batches large enough for the parallel path: general graphs with
epsilons, state-labelled CTC graphs, the CRF matrix kernels, peaked emissions that go to the
log-space kernels, and the tropical forward with its backtrack.

The parallel compilations are a separate code path: numba's parallel loops have dropped writes
to arrays taken from a tuple argument, which the serial compilations kept (see ``_scaled``)."""

import pytest
import torch

import gtn
import gtn.dense_lattice.intersection as I  # noqa: E402, N812
from gtn.dense_lattice import ctc_graphs, intersect_dense, linear_chain_graphs


def _graphs(kind: str, gen):
    B, T = 4, 300
    if kind == "ctc":
        L, V = 30, 12
        targets = torch.randint(1, V, (B, L), generator=gen)
        return ctc_graphs(targets, torch.full((B,), L)), V, T, "statewise"
    if kind == "crf":
        K = 24
        ws = [torch.randn(*s, generator=gen, dtype=torch.float64) for s in ((K, K), (K,), (K,))]
        return linear_chain_graphs(*[w.requires_grad_(True) for w in ws]), K, T, "matrix"
    # a general graph: epsilon arcs, several labels into one state
    V, N = 6, 16
    src, dst, lab = [], [], []
    for s in range(N):
        for d in range(N):
            if (s * 3 + d) % 4 == 0:
                src.append(s), dst.append(d), lab.append((s + d) % V)
    for s in range(N - 1):
        src.append(s), dst.append(s + 1), lab.append(gtn.EPSILON)
    w = torch.rand(len(src), generator=gen, dtype=torch.float64)
    g = gtn.Graph.from_arrays(N, src, dst, lab, weight=w, start=[0], final=[N - 1])
    return g, V, T, "general"


def _run(graphs, em, lengths, threads: int):
    old = torch.get_num_threads()
    torch.set_num_threads(threads)  # the kernels follow torch's thread count
    try:
        e = em.detach().clone().requires_grad_(True)
        lat = intersect_dense(graphs, e, lengths)
        F = lat.free_energy()
        M = intersect_dense(graphs, e, lengths).min_energy()
        (g_free,) = torch.autograd.grad(F.sum(), e)
        (g_min,) = torch.autograd.grad(M.sum(), e)
        ali = intersect_dense(graphs, em, lengths).best_alignment()
        return lat.family, F, M, g_free, g_min, ali.labels
    finally:
        torch.set_num_threads(old)


@pytest.mark.parametrize("kind", ["ctc", "crf", "general"])
@pytest.mark.parametrize("temperature", [1.0, 0.01])  # 0.01: peaked, partly log-space
def test_parallel_equals_serial(kind, temperature):
    gen = torch.Generator().manual_seed(7)
    graphs, V, T, family = _graphs(kind, gen)
    em = -(torch.randn(4, T, V, generator=gen, dtype=torch.float64) / temperature).log_softmax(-1)
    lengths = torch.tensor([T, T - 17, T, 5])
    serial = _run(graphs, em, lengths, 1)
    parallel = _run(graphs, em, lengths, 2)
    assert serial[0] == parallel[0] == family
    module = {"statewise": I._statewise, "matrix": I._dense, "general": I._scaled}[family]
    assert module.forward._parallel is not None  # the parallel compilation ran
    assert torch.isfinite(serial[1]).any()
    for a, b in zip(serial[1:], parallel[1:], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)
