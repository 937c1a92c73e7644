"""Issue 21: every dense-lattice operation on a device (CUDA when present) against the numba
path on the CPU: values, gradients, alignments, and results and gradients left on the device.

The "cpu" case forces the torch path on the CPU (``EBGTN_BACKEND=torch``), so these checks run
in every ``make test``; the "cuda" case is skipped on machines without a CUDA device.
"""

import math
import os

import pytest
import torch

from gtn.dense_lattice import (
    GraphBatch,
    asg_loss,
    crf_decode,
    crf_nll,
    ctc_loss,
    intersect_dense,
    mmi_loss,
)
from tests.gtn.dense_lattice import stress_grid as grid

F32, F64 = torch.float32, torch.float64
INF = math.inf
DEVICES = [
    "cpu",
    pytest.param(
        "cuda",
        marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device"),
    ),
]


@pytest.fixture(params=DEVICES)
def device(request, monkeypatch):
    if request.param == "cpu":
        monkeypatch.setenv("EBGTN_BACKEND", "torch")
    return torch.device(request.param)


def _on_numba(fn, *args):
    """fn(*args) on the numba path, with every tensor argument copied to the CPU."""
    saved = os.environ.pop("EBGTN_BACKEND", None)
    try:
        return fn(
            *(
                a.detach().cpu().requires_grad_(a.requires_grad) if torch.is_tensor(a) else a
                for a in args
            )
        )
    finally:
        if saved is not None:
            os.environ["EBGTN_BACKEND"] = saved


def _leaf(t, device, dtype=F32):
    return t.detach().to(device, dtype).requires_grad_(True)


def _same(ours, ref, rtol=1e-5, atol=1e-5):
    torch.testing.assert_close(
        ours.detach().cpu().double(), ref.detach().double(), rtol=rtol, atol=atol
    )


def _value_and_grads(fn, *leaves):
    out = fn(*leaves)
    grads = torch.autograd.grad(
        out.sum(), [x for x in leaves if x.requires_grad], allow_unused=True
    )
    return out, grads


def test_ctc_loss(device):
    p = grid.problem("ctc", "peaked0.05", 150)
    em = _leaf(p.emissions, device)

    def loss(e):  # targets and lengths on the emissions' device, as a GPU user has them
        d = e.device
        return ctc_loss(
            e, p.targets.to(d), p.lengths.to(d), p.target_lengths.to(d), reduction="none"
        )

    ours, (g,) = _value_and_grads(loss, em)
    ref, (g_ref,) = _on_numba(lambda e: _value_and_grads(loss, e), em)
    assert ours.device == g.device == em.device and ours.dtype == F32
    _same(ours, ref)
    _same(g, g_ref)


def test_crf_nll_and_decode(device):
    p = grid.problem("crf", "plain", 150)
    leaves = [_leaf(x, device) for x in (p.emissions, *p.weights)]
    tags, lens = p.targets.to(device), p.lengths.to(device)
    ours, g = _value_and_grads(lambda *x: crf_nll(*x[:1], tags, *x[1:], lens, "none"), *leaves)
    ref, g_ref = _on_numba(
        lambda *x: _value_and_grads(
            lambda *y: crf_nll(y[0], p.targets, *y[1:], p.lengths, "none"), *x
        ),
        *leaves,
    )
    _same(ours, ref)
    for a, b in zip(g, g_ref, strict=True):
        assert a.device == leaves[0].device
        _same(a, b, atol=1e-4)
    decoded = crf_decode(leaves[0], *leaves[1:], lens)
    assert decoded.device == leaves[0].device
    assert torch.equal(decoded.cpu(), _on_numba(crf_decode, leaves[0], *leaves[1:], p.lengths))


def test_mmi_and_asg(device):
    p = grid.problem("asg", "peaked0.1", 150)
    em, tr = _leaf(p.emissions, device), _leaf(p.weights[0], device)
    tl = p.target_lengths

    def asg(e, t):
        return asg_loss(e, p.targets, tl, t, p.lengths, "none")

    ours, g = _value_and_grads(asg, em, tr)
    ref, g_ref = _on_numba(lambda e, t: _value_and_grads(asg, e, t), em, tr)
    _same(ours, ref)
    for a, b in zip(g, g_ref, strict=True):
        assert a.device == em.device
        _same(a, b, atol=1e-4)
    q = grid.problem("hmm", "plain", 150)
    em = _leaf(q.emissions, device)
    num, den = grid._hmm_graphs(q, F32)
    ours = mmi_loss(em, num, den, q.lengths, "none")
    ref = _on_numba(lambda e: mmi_loss(e, num, den, q.lengths, "none"), em)
    assert ours.device == em.device
    _same(ours, ref)


def test_lattice_operations_on_a_graph_with_epsilons_and_weights_on_the_device(device):
    p = grid.problem("general", "inf", 150)
    structure, (w, sw, fw) = p.weights
    graph = grid.general_graph(structure, (w, sw, fw))
    leaves = [_leaf(x, device) for x in (p.emissions, w, sw, fw)]

    def ops(em, w, sw, fw):
        batch = GraphBatch.from_graphs(graph).with_weights(w, sw, fw)
        lat = intersect_dense(batch, em, p.lengths)
        ali = lat.best_alignment()
        free = lat.free_energy(0.7)
        low = lat.min_energy()
        grads = torch.autograd.grad((free + 2 * low).sum(), [em, w, sw, fw])
        return free, low, ali, lat.label_posteriors(), grads

    ours = ops(*leaves)
    ref = _on_numba(ops, *leaves)
    for a, b in zip(ours[:2] + ours[3:4] + ours[4], ref[:2] + ref[3:4] + ref[4], strict=True):
        assert a.device == leaves[0].device
        _same(a, b, atol=1e-4)
    for a, b in zip(ours[2], ref[2], strict=True):
        assert a.device == leaves[0].device
        assert torch.equal(a.cpu(), b.to(a.dtype))
