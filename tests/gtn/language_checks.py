"""Test-only helpers for the epsilon-removal and determinization tests: conversion to and from
OpenFst (kaldifst), a string-energy enumerator for cyclic graphs, and energy accessors for
gradcheck. Plain Python, shares no code with the kernels it checks.

OpenFst reserves label 0 for epsilon: our label k is OpenFst's k + 1, and EPSILON is 0.
"""

from __future__ import annotations

import math

import numpy as np
import torch

import gtn
from tests.gtn.reference import enumerate_paths, plain
from tests.gtn.strategies import graphs

INF = math.inf


def semiring(beta: float | None) -> gtn.Semiring:
    """The semiring of a test parameter: None is tropical, a number the log semiring's beta."""
    return gtn.TROPICAL if beta is None else gtn.log_semiring(beta)


def multi_path_graphs(**kwargs):
    """Random acyclic graphs (tests.gtn.strategies.graphs, default 3-6 nodes and 2 labels so
    that paths share labels) with at least two complete paths: something to combine."""
    kwargs = {"min_nodes": 3, "max_nodes": 6, "max_arcs": 14, "num_labels": 2, **kwargs}
    return graphs(**kwargs).filter(lambda g: len(enumerate_paths(g)) >= 2)


def bounded_string_energies(g: gtn.Graph, max_len: int, beta: float | None = None) -> dict:
    """(ilabels, olabels) -> energy for every string pair whose longer side has at most
    ``max_len`` labels, over all paths (the graph must have no epsilon cycle, so this is finite).
    Paths combine by min (beta None) or log-sum-exp with beta."""
    w, sw, fw, out = plain(g)
    groups: dict = {}

    def walk(node: int, il: tuple, ol: tuple, energy: float) -> None:
        if fw[node] != INF:
            groups.setdefault((il, ol), []).append(energy + fw[node])
        for a in out.get(node, []):
            i2 = il + ((int(g.ilabel[a]),) if g.ilabel[a] != gtn.EPSILON else ())
            o2 = ol + ((int(g.olabel[a]),) if g.olabel[a] != gtn.EPSILON else ())
            if max(len(i2), len(o2)) <= max_len and w[a] != INF:
                walk(int(g.dst[a]), i2, o2, energy + w[a])

    for s in range(g.num_nodes):
        if sw[s] != INF:
            walk(s, (), (), sw[s])
    if beta is None:
        return {k: min(v) for k, v in groups.items()}
    return {
        k: min(v) - math.log(sum(math.exp(-beta * (e - min(v))) for e in v)) / beta
        for k, v in groups.items()
    }


def assert_same_energies(got: dict, want: dict, tol: float = 1e-9) -> None:
    """Same strings, same energies (a string of energy +inf counts as absent)."""
    got = {k: v for k, v in got.items() if v != INF}
    want = {k: v for k, v in want.items() if v != INF}
    assert got.keys() == want.keys(), (sorted(got), sorted(want))
    for k in want:
        assert math.isclose(got[k], want[k], rel_tol=tol, abs_tol=tol), (k, got[k], want[k])


def energies(g: gtn.Graph) -> tuple[torch.Tensor, ...]:
    """Arc energies and the finite start / final energies (the inputs gradcheck may perturb)."""
    sw, fw = g.start_weight, g.final_weight
    return g.weight, sw[torch.isfinite(sw.detach())], fw[torch.isfinite(fw.detach())]


def with_energies(g: gtn.Graph, w, sw, fw) -> gtn.Graph:
    """g with the energies that :func:`energies` lists replaced."""
    starts = torch.from_numpy(g.start_nodes.astype(np.int64))
    finals = torch.from_numpy(g.final_nodes.astype(np.int64))
    return g.with_weights(
        w,
        g.start_weight.detach().index_put((starts,), sw),
        g.final_weight.detach().index_put((finals,), fw),
    )


def assert_batch_is_one_by_one(op, gs: list[gtn.Graph]) -> None:
    """``op`` on a list of graphs gives, graph by graph, what it gives on each graph alone: the
    same arcs and the same energies."""
    for b, one in zip(op(gs), gs, strict=True):
        single = op(one)
        for field in ("src", "dst", "ilabel", "olabel"):
            assert np.array_equal(getattr(b, field), getattr(single, field)), field
        for field in ("weight", "start_weight", "final_weight"):
            assert torch.equal(getattr(b, field), getattr(single, field)), field


def gradcheck_energies(op, g: gtn.Graph, seed: int) -> bool:
    """torch's gradcheck of the energies of ``op(g)`` as a function of ``g``'s energies, at
    random continuous energies (no tropical ties, so argmin choices are locally constant)."""
    gen = torch.Generator().manual_seed(seed)
    inputs = tuple(
        torch.randn(t.shape, generator=gen, dtype=torch.float64).requires_grad_()
        for t in energies(g)
    )
    return torch.autograd.gradcheck(
        lambda w, sw, fw: energies(op(with_energies(g, w, sw, fw))), inputs
    )
