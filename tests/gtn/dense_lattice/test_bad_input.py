"""Bad input to the dense-lattice criteria (issue 14, "Also fix"): a one-line error naming the
argument before any kernel runs, or a documented value, never a crash, a read past the end of
an array or a silent NaN."""

import math
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import gtn
from gtn.dense_lattice import (
    GraphBatch,
    asg_graphs,
    crf_decode,
    crf_nll,
    ctc_graphs,
    ctc_loss,
    hmm_graphs,
    hmm_topology,
    intersection,
    linear_chain_graphs,
    mmi_loss,
    path_energy,
    topologies,
)

F64 = torch.float64
INF = math.inf


def _chain(K=3, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return tuple(torch.randn(*s, dtype=F64, generator=gen) for s in ((K, K), (K,), (K,)))


@pytest.mark.parametrize("fn", ["crf_nll", "path_energy"])
def test_tags_of_one_frame_are_refused_not_a_segfault(fn):
    # before the check the kernel read tags[b, L-1] past the end: a crash, so in a subprocess
    code = f"""
import torch
from gtn.dense_lattice import {fn}
em = torch.randn(2, 4, 3, dtype=torch.float64)
tr, z = torch.randn(3, 3, dtype=torch.float64), torch.zeros(3, dtype=torch.float64)
try:
    {fn}(em, torch.zeros(2, 1, dtype=torch.long), tr, z, z)
except ValueError as e:
    print("refused:", e)
"""
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "refused: tags must have shape [B, T] = [2, 4]" in run.stdout


@pytest.mark.parametrize("fn", [crf_nll, path_energy])
def test_tags_one_frame_short_are_refused(fn):
    em = torch.randn(2, 4, 3, dtype=F64)
    with pytest.raises(ValueError, match=r"tags must have shape \[B, T\] = \[2, 4\].*\[2, 3\]"):
        fn(em, torch.zeros(2, 3, dtype=torch.long), *_chain())


@pytest.mark.parametrize("fn", [crf_nll, path_energy])
def test_float_tags_are_refused(fn):
    with pytest.raises(TypeError, match="tags must be integers"):
        fn(torch.randn(2, 4, 3, dtype=F64), torch.zeros(2, 4), *_chain())


def test_tags_are_checked_on_valid_frames_only():
    em = torch.randn(2, 4, 3, dtype=F64)
    tags = torch.tensor([[0, 1, 2, 1], [2, 0, -1, -1]])  # -1: padding of a 2-frame utterance
    lengths = torch.tensor([4, 2])
    loss = crf_nll(em, tags, *_chain(), lengths, reduction="none")
    assert torch.isfinite(loss).all()
    tags[1, 1] = 3
    with pytest.raises(IndexError, match=r"tags\[1, 1\] = 3 is outside \[0, 3\)"):
        crf_nll(em, tags, *_chain(), lengths)


@pytest.mark.parametrize("name", ["transitions", "start", "end"])
@pytest.mark.parametrize("bad", [math.nan, -INF])
@pytest.mark.parametrize("fn", ["crf_nll", "path_energy", "crf_decode"])
def test_nan_and_minus_inf_weights_are_named(name, bad, fn):
    tr, st, en = _chain()
    {"transitions": tr, "start": st, "end": en}[name].view(-1)[1] = bad
    em, tags = torch.randn(2, 4, 3, dtype=F64), torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=rf"{name}\[.*1\] is {bad}; energies must be finite"):
        if fn == "crf_decode":
            crf_decode(em, tr, st, en)
        else:
            {"crf_nll": crf_nll, "path_energy": path_energy}[fn](em, tags, tr, st, en)


def test_all_forbidden_transitions_give_inf_loss_and_zero_gradient():
    tr = torch.full((3, 3), INF, dtype=F64, requires_grad=True)
    st, en = (torch.zeros(3, dtype=F64, requires_grad=True) for _ in range(2))
    em = torch.randn(2, 4, 3, dtype=F64, requires_grad=True)
    tags = torch.zeros(2, 4, dtype=torch.long)
    loss = crf_nll(em, tags, tr, st, en, torch.tensor([4, 1]), reduction="none")
    assert loss[0] == INF  # needs a transition: impossible
    assert torch.isfinite(loss[1])  # one frame: no transition
    loss[1].backward()
    crf_nll(em, tags, tr, st, en, torch.tensor([4, 1]), reduction="sum").backward()
    for t in (em, tr, st, en):
        assert torch.isfinite(t.grad).all()
    assert (em.grad[0] == 0).all()


