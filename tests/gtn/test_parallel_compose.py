"""compose of a batch big enough for the parallel kernels equals the same batch on one thread
(numba's parallel compilations are a separate code path: see tests/gtn/dense_lattice/
test_parallel_kernels.py for the writes they once dropped)."""

import numpy as np
import torch

import gtn
import gtn._internal.compose_kernels as K  # noqa: E402, N812


def _graph(n: int, a: int, V: int, seed: int) -> gtn.Graph:
    g = torch.Generator().manual_seed(seed)
    src, dst = torch.randint(0, n, (a,), generator=g), torch.randint(0, n, (a,), generator=g)
    il, ol = torch.randint(-1, V, (a,), generator=g), torch.randint(-1, V, (a,), generator=g)
    w = torch.rand(a, generator=g, dtype=torch.float64)
    return gtn.Graph.from_arrays(
        n, src.tolist(), dst.tolist(), il.tolist(), ol.tolist(), weight=w, start=[0], final=[n - 1]
    )


def _compose(a, b, threads: int) -> list:
    old = torch.get_num_threads()
    torch.set_num_threads(threads)  # gtn's kernels follow torch's thread count
    try:
        return gtn.compose(a, b)
    finally:
        torch.set_num_threads(old)


def test_parallel_compose_equals_serial():
    a = [_graph(30, 120, 5, s) for s in range(40)]
    b = [_graph(30, 120, 5, 100 + s) for s in range(40)]
    serial, parallel = _compose(a, b, 1), _compose(a, b, 2)
    assert K.batch_write._parallel is not None  # the parallel compilation ran
    assert sum(g.num_arcs for g in serial) > 10_000
    for s, p in zip(serial, parallel, strict=True):
        assert s.num_nodes == p.num_nodes
        for field in ("src", "dst", "ilabel", "olabel"):
            assert np.array_equal(getattr(s, field), getattr(p, field))
        assert torch.equal(s.weight, p.weight)
        assert torch.equal(s.start_weight, p.start_weight)
        assert torch.equal(s.final_weight, p.final_weight)
