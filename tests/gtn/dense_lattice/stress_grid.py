"""Test-only stress grid for the dense lattice: every criterion on the emissions real training
produces (long, peaked, one-hot-like, with impossible labels, blank-dominated), compared with an
independent float64 reference.

References: ``torch.nn.functional.ctc_loss`` (CTC; gradients with respect to the logits, since
torch's gradient with respect to log-probabilities assumes a log_softmax after it), pytorch-crf
(CRF NLL, decode) and the plain-torch log-space forward of :mod:`logspace_reference` (MMI, ASG,
general graphs with epsilons, free and min energy, posteriors, alignments; CRF and CTC cases
torch or pytorch-crf cannot score, see :func:`_ref_ctc` and :func:`_ref_crf_nll`).

Inputs are rounded to float32 once, so the float32 and float64 runs see the same numbers and
share one float64 reference (computed once per case). Energies, lower is better.
"""

from __future__ import annotations

import functools
import math
import zlib
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call
from torchcrf import CRF

import gtn
from gtn import dense_lattice as dl
from tests.gtn.dense_lattice import logspace_reference as ref

F32, F64 = torch.float32, torch.float64
INF = math.inf
B = 3

KINDS = (
    "plain",  # logits randn
    "peaked0.1",  # logits randn / 0.1: the confidence of a model that has started to learn
    "peaked0.05",
    "peaked0.01",
    "onehot",  # energies 0 / 1e4
    "inf",  # +inf energies on labels no correct path needs
    "blank",  # peaked, and every frame's best label is label 0 (CTC's blank)
)
CRITERIA = (
    "ctc",
    "mmi",
    "asg",
    "free",
    "min",
    "posteriors",
    "alignment",
    "crf_nll",
    "crf_decode",
)
FAST_T = (1, 2, 10, 150, 1000)
SLOW_T = (5000, 20000)

# what each criterion's emissions look like: number of labels, and a graph family
_FAMILY = {
    "ctc": "ctc",
    "mmi": "hmm",
    "asg": "asg",
    "free": "general",
    "min": "general",
    "posteriors": "general",
    "alignment": "general",
    "crf_nll": "crf",
    "crf_decode": "crf",
}
_V = {"ctc": 6, "hmm": 6, "asg": 5, "general": 6, "crf": 5}
_HMM_SYMBOLS = 3