def test_a_forbidden_gold_transition_gives_inf_not_nan():
    tr, st, en = _chain()
    tr[0, 0] = INF  # the gold path 0 0 ... is impossible, others are not
    em = torch.randn(2, 4, 3, dtype=F64, requires_grad=True)
    tags = torch.tensor([[0, 0, 1, 2], [1, 2, 0, 1]])
    loss = crf_nll(em, tags, tr, st, en, reduction="none")
    assert loss[0] == INF and torch.isfinite(loss[1])
    assert path_energy(em, tags, tr, st, en)[0] == INF
    (g,) = torch.autograd.grad(loss.sum(), em)
    assert (g[0] == 0).all() and torch.isfinite(g).all() and (g[1] != 0).any()


@pytest.mark.parametrize("fn", ["crf_nll", "path_energy", "crf_decode"])
def test_zero_length_is_refused(fn):
    em, tags = torch.randn(2, 4, 3, dtype=F64), torch.zeros(2, 4, dtype=torch.long)
    with pytest.raises(ValueError, match=r"lengths\[1\] = 0: a linear-chain CRF"):
        if fn == "crf_decode":
            crf_decode(em, *_chain(), torch.tensor([4, 0]))
        else:
            {"crf_nll": crf_nll, "path_energy": path_energy}[fn](
                em, tags, *_chain(), torch.tensor([4, 0])
            )


def test_path_energy_names_a_nan_emission_on_the_path():
    em, tags = torch.randn(2, 4, 3, dtype=F64), torch.zeros(2, 4, dtype=torch.long)
    em[1, 3, 1] = math.nan  # off the path: harmless
    assert torch.isfinite(path_energy(em, tags, *_chain())).all()
    em[1, 2, 0] = math.nan
    with pytest.raises(ValueError, match=r"emissions\[1, 2, 0\] is nan"):
        path_energy(em, tags, *_chain())


# ---- ctc_loss ------------------------------------------------------------------------------


def test_ctc_zero_frames_and_empty_target_is_zero_like_torch():
    logits = torch.randn(3, 5, 4, dtype=F64, requires_grad=True)
    targets = torch.tensor([[1, 2], [0, 0], [0, 0]])
    il, tl = torch.tensor([5, 0, 3]), torch.tensor([2, 0, 0])
    ours = ctc_loss(-logits.log_softmax(-1), targets, il, tl, reduction="none")
    (g_ours,) = torch.autograd.grad(ours.sum(), logits)
    ref = F.ctc_loss(logits.log_softmax(-1).transpose(0, 1), targets, il, tl, reduction="none")
    (g_ref,) = torch.autograd.grad(ref.sum(), logits)
    assert ours[1] == 0
    torch.testing.assert_close(ours, ref)
    torch.testing.assert_close(g_ours, g_ref)
    alone = ctc_loss(torch.zeros(1, 0, 4, dtype=F64), torch.zeros(1, 0, dtype=torch.long), [0], [0])
    assert alone == 0


@pytest.mark.parametrize("blank", [-1, 4, 1.0])
def test_ctc_blank_outside_the_labels_is_refused(blank):
    with pytest.raises(ValueError, match=r"blank must be an integer in \[0, V=4\)"):
        ctc_loss(torch.rand(2, 5, 4), torch.ones(2, 2, dtype=torch.long), [5, 5], [2, 2], blank)


def test_ctc_graphs_refuse_a_negative_blank():
    # -1 is gtn.EPSILON: blank arcs would consume no frame
    with pytest.raises(ValueError, match="blank must be a label >= 0"):
        ctc_graphs(torch.ones(1, 2, dtype=torch.long), [2], blank=-1)


@pytest.mark.parametrize("arg", ["targets", "input_lengths", "target_lengths"])
def test_ctc_float_targets_and_lengths_are_refused(arg):
    args = {
        "targets": torch.ones(2, 2, dtype=torch.long),
        "input_lengths": torch.tensor([5, 5]),
        "target_lengths": torch.tensor([2, 2]),
    }
    args[arg] = args[arg].float()
    with pytest.raises(TypeError, match=f"{arg} must be integers"):
        ctc_loss(torch.rand(2, 5, 4), **args)


def test_ctc_numpy_emissions_are_named():
    with pytest.raises(TypeError, match=r"emissions must be a torch.Tensor \[B, T, V\].*ndarray"):
        ctc_loss(np.zeros((2, 5, 4)), torch.ones(2, 2, dtype=torch.long), [5, 5], [2, 2])


def test_ctc_numpy_integer_targets_are_fine():
    em = torch.rand(2, 5, 4, dtype=F64)
    a = ctc_loss(em, np.ones((2, 2), np.int64), np.array([5, 5]), np.array([2, 2]))
    b = ctc_loss(em, torch.ones(2, 2, dtype=torch.long), [5, 5], [2, 2])
    assert a == b


