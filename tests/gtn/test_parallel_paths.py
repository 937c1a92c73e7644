"""The DAG kernels that take a whole ``Plan`` (scoring, best path, n-best lists, sampling, the
sorted-order permutation) give the same results on one thread (their serial compilations) and
on two (the parallel ones), on a batch big enough for the parallel path.

numba's parallel loops have dropped writes to arrays taken from a tuple argument (see
tests/gtn/dense_lattice/test_parallel_kernels.py): these kernels read the plan and the weights
from named tuples and must write only to arrays passed on their own."""

import numpy as np
import torch

import gtn
import gtn._internal.nbest_kernels as NK  # noqa: N812
import gtn._internal.plan as P  # noqa: N812
import gtn._internal.sample_kernels as SK  # noqa: N812
import gtn._internal.scoring_kernels as K  # noqa: N812


def _dag(n: int, a: int, seed: int) -> gtn.Graph:
    """A DAG whose ids are not a topological order and whose arcs are not sorted."""
    g = torch.Generator().manual_seed(seed)
    rank = torch.randperm(n, generator=g)  # state id -> topological position
    x, y = torch.randint(0, n, (a,), generator=g), torch.randint(0, n, (a,), generator=g)
    lo, hi = torch.minimum(x, y), torch.maximum(x, y) + 1
    hi = torch.clamp(hi, max=n - 1)
    keep = lo < hi
    by_rank = torch.argsort(rank)  # topological position -> state id
    src, dst = by_rank[lo[keep]], by_rank[hi[keep]]
    w = torch.rand(int(keep.sum()), generator=g, dtype=torch.float64).requires_grad_(True)
    labels = torch.randint(0, 4, (int(keep.sum()),), generator=g)
    return gtn.Graph.from_arrays(
        n, src.tolist(), dst.tolist(), labels.tolist(), weight=w,
        start=[int(by_rank[0]), int(by_rank[1])], final=[int(by_rank[-1]), int(by_rank[-2])],
    )  # fmt: skip


def _run(graphs, threads: int) -> dict:
    old = torch.get_num_threads()
    torch.set_num_threads(threads)  # gtn's kernels follow torch's thread count
    try:
        free = gtn.free_energy(graphs)
        best = gtn.min_energy(graphs)
        (free.sum() + best.sum()).backward()
        grads = [g.weight.grad.clone() for g in graphs]
        for g in graphs:
            g.weight.grad = None
        return {
            "free": free.detach(),
            "min": best.detach(),
            "grads": grads,
            "best": gtn.best_path_arcs(graphs),
            "nbest": [[p.weight.detach() for p in ps] for ps in gtn.nbest(graphs, 3)],
            "sample": [
                [p.weight.detach() for p in ps] for ps in gtn.sample(graphs, 2, generator=7)
            ],
        }
    finally:
        torch.set_num_threads(old)


def test_plan_kernels_give_the_same_results_on_one_and_two_threads():
    graphs = [_dag(60, 400, seed) for seed in range(40)]
    assert sum(g.num_arcs for g in graphs) > 10_000
    serial, parallel = _run(graphs, 1), _run(graphs, 2)
    for kernel in (K.log_forward, K.log_backward, K.viterbi_forward, K.viterbi_backward,
                   K.viterbi_paths, NK.kbest, SK.sample, P._permute):  # fmt: skip
        assert kernel._parallel is not None, kernel.py_func.__name__
    assert torch.isfinite(serial["free"]).all()
    assert torch.equal(serial["free"], parallel["free"])
    assert torch.equal(serial["min"], parallel["min"])
    for s, p in zip(serial["grads"], parallel["grads"], strict=True):
        assert torch.equal(s, p)
        assert s.abs().sum() > 0
    for s, p in zip(serial["best"], parallel["best"], strict=True):
        assert len(s) > 0 and np.array_equal(s, p)
    for key in ("nbest", "sample"):
        for s, p in zip(serial[key], parallel[key], strict=True):
            assert len(s) > 0 and len(s) == len(p)
            for a, b in zip(s, p, strict=True):
                assert torch.equal(a, b)