def lengths_for(T: int) -> list[int]:
    """Variable lengths in one batch: the full T, about two thirds and a third."""
    return [T, max(1, 2 * T // 3), max(1, T // 3)]


def _hmm_states(T: int) -> int:
    return 1 if T < 4 else 2


class Problem(NamedTuple):
    """One case's inputs, float32-representable float64 tensors (cast per dtype when run)."""

    family: str
    kind: str
    T: int
    logits: torch.Tensor  # [B, T, V]; emissions = -log_softmax(logits)
    emissions: torch.Tensor  # [B, T, V] energies
    lengths: torch.Tensor  # [B]
    targets: torch.Tensor  # [B, S] padded transcripts (CTC, HMM, ASG) or tags [B, T] (CRF)
    target_lengths: torch.Tensor  # [B]
    weights: tuple  # family's trainable energies (ASG/CRF transitions, general graph weights)


def _round(t: torch.Tensor) -> torch.Tensor:
    return t.to(F32).to(F64)


def _transcripts(
    gen, lens, labels: np.ndarray, per_label: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Transcripts with repeats (the second label repeats the first) that fit their lengths: a
    CTC repeat costs a blank frame, an HMM symbol ``per_label`` frames."""
    rows = []
    for L in lens:
        S = max(1, min(12, L // (3 * per_label)))
        y = labels[torch.randint(0, len(labels), (S,), generator=gen).numpy()]
        if S >= 2:
            y[1] = y[0]
        rows.append(y)
    S = max(len(r) for r in rows)
    out = torch.zeros(len(rows), S, dtype=torch.long)
    for b, r in enumerate(rows):
        out[b, : len(r)] = torch.from_numpy(r)
    return out, torch.tensor([len(r) for r in rows])


def _general_graph(gen) -> tuple:
    """A shared acceptor with cycles, epsilon arcs (acyclic) and start / final energies; an
    all-label-0 path of every length exists (0 -0-> 0 -0-> 3)."""
    arcs = [
        (0, 0, 0), (0, 1, 1), (1, 1, 2), (1, 2, 3), (2, 2, 0), (2, 3, 4), (3, 3, 5), (3, 0, 1),
        (0, 3, 0), (1, 4, 5), (4, 4, 0), (4, 1, 2), (0, 2, -1), (2, 4, -1), (1, 3, -1),
    ]  # fmt: skip
    src, dst, lab = zip(*arcs, strict=True)
    w = _round(0.5 * torch.randn(len(arcs), generator=gen, dtype=F64))
    sw = torch.tensor([0.2, -0.1, INF, INF, INF], dtype=F64)
    fw = torch.tensor([INF, INF, INF, 0.0, 0.5], dtype=F64)
    return (src, dst, lab), (w, sw, fw)


def general_graph(structure, weights) -> gtn.Graph:
    src, dst, lab = structure
    return gtn.Graph(5, list(src), list(dst), list(lab), None, *weights)


@functools.cache
def problem(family: str, kind: str, T: int) -> Problem:
    gen = torch.Generator().manual_seed(zlib.crc32(f"{family}/{kind}/{T}".encode()))
    V = _V[family]
    lens = lengths_for(T)
    weights: tuple = ()
    protect = torch.zeros(B, T, V, dtype=torch.bool)  # labels a correct path needs
    if family == "ctc":
        targets, tl = _transcripts(gen, lens, np.arange(1, V), 1)
        protect[:, :, 0] = True
    elif family == "hmm":
        n = _hmm_states(T)
        targets, tl = _transcripts(gen, lens, np.arange(_HMM_SYMBOLS), n)
    elif family == "asg":
        targets, tl = _transcripts(gen, lens, np.arange(V), 1)
        weights = (_round(0.5 * torch.randn(V, V, generator=gen, dtype=F64)),)
    elif family == "general":
        targets, tl = torch.zeros(B, 0, dtype=torch.long), torch.zeros(B, dtype=torch.long)
        weights = _general_graph(gen)
        protect[:, :, 0] = True
    else:  # crf: gold tags per frame
        targets = torch.randint(0, V, (B, T), generator=gen)
        tl = torch.tensor(lens)
        weights = tuple(_round(0.5 * torch.randn(*s, generator=gen, dtype=F64)) for s in (
            (V, V), (V,), (V,)))  # fmt: skip
        protect.scatter_(2, targets[:, :, None], True)
    if family in ("ctc", "hmm", "asg"):
        for b in range(B):
            labs = targets[b, : int(tl[b])]
            if family == "hmm":
                n = _hmm_states(T)
                labs = (labs[:, None] * n + torch.arange(n)).reshape(-1)
            protect[b, :, labs] = True
    logits = torch.randn(B, T, V, generator=gen, dtype=F64)
    if kind.startswith("peaked"):
        logits = logits / float(kind[len("peaked") :])
    elif kind == "onehot":
        hot = torch.randint(0, V, (B, T, 1), generator=gen)
        logits = torch.full((B, T, V), -1e4, dtype=F64).scatter_(2, hot, 0.0)
    elif kind == "inf":
        drop = (torch.rand(B, T, V, generator=gen, dtype=F64) < 0.5) & ~protect
        logits = logits.masked_fill(drop, -INF)
    elif kind == "blank":
        logits = logits / 0.05
        logits[:, :, 0] = logits.max(-1).values + 1.0
    logits = _round(logits)
    emissions = _round(-logits.log_softmax(-1))
    return Problem(family, kind, T, logits, emissions, torch.tensor(lens), targets, tl, weights)


class Result(NamedTuple):
    """A criterion's outputs: values [B] (float64; None when the criterion has none, as label
    posteriors) and named tensors to compare (gradients, posteriors, path energies)."""

    values: torch.Tensor
    tensors: dict


def _leaf(t: torch.Tensor, dtype) -> torch.Tensor:
    return t.detach().to(dtype).requires_grad_(True)


def _grads(out: torch.Tensor, named: dict) -> dict:
    """Gradients of out.sum() over the utterances with a finite value (zero elsewhere)."""
    live = torch.isfinite(out.detach())
    names = list(named)
    if not live.any() or not out.requires_grad:
        return {k: torch.zeros_like(v) for k, v in named.items()}
    gs = torch.autograd.grad(
        out[live].sum(), [named[k] for k in names], allow_unused=True, retain_graph=True
    )
    return {
        k: (torch.zeros_like(named[k]) if g is None else g) for k, g in zip(names, gs, strict=True)
    }


# ---- our side: the library under test, in the given dtype --------------------------------


def _ours_ctc(p: Problem, dt) -> Result:
    logits = _leaf(p.logits, dt)
    loss = dl.ctc_loss(-logits.log_softmax(-1), p.targets, p.lengths, p.target_lengths, 0, "none")
    return Result(loss.detach().double(), _grads(loss, {"d/dlogits": logits}))


def _hmm_graphs(p: Problem, dt):
    n = _hmm_states(p.T)
    num = dl.hmm_graphs(p.targets, p.target_lengths, n, self_loop=0.3, forward=0.1, dtype=dt)
    den = dl.hmm_topology(_HMM_SYMBOLS, n, self_loop=0.3, forward=0.1, loop=0.2, dtype=dt)
    return num, den


def _ours_mmi(p: Problem, dt) -> Result:
    em = _leaf(p.emissions, dt)
    num, den = _hmm_graphs(p, dt)
    loss = dl.mmi_loss(em, num, den, p.lengths, "none")
    return Result(loss.detach().double(), _grads(loss, {"d/dem": em}))


def _ours_asg(p: Problem, dt) -> Result:
    em, tr = _leaf(p.emissions, dt), _leaf(p.weights[0], dt)
    loss = dl.asg_loss(em, p.targets, p.target_lengths, tr, p.lengths, "none")
    return Result(loss.detach().double(), _grads(loss, {"d/dem": em, "d/dtransitions": tr}))


def _general_leaves(p: Problem, dt):
    em = _leaf(p.emissions, dt)
    w = [_leaf(x, dt) for x in p.weights[1]]
    named = {"d/dem": em, "d/dweight": w[0], "d/dstart": w[1], "d/dfinal": w[2]}
    return general_graph(p.weights[0], w), em, named


def _ours_free(p: Problem, dt) -> Result:
    g, em, named = _general_leaves(p, dt)
    out = gtn.intersect_dense(g, em, p.lengths).free_energy()
    return Result(out.detach().double(), _grads(out, named))


def _ours_min(p: Problem, dt) -> Result:
    g, em, named = _general_leaves(p, dt)
    out = gtn.intersect_dense(g, em, p.lengths).min_energy()
    grads = _grads(out, named)
    if p.kind == "onehot":  # 0 / 1e4 energies tie: any best path's indicator is right
        grads = {}
    return Result(out.detach().double(), grads)


def _ours_posteriors(p: Problem, dt) -> Result:
    g, em, _ = _general_leaves(p, dt)
    post = gtn.intersect_dense(g, em, p.lengths).label_posteriors()
    return Result(None, {"posteriors": post.double()})


def _ours_alignment(p: Problem, dt) -> Result:
    g, em, _ = _general_leaves(p, dt)
    ali = gtn.intersect_dense(g, em, p.lengths).best_alignment()
    labels_of_arcs = torch.from_numpy(np.asarray(g.ilabel, np.int64))[ali.arcs.clamp(min=0)]
    labels_ok = torch.where(ali.arcs >= 0, labels_of_arcs, -1).equal(ali.labels)
    path = ref.alignment_energy(g.detach(), em.detach(), p.lengths, ali.arcs)
    # the path it names must have the energy it reports, and the reference minimum
    return Result(
        ali.energy.double(),
        {"path energy": path, "labels of arcs": torch.tensor(float(not labels_ok))},
    )


def _crf_leaves(p: Problem, dt):
    em = _leaf(p.emissions, dt)
    tr, st, en = (_leaf(x, dt) for x in p.weights)
    return em, tr, st, en


def _ours_crf_nll(p: Problem, dt) -> Result:
    em, tr, st, en = _crf_leaves(p, dt)
    loss = dl.crf_nll(em, p.targets, tr, st, en, p.lengths, "none")
    named = {"d/dem": em, "d/dtransitions": tr, "d/dstart": st, "d/dend": en}
    return Result(loss.detach().double(), _grads(loss, named))


def _ours_crf_decode(p: Problem, dt) -> Result:
    em, tr, st, en = _crf_leaves(p, dt)
    tags = dl.crf_decode(em.detach(), tr.detach(), st.detach(), en.detach(), p.lengths)
    e = ref.chain_path_energy(em.detach(), tags.clamp(min=0), tr, st, en, p.lengths).detach()
    pad = torch.arange(p.T)[None] >= p.lengths[:, None]
    return Result(e, {"padding is -1": torch.tensor(float(not (tags[pad] == -1).all()))})


# ---- the float64 references ----------------------------------------------------------------


@functools.cache
def _ref_ctc(p: Problem) -> Result:
    logits = _leaf(p.logits, F64)
    finite = bool(torch.isfinite(p.logits).all())
    if finite:
        lp = logits.log_softmax(-1).transpose(0, 1)
        loss = F.ctc_loss(lp, p.targets, p.lengths, p.target_lengths, 0, "none")
    else:  # torch's CTC gradient is NaN at -inf log-probabilities: the log-space reference
        graphs = dl.ctc_graphs(p.targets, p.target_lengths)
        loss = ref.free_energy(graphs, -logits.log_softmax(-1), p.lengths)
    return Result(loss.detach(), _grads(loss, {"d/dlogits": logits}))


@functools.cache
def _ref_mmi(p: Problem) -> Result:
    em = _leaf(p.emissions, F64)
    num, den = _hmm_graphs(p, F64)
    loss = ref.free_energy(num, em, p.lengths) - ref.free_energy(den, em, p.lengths)
    return Result(loss.detach(), _grads(loss, {"d/dem": em}))


@functools.cache
def _ref_asg(p: Problem) -> Result:
    em, tr = _leaf(p.emissions, F64), _leaf(p.weights[0], F64)
    num = dl.asg_graphs(p.targets, p.target_lengths, tr)
    loss = ref.free_energy(num, em, p.lengths) - ref.free_energy(
        dl.linear_chain_graphs(tr), em, p.lengths
    )
    return Result(loss.detach(), _grads(loss, {"d/dem": em, "d/dtransitions": tr}))


@functools.cache
def _ref_general(p: Problem) -> tuple:
    """(free energy, its gradients, min energy, its gradients)."""
    g, em, named = _general_leaves(p, F64)
    free = ref.free_energy(g, em, p.lengths)
    low = ref.min_energy(g, em, p.lengths)
    return free.detach(), _grads(free, named), low.detach(), _grads(low, named)


def _ref_free(p: Problem) -> Result:
    return Result(*_ref_general(p)[:2])


def _ref_min(p: Problem) -> Result:
    low, grads = _ref_general(p)[2:]
    return Result(low, {} if p.kind == "onehot" else grads)


def _ref_posteriors(p: Problem) -> Result:
    free, grads = _ref_general(p)[:2]
    return Result(free, {"posteriors": grads["d/dem"]})


def _ref_alignment(p: Problem) -> Result:
    low = _ref_general(p)[2]
    return Result(low, {"path energy": low, "labels of arcs": torch.tensor(0.0)})


@functools.cache
def _ref_crf_nll(p: Problem) -> Result:
    em, tr, st, en = _crf_leaves(p, F64)
    named = {"d/dem": em, "d/dtransitions": tr, "d/dstart": st, "d/dend": en}
    if bool(torch.isfinite(p.emissions).all()):  # pytorch-crf: scores are our energies negated
        crf = CRF(em.shape[2], batch_first=True).double()
        mask = torch.arange(p.T)[None] < p.lengths[:, None]
        params = {"transitions": -tr, "start_transitions": -st, "end_transitions": -en}
        loss = -functional_call(crf, params, (-em, p.targets), {"mask": mask, "reduction": "none"})
    else:  # pytorch-crf's gradient is NaN at -inf scores: the log-space reference
        path = ref.chain_path_energy(em, p.targets, tr, st, en, p.lengths)
        loss = path - ref.free_energy(dl.linear_chain_topology(tr, st, en), em, p.lengths)
    return Result(loss.detach(), _grads(loss, named))


@functools.cache
def _ref_crf_decode(p: Problem) -> Result:
    em, tr, st, en = (x.detach() for x in _crf_leaves(p, F64))
    low = ref.min_energy(dl.linear_chain_topology(tr, st, en), em, p.lengths).detach()
    return Result(low, {"padding is -1": torch.tensor(0.0)})


OURS = {c: globals()[f"_ours_{c}"] for c in CRITERIA}
REFERENCE = {c: globals()[f"_ref_{c}"] for c in CRITERIA}


# ---- comparison ------------------------------------------------------------------------------


class Outcome(NamedTuple):
    """How far one case is from its reference (``failures`` empty when it passes)."""

    value_rel_error: float
    max_abs_error: float  # over gradients / posteriors / path energies
    nonfinite: int  # NaN or inf entries in gradients while every value is finite
    failures: list[str]


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    both_inf = (a == b) & torch.isinf(b)
    err = ((a - b).abs() / b.abs().clamp(min=1.0)).masked_fill(both_inf, 0.0)
    return float(err.nan_to_num(INF).max()) if err.numel() else 0.0


def evaluate(criterion: str, dtype: torch.dtype, kind: str, T: int) -> Outcome:
    """Run one case against its reference. Tolerances (issue 14): values within 1e-5 relative
    in float64, 1e-4 in float32 (relative to max(|ref|, 1)); gradients and posteriors within
    1e-4 absolute, plus 1e-5 relative for expected counts that grow with T (arc weights);
    no NaN or inf anywhere in a gradient when the loss is finite."""
    p = problem(_FAMILY[criterion], kind, T)
    want = REFERENCE[criterion](p)
    got = OURS[criterion](p, dtype)
    failures = []
    assert torch.isfinite(want.values).all(), f"no finite reference for {criterion}/{kind}/{T}"
    rtol = 1e-5 if dtype == F64 else 1e-4
    value_err = 0.0 if got.values is None else _rel(got.values, want.values)
    if not value_err <= rtol:
        failures.append(f"value {got.values.tolist()} vs reference {want.values.tolist()}")
    nonfinite = 0
    worst = 0.0
    for name, w in want.tensors.items():
        g = got.tensors[name].double()
        bad = int((~torch.isfinite(g)).sum())
        nonfinite += bad
        if bad:
            failures.append(f"{name}: {bad} NaN / inf entries")
        if name == "path energy":  # an energy: compared like the values
            err = _rel(g, w)
            if not err <= rtol:
                failures.append(f"{name} {g.tolist()} vs {w.tolist()}")
            worst = max(worst, err)
            continue
        diff = (g - w).abs().nan_to_num(INF)
        err = float(diff.max()) if diff.numel() else 0.0
        worst = max(worst, err)
        allowed = 1e-4 + (1e-5 * w.abs() if name not in ("d/dem", "posteriors") else 0.0)
        if not (diff <= allowed).all():
            failures.append(f"{name}: max abs error {err:.3g}")
    if criterion == "posteriors":
        post = got.tensors["posteriors"]
        valid = torch.arange(T)[None] < p.lengths[:, None]
        sums = post.sum(-1)[valid]
        if not torch.allclose(sums, torch.ones_like(sums), atol=1e-4):
            failures.append(f"posteriors do not sum to 1 per frame ({float(sums.min()):.4g})")
    return Outcome(value_err, worst, nonfinite, failures)