def test_ctc_torch_time_first_layout_names_the_expected_layout():
    log_probs = torch.randn(7, 2, 4).log_softmax(-1)  # torch's [T, B, C]
    with pytest.raises(ValueError, match=r"\[B, T, V\].*transpose\(0, 1\)"):
        ctc_loss(-log_probs, torch.ones(2, 2, dtype=torch.long), [7, 7], [2, 2])


# ---- mmi_loss ------------------------------------------------------------------------------


def _one_label_graph(label):
    return gtn.Graph(1, [0], [0], [label], None, torch.zeros(1, dtype=F64),
                     torch.zeros(1, dtype=F64), torch.zeros(1, dtype=F64))  # fmt: skip


def test_mmi_denominator_without_a_path_is_an_error():
    em = torch.zeros(1, 3, 2, dtype=F64)
    em[0, 1, 1] = INF  # the denominator reads only label 1
    with pytest.raises(ValueError, match="utterance 0's denominator has no path"):
        mmi_loss(em, _one_label_graph(0), _one_label_graph(1))


def test_mmi_numerator_without_a_path_is_inf_or_dropped():
    em = torch.zeros(1, 3, 2, dtype=F64, requires_grad=True)
    em.data[0, 1, 1] = INF
    assert mmi_loss(em, _one_label_graph(1), _one_label_graph(0), reduction="none")[0] == INF
    loss = mmi_loss(em, _one_label_graph(1), _one_label_graph(0), zero_infinity=True)
    loss.backward()
    assert loss == 0 and (em.grad == 0).all()


def test_mean_over_an_empty_batch_is_refused_not_nan():
    em, tags, lens = torch.zeros(0, 4, 3, dtype=F64), torch.zeros(0, 4, dtype=torch.long), []
    none = torch.zeros(0, dtype=torch.long)
    with pytest.raises(ValueError, match=r"'mean' \(B > 0\), got 'mean'"):
        ctc_loss(em, torch.zeros(0, 1, dtype=torch.long), none, none)
    with pytest.raises(ValueError, match=r"'mean' \(B > 0\), got 'mean'"):
        crf_nll(em, tags, *_chain(), reduction="mean")
    with pytest.raises(gtn.GraphError, match="empty list of graphs"):  # no utterance to mean
        mmi_loss(em, lens, lens)
    # the other reductions have a value: nothing, and an empty sum
    assert crf_nll(em, tags, *_chain(), reduction="none").shape == (0,)
    assert crf_nll(em, tags, *_chain(), reduction="sum").item() == 0.0
    assert ctc_loss(em, torch.zeros(0, 1, dtype=torch.long), none, none, reduction="sum") == 0.0


# ---- GraphBatch: what the kernels index with, checked before they run ------------------------


def _two_graph_batch(**change):
    """Two one-arc graphs of 2 states each, label 0; ``change`` replaces arguments."""
    args = {
        "node_offsets": [0, 2, 4],
        "arc_offsets": [0, 1, 2],
        "src": [0, 0],
        "dst": [1, 1],
        "label": [0, 0],
        "weight": torch.zeros(2, dtype=F64),
        "start_weight": torch.tensor([0, INF, 0, INF], dtype=F64),
        "final_weight": torch.tensor([INF, 0, INF, 0], dtype=F64),
    }
    return GraphBatch(**{**args, **change})


def test_a_well_formed_graph_batch_scores():
    lat = gtn.intersect_dense(_two_graph_batch(), torch.ones(2, 1, 1, dtype=F64))
    assert lat.free_energy().tolist() == [1.0, 1.0]


@pytest.mark.parametrize(
    "change, problem",
    [
        # totals agree (4 states, 2 arcs) but graph 0 claims 10 states and graph 1 -6: the
        # layout kernel wrote out of bounds (a segfault)
        ({"node_offsets": [0, 10, 4]}, r"node_offsets decrease at graph 1: 10 then 4"),
        ({"arc_offsets": [0, 50, 2]}, r"arc_offsets decrease at graph 1: 50 then 2"),
        ({"node_offsets": [1, 2, 4]}, r"node_offsets\[0\] = 1; graph 0 starts at 0"),
        ({"node_offsets": [0, 2]}, r"node_offsets has 2 entries but arc_offsets has 3"),
        ({"node_offsets": [0.0, 2.0, 4.0]}, r"node_offsets must be \[G\+1\] integers"),
        ({"arc_offsets": [0, 1, 3]}, r"src has 2 entries but arc_offsets end at 3"),
        ({"dst": [1, 2]}, r"graph 1, arc 0: dst 2 is outside the graph's states \[0, 2\)"),
        ({"src": [0, -1]}, r"graph 1, arc 0: src -1 is outside"),
        ({"label": [0, -2]}, r"graph 1, arc 0: label -2 is negative"),
        ({"label": [0, 2**32]}, r"label\[1\] = 4294967296 is out of range for 32-bit ids"),
        ({"weight": torch.zeros(2, 1, dtype=F64)}, r"weight must have shape \[2\], got \[2, 1\]"),
        ({"start_weight": torch.zeros(4, dtype=torch.long)}, "start_weight must be a floating"),
    ],
)
def test_a_malformed_graph_batch_is_refused_naming_the_argument_and_graph(change, problem):
    with pytest.raises(gtn.GraphError, match=problem):
        _two_graph_batch(**change)


