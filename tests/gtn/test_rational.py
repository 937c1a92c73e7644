"""union, concat and closure: path-set laws against brute-force enumeration, and gradients."""

from collections import Counter

import torch
from hypothesis import assume, given

from gtn.rational import closure, concat, union

from .reference import enumerate_paths, label_multiset
from .strategies import graphs


def as_multiset(paths):
    return Counter((p.ilabels, p.olabels, round(p.energy, 6)) for p in paths)


@given(graphs(acceptor=False), graphs(acceptor=False))
def test_union_paths_are_the_multiset_union(a, b):
    assert label_multiset(enumerate_paths(union(a, b))) == label_multiset(
        enumerate_paths(a)
    ) + label_multiset(enumerate_paths(b))


@given(
    graphs(acceptor=False, max_nodes=4, max_arcs=6), graphs(acceptor=False, max_nodes=4, max_arcs=6)
)
def test_concat_paths_are_all_pairs(a, b):
    want = Counter()
    for p in enumerate_paths(a):
        for q in enumerate_paths(b):
            want[(p.ilabels + q.ilabels, p.olabels + q.olabels, round(p.energy + q.energy, 6))] += 1
    assert label_multiset(enumerate_paths(concat(a, b), max_arcs=40)) == want


def test_concat_of_nothing_accepts_the_empty_sequence():
    assert [(p.ilabels, p.energy) for p in enumerate_paths(concat([]))] == [((), 0.0)]


@given(graphs(acceptor=False, max_nodes=3, max_arcs=4, epsilon=False))
def test_star_paths_are_repetitions(g):
    # Without epsilons every repetition adds >= 1 label, so short strings are fully enumerated.
    base = enumerate_paths(g)
    assume(all(p.ilabels for p in base))  # empty-string paths of g would repeat without bound
    nonempty = [p for p in base if p.ilabels]
    max_len = 3
    want = Counter({((), (), 0.0): 1})
    frontier = Counter({((), (), 0.0): 1})
    for _ in range(max_len):
        nxt = Counter()
        for (il, ol, e), c in frontier.items():
            for p in nonempty:
                if len(il) + len(p.ilabels) <= max_len:
                    nxt[(il + p.ilabels, ol + p.olabels, round(e + p.energy, 6))] += c
        want += nxt
        frontier = nxt
    got = Counter(
        (p.ilabels, p.olabels, round(p.energy, 6))
        for p in enumerate_paths(closure(g), max_arcs=3 * max_len + 3)
        if len(p.ilabels) <= max_len
    )
    assert got == want


def test_plus_excludes_the_empty_sequence_unless_the_graph_accepts_it():
    from gtn.constructors import linear

    got = {p.ilabels for p in enumerate_paths(closure(linear([1]), plus=True), max_arcs=5)}
    assert () not in got and (1, 1, 1) in got


def test_union_concat_closure_are_differentiable():
    a = _weighted(3)
    b = _weighted(4)

    def f(wa, sa, fa, wb, sb, fb):
        ga = a.with_weights(wa, sa, fa)
        gb = b.with_weights(wb, sb, fb)
        out = closure(concat(union(ga, gb), ga))
        finite = lambda t: torch.where(torch.isfinite(t), t, torch.zeros_like(t))  # noqa: E731
        coef = torch.linspace(0.5, 2.0, out.num_arcs, dtype=torch.float64)
        return (
            (out.weight * coef).sum()
            + finite(out.start_weight).sum()
            + finite(out.final_weight).sum()
        )

    args = [
        t.clone().requires_grad_()
        for g in (a, b)
        for t in (g.weight, g.start_weight, g.final_weight)
    ]
    # +inf entries of start/final vectors have no finite gradient; check the finite ones only.
    assert torch.autograd.gradcheck(
        lambda wa, wb: f(
            wa, args[1].detach(), args[2].detach(), wb, args[4].detach(), args[5].detach()
        ),
        (args[0], args[3]),
    )


def _weighted(n):
    from gtn.constructors import linear

    return linear(list(range(n)), weights=torch.randn(n, dtype=torch.float64))
