"""The matrix kernels for one shared dense state-labelled graph (``_dense`` free energy,
``_viterbi`` decode) equal the run kernels on CRF chains and other dense graphs, with padding,
float32 and float64, gradients wrt emissions and every weight; and the fused CRF NLL equals
its composition from ``path_energy`` and the free energy."""

import pytest
import torch

import gtn
from gtn.dense_lattice import (
    crf_nll,
    ctc_topology,
    intersect_dense,
    linear_chain_graphs,
    path_energy,
)
from gtn.dense_lattice._viterbi import layout

F64 = torch.float64


def _lattice(graph, em, lengths, matrix):
    lat = intersect_dense(graph, em, lengths)
    if not matrix:  # the run kernels that any state-labelled graph would take
        lat.family = "statewise"
    return lat


def _chain(K, dtype, gen, grad=True):
    ws = (torch.randn(*s, generator=gen, dtype=dtype) for s in ((K, K), (K,), (K,)))
    return [w.requires_grad_(grad) for w in ws]


def _free_and_grads(graph, em, lengths, matrix):
    em = em.detach().clone().requires_grad_(True)
    lat = _lattice(graph, em, lengths, matrix)
    F = lat.free_energy()
    g = lat.graphs
    leaves = [em] + [t for t in (g.weight, g.start_weight, g.final_weight) if t.requires_grad]
    weights = torch.linspace(0.5, 1.5, F.shape[0], dtype=F.dtype)
    return F, torch.autograd.grad((torch.where(torch.isfinite(F), F, 0) * weights).sum(), leaves)


def _assert_free_same(graph, em, lengths, rtol):
    F_m, g_m = _free_and_grads(graph, em, lengths, True)
    F_r, g_r = _free_and_grads(graph, em, lengths, False)
    torch.testing.assert_close(F_m, F_r, rtol=rtol, atol=rtol)
    for a, b in zip(g_m, g_r, strict=True):
        torch.testing.assert_close(a, b, rtol=rtol, atol=rtol)


def _assert_decode_same(graph, em, lengths):
    fast = _lattice(graph, em, lengths, True).best_alignment()
    ref = _lattice(graph, em, lengths, False).best_alignment()
    assert torch.equal(fast.labels, ref.labels)
    assert torch.equal(fast.arcs, ref.arcs)
    torch.testing.assert_close(fast.energy, ref.energy)


@pytest.mark.parametrize("dtype,rtol", [(F64, 1e-9), (torch.float32, 1e-4)])
@pytest.mark.parametrize("seed", range(3))
def test_crf_chain_matches_run_kernels(dtype, rtol, seed):
    gen = torch.Generator().manual_seed(seed)
    B, T, K = 5, 9, [1, 4, 7][seed]
    graph = linear_chain_graphs(*_chain(K, dtype, gen))
    lat = intersect_dense(graph, torch.zeros(B, T, K, dtype=dtype))
    assert lat.family == "matrix" and layout(lat.graphs, lat.structure) is not None
    em = torch.randn(B, T, K, generator=gen, dtype=dtype)
    lengths = torch.tensor([9, 1, 0, 4, 9])
    _assert_free_same(graph, em, lengths, rtol)
    _assert_decode_same(graph, em, lengths)


@pytest.mark.parametrize("seed", range(3))
def test_dense_non_chain_graph_matches_run_kernels(seed):
    """CTC topology: dense, state-labelled, states without incoming arcs, several finals."""
    gen = torch.Generator().manual_seed(seed)
    B, T, V = 4, 7, 5
    g = ctc_topology(V, blank=seed % V)
    g = gtn.Graph.from_arrays(
        g.num_nodes,
        g.src,
        g.dst,
        g.ilabel,
        weight=torch.randn(g.num_arcs, generator=gen, dtype=F64).requires_grad_(),
        start=[0],
        final=list(range(1, g.num_nodes)),
    )
    lat = intersect_dense(g, torch.zeros(B, T, V, dtype=F64))
    assert layout(lat.graphs, lat.structure) is not None
    em = -torch.randn(B, T, V, generator=gen, dtype=F64).log_softmax(-1)
    lengths = torch.tensor([7, 3, 1, 6])
    _assert_free_same(g, em, lengths, 1e-9)
    _assert_decode_same(g, em, lengths)


def test_parallel_arcs_and_sparse_graphs_take_the_run_kernels():
    parallel = gtn.Graph.from_arrays(1, [0, 0], [0, 0], [0, 0], start=[0], final=[0])
    lat = intersect_dense(parallel, torch.zeros(2, 3, 1))
    assert lat.structure.state_labelled and layout(lat.graphs, lat.structure) is None
    n = 40  # a left-to-right chain: 2n - 1 arcs of n * n
    sparse = gtn.Graph.from_arrays(
        n, list(range(n)) + list(range(n - 1)), list(range(n)) + list(range(1, n)),
        list(range(n)) + list(range(1, n)), start=[0], final=[n - 1],
    )  # fmt: skip
    lat = intersect_dense(sparse, torch.zeros(2, 3, n))
    assert layout(lat.graphs, lat.structure) is None


@pytest.mark.parametrize("weights_grad", [True, False])
def test_fused_crf_nll_equals_its_composition(weights_grad):
    gen = torch.Generator().manual_seed(4)
    B, T, K = 4, 6, 3
    trans, start, end = _chain(K, F64, gen, weights_grad)
    em = torch.randn(B, T, K, generator=gen, dtype=F64)
    tags = torch.randint(0, K, (B, T), generator=gen)
    lengths = torch.tensor([6, 2, 5, 1])
    leaves = [em.requires_grad_()] + ([trans, start, end] if weights_grad else [])
    fused = crf_nll(em, tags, trans, start, end, lengths, reduction="none")
    lat = _lattice(linear_chain_graphs(trans, start, end), em, lengths, False)
    ref = path_energy(em, tags, trans, start, end, lengths) - lat.free_energy()
    torch.testing.assert_close(fused, ref, rtol=1e-12, atol=1e-12)
    w = torch.arange(1.0, B + 1, dtype=F64)
    for a, b in zip(
        torch.autograd.grad((fused * w).sum(), leaves),
        torch.autograd.grad((ref * w).sum(), leaves),
        strict=True,
    ):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_path_energy_rejects_out_of_range_tags():
    with pytest.raises(IndexError):
        path_energy(torch.zeros(1, 2, 3), torch.tensor([[0, 3]]), *_chain(3, torch.float32,
                    torch.Generator().manual_seed(0)))  # fmt: skip