@pytest.mark.parametrize("name", ["weight", "start_weight", "final_weight"])
@pytest.mark.parametrize("bad", [math.nan, -INF])
def test_graph_batch_energies_are_finite_or_plus_inf_like_a_graphs(name, bad):
    w = {"weight": torch.zeros(2, dtype=F64), "start_weight": torch.zeros(4, dtype=F64),
         "final_weight": torch.zeros(4, dtype=F64)}[name]  # fmt: skip
    w[-1] = bad
    what = "arc 0" if name == "weight" else "node 1"
    with pytest.raises(gtn.GraphError, match=rf"graph 1, {what}: {name} is {bad}; energies"):
        _two_graph_batch(**{name: w})
    good = _two_graph_batch()
    with pytest.raises(gtn.GraphError, match=rf"graph 1, {what}: {name} is {bad}"):
        good.with_weights(**{"weight": good.weight, "start_weight": good.start_weight,
                             "final_weight": good.final_weight, name: w})  # fmt: skip


@pytest.mark.parametrize("at", [(0, 0), (0, 1)])
@pytest.mark.parametrize("bad", [math.nan, -INF])
def test_linear_chain_graphs_name_a_bad_transition(at, bad):
    # -inf once gave a NaN free energy, NaN a finite wrong one
    tr = torch.zeros(3, 3, dtype=F64)
    tr[at] = bad
    with pytest.raises(gtn.GraphError, match=rf"transitions\[{at[0]}, {at[1]}\] is {bad}"):
        linear_chain_graphs(tr)
    with pytest.raises(gtn.GraphError, match=rf"transitions\[{at[0]}, {at[1]}\] is {bad}"):
        asg_graphs(torch.tensor([[0, 1]]), [2], tr)


@pytest.mark.parametrize("name", ["self_loop", "forward", "skip"])
@pytest.mark.parametrize("bad", [math.nan, -INF])
def test_hmm_graphs_name_a_bad_energy(name, bad):
    # these once gave a free energy of inf
    with pytest.raises(gtn.GraphError, match=rf"^{name} is {bad}; energies must be finite"):
        hmm_graphs(torch.tensor([[0, 1]]), [2], 3, **{name: bad})
    with pytest.raises(gtn.GraphError, match=rf"^{name} is {bad}; energies must be finite"):
        hmm_topology(2, 3, **{name: bad})


def _boom(*args):
    raise AssertionError("the kernels' layout was built before the labels were checked")


def test_a_label_past_V_is_refused_before_the_layout_is_sized_by_it(monkeypatch):
    # the layout's label table has max_label + 1 entries: 2.4 GB for a 16-byte AT&T file
    monkeypatch.setattr(intersection, "structure", _boom)
    g = gtn.Graph.from_arrays(2, [0], [1], [2**28], weight=torch.zeros(1, dtype=F64))
    with pytest.raises(gtn.GraphError, match=r"label 268435456 is out of range .* V=2"):
        gtn.intersect_dense(g, torch.zeros(1, 1, 2, dtype=F64))


def test_a_ctc_target_past_V_is_refused_before_the_layout_is_sized_by_it(monkeypatch):
    monkeypatch.setattr(topologies, "_ctc_layout", _boom)
    monkeypatch.setattr(intersection, "structure", _boom)
    target = torch.tensor([[2**28]])
    with pytest.raises(ValueError, match=r"target label 268435456 .* emissions with V=3"):
        ctc_loss(torch.zeros(1, 3, 3, dtype=F64), target, [3], [1])
    graphs = ctc_graphs(target, [1])  # the layout waits for the emissions' V
    with pytest.raises(gtn.GraphError, match=r"label 268435456 is out of range .* V=3"):
        gtn.intersect_dense(graphs, torch.zeros(1, 3, 3, dtype=F64))


def test_ctc_targets_past_32_bits_are_refused_not_wrapped():
    with pytest.raises(ValueError, match=r"target label 4294967297 .* 32-bit labels"):
        ctc_graphs(torch.tensor([[2**32 + 1]]), [1])
