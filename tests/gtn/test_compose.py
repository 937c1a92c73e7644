"""compose / intersect: path multisets against brute-force pairing of input paths, OpenFst
(kaldifst) as a differential oracle, gradients, algebraic laws, batching and errors."""

from __future__ import annotations

import math
from collections import Counter

import kaldifst
import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

import gtn
import gtn.composition as gc  # noqa: E402
from gtn.composition import compose, intersect

from .openfst_oracle import from_openfst, to_openfst
from .reference import enumerate_paths, label_multiset, string_energies
from .strategies import graphs

INF = math.inf
transducers = graphs(max_nodes=4, max_arcs=7, num_labels=3, acceptor=False)
acceptors = graphs(max_nodes=4, max_arcs=7, num_labels=3, acceptor=True)
cyclic_transducers = graphs(max_nodes=3, max_arcs=6, num_labels=2, acceptor=False, acyclic=False)


# ---------------------------------------------------------------- references (test-only)
def agreeing_pairs(a: gtn.Graph, b: gtn.Graph, max_arcs: int, match: str = "olabels") -> Counter:
    """Multiset of (input string, output string, energy) over pairs (a-path, b-path) whose
    strings agree: a's output string equals b's input string (compose), or a's string equals
    b's (intersect, match="ilabels")."""
    by_string: dict = {}
    for p in enumerate_paths(b, max_arcs):
        by_string.setdefault(p.ilabels, []).append(p)
    out: Counter = Counter()
    for p in enumerate_paths(a, max_arcs):
        for q in by_string.get(getattr(p, match), []):
            out[(p.ilabels, q.olabels, round(p.energy + q.energy, 6))] += 1
    return out


def at_least_one_per_arc(g: gtn.Graph) -> gtn.Graph:
    """Arc energies >= 1, start / final energies 0: a path's energy bounds its number of arcs."""
    zero_or_inf = lambda w: torch.where(torch.isfinite(w), 0.0, INF).to(w.dtype)  # noqa: E731
    return g.with_weights(
        1 + g.weight.abs(), zero_or_inf(g.start_weight), zero_or_inf(g.final_weight)
    )


def min_energy(g: gtn.Graph) -> float:
    """Bellman-Ford in float64 (inputs here have no negative cycles)."""
    dist = g.start_weight.detach().double().numpy().copy()
    w = g.weight.detach().double().numpy()
    for _ in range(g.num_nodes):
        for i in range(g.num_arcs):
            dist[g.dst[i]] = min(dist[g.dst[i]], dist[g.src[i]] + w[i])
    return float(np.min(dist + g.final_weight.detach().double().numpy(), initial=INF))


def openfst_compose(a: gtn.Graph, b: gtn.Graph):
    fa, fb = to_openfst(a), to_openfst(b)
    kaldifst.arcsort(fa, "olabel")
    kaldifst.arcsort(fb, "ilabel")
    return kaldifst.compose(fa, fb)


def single_start(g: gtn.Graph) -> gtn.Graph:
    """Keep only the first start state, with energy 0 (OpenFst's form)."""
    sw = torch.full_like(g.start_weight, INF)
    sw[int(g.start_nodes[0])] = 0.0
    return g.with_weights(start_weight=sw)


def nonnegative(g: gtn.Graph) -> gtn.Graph:
    return g.with_weights(g.weight.abs(), g.start_weight.abs(), g.final_weight.abs())


def states_on_complete_paths(g: gtn.Graph) -> set[int]:
    states = set()
    for p in enumerate_paths(g, max_arcs=g.num_nodes):
        states.update(int(g.src[i]) for i in p.arcs)
        states.update(int(g.dst[i]) for i in p.arcs)
    states.update(int(s) for s in g.start_nodes if s in g.final_nodes)
    return states


def chain(labels_in, labels_out=None, weights=None) -> gtn.Graph:
    n = len(labels_in)
    return gtn.Graph.from_arrays(
        n + 1, range(n), range(1, n + 1), labels_in, labels_out, weights, start=[0], final=[n]
    )


# ---------------------------------------------------------------- brute force
@given(transducers, transducers)
def test_compose_paths_are_the_agreeing_path_pairs_acyclic(a, b):
    c = compose(a, b)
    bound = a.num_nodes + b.num_nodes
    assert label_multiset(enumerate_paths(c, bound)) == agreeing_pairs(a, b, bound)


@given(cyclic_transducers, cyclic_transducers)
def test_compose_paths_are_the_agreeing_path_pairs_cyclic(a, b):
    # Every arc costs >= 1, so pairs with energy <= L have <= L input arcs in all and map to
    # output paths of <= L arcs: both enumerations below are complete up to energy L.
    a, b = at_least_one_per_arc(a), at_least_one_per_arc(b)
    bound = 5
    got = Counter(
        {
            k: v
            for k, v in label_multiset(enumerate_paths(compose(a, b), bound)).items()
            if k[2] <= bound
        }
    )
    want = Counter({k: v for k, v in agreeing_pairs(a, b, bound).items() if k[2] <= bound})
    assert got == want


@given(acceptors, acceptors)
def test_intersect_paths_are_the_pairs_of_paths_with_equal_strings(a, b):
    c = intersect(a, b)
    bound = a.num_nodes + b.num_nodes
    assert c.is_acceptor()
    assert label_multiset(enumerate_paths(c, bound)) == agreeing_pairs(a, b, bound, "ilabels")


@given(transducers, transducers)
def test_compose_with_a_vocabulary_much_larger_than_the_graphs(a, b):
    # b's arcs are then sorted by label rather than counted into per-label buckets
    spread = lambda g: gtn.Graph(  # noqa: E731
        g.num_nodes,
        g.src,
        g.dst,
        np.where(g.ilabel >= 0, g.ilabel * 100_003, -1),
        np.where(g.olabel >= 0, g.olabel * 100_003, -1),
        g.weight,
        g.start_weight,
        g.final_weight,
    )
    a, b = spread(a), spread(b)
    bound = a.num_nodes + b.num_nodes
    assert label_multiset(enumerate_paths(compose(a, b), bound)) == agreeing_pairs(a, b, bound)


@given(transducers, transducers)
def test_compose_output_is_trimmed(a, b):
    c = compose(a, b)
    assert states_on_complete_paths(c) == set(range(c.num_nodes))


def test_trimming_is_exact_when_coreachability_runs_against_discovery_order():
    # Breadth-first discovery numbers 1..6 in order, but the way to the final state runs
    # 6 -> 5 -> ... -> 1 -> 7, so reverse sweeps settle one state each; 8 and 9 are dead ends.
    n = 6
    src = [0] * n + list(range(2, n + 1)) + [1, 0, 8]
    dst = list(range(1, n + 1)) + list(range(1, n)) + [7, 8, 9]
    a = gtn.Graph.from_arrays(10, src, dst, [0] * len(src), start=[0], final=[7])
    loop = gtn.Graph.from_arrays(1, [0], [0], [0], start=[0], final=[0])
    c = intersect(a, loop)
    assert c.num_nodes == 8
    assert states_on_complete_paths(c) == set(range(8))
    assert label_multiset(enumerate_paths(c, 12)) == agreeing_pairs(a, loop, 12, "ilabels")


def test_states_are_numbered_in_discovery_order():
    c = compose(chain([0, 1, 2]), chain([0, 1, 2], [2, 1, 0]))
    assert c.src.tolist() == [0, 1, 2]
    assert c.dst.tolist() == [1, 2, 3]
    assert c.olabel.tolist() == [2, 1, 0]


def test_epsilons_of_a_come_before_epsilons_of_b():
    # a: x:eps, b: eps:y. One pair of paths, so exactly one output path (a moves first).
    a = chain([0], [gtn.EPSILON], [1.0])
    b = chain([gtn.EPSILON], [1], [2.0])
    c = compose(a, b)
    paths = enumerate_paths(c)
    assert [(p.ilabels, p.olabels, p.energy) for p in paths] == [((0,), (1,), 3.0)]
    assert c.ilabel.tolist() == [0, gtn.EPSILON]


def test_empty_graphs_compose_to_an_empty_graph():
    empty = gtn.Graph(0, [], [], [])
    assert compose(empty, chain([0])).num_nodes == 0
    assert intersect(chain([0]), empty).num_nodes == 0


def test_no_agreeing_path_gives_a_valid_graph_without_complete_paths():
    c = compose(chain([0], [0]), chain([1], [1]))
    assert c.num_nodes == 0 and c.num_arcs == 0
    gtn.Graph(
        c.num_nodes, c.src, c.dst, c.ilabel, c.olabel, c.weight, c.start_weight, c.final_weight
    )  # passes validation


# ---------------------------------------------------------------- OpenFst
@given(transducers, transducers)
def test_compose_matches_openfst_string_energies_acyclic(a, b):
    ours = compose(a, b)
    theirs = from_openfst(openfst_compose(a, b))
    bound = a.num_nodes + b.num_nodes + 2
    assert string_energies(enumerate_paths(ours, bound)) == string_energies(
        enumerate_paths(theirs, bound)
    )


@given(cyclic_transducers, cyclic_transducers)
def test_compose_matches_openfst_shortest_distance_cyclic(a, b):
    a, b = nonnegative(a), nonnegative(b)
    best = kaldifst.shortest_path(openfst_compose(a, b))
    assert min_energy(compose(a, b)) == pytest.approx(min_energy(from_openfst(best)))


# a leaves 0 on an output epsilon only; b loops on an input epsilon. At (1, 0) a has no
# epsilons left, so OpenFst keeps filter state 0 after b's epsilon: 3 states, not 4.
@example(
    gtn.Graph.from_arrays(3, [0, 1], [1, 2], [0, 1], [gtn.EPSILON, 1]),
    gtn.Graph.from_arrays(2, [0, 0], [0, 1], [gtn.EPSILON, 1], [0, 1]),
)
@given(cyclic_transducers, cyclic_transducers)
def test_compose_has_the_same_states_and_arcs_as_openfst_sequence_filter(a, b):
    a, b = single_start(a), single_start(b)
    c, f = compose(a, b), openfst_compose(a, b)
    assert c.num_nodes == f.num_states
    assert c.num_arcs == sum(f.num_arcs(s) for s in range(f.num_states))


# ---------------------------------------------------------------- gradients
def _gradcheck(op, a: gtn.Graph, b: gtn.Graph) -> None:
    """d/d(every finite energy of a and b) of a random linear function of the output energies."""
    sa, fa, sb, fb = a.start_nodes, a.final_nodes, b.start_nodes, b.final_nodes
    structure = op(a, b)
    gen = torch.Generator().manual_seed(0)
    coef = [
        torch.rand(n, generator=gen, dtype=torch.float64)
        for n in (structure.num_arcs, len(structure.start_nodes), len(structure.final_nodes))
    ]

    def rebuild(g, w, start_nodes, sv, final_nodes, fv):
        s = torch.full((g.num_nodes,), INF, dtype=torch.float64).index_put(
            (torch.from_numpy(start_nodes).long(),), sv
        )
        f = torch.full((g.num_nodes,), INF, dtype=torch.float64).index_put(
            (torch.from_numpy(final_nodes).long(),), fv
        )
        return g.with_weights(w, s, f)

    def f(wa, sva, fva, wb, svb, fvb):
        c = op(rebuild(a, wa, sa, sva, fa, fva), rebuild(b, wb, sb, svb, fb, fvb))
        return (
            (c.weight * coef[0]).sum()
            + (c.start_weight[c.start_nodes] * coef[1]).sum()
            + (c.final_weight[c.final_nodes] * coef[2]).sum()
        )

    inputs = [
        a.weight,
        a.start_weight[sa],
        a.final_weight[fa],
        b.weight,
        b.start_weight[sb],
        b.final_weight[fb],
    ]
    inputs = [x.detach().clone().requires_grad_(True) for x in inputs]
    assert torch.autograd.gradcheck(f, inputs)


@settings(max_examples=10)
@given(transducers, transducers)
def test_compose_gradients(a, b):
    _gradcheck(compose, a, b)


@settings(max_examples=10)
@given(acceptors, acceptors)
def test_intersect_gradients(a, b):
    _gradcheck(intersect, a, b)


# ---------------------------------------------------------------- laws and batches
@settings(max_examples=20)
@given(
    graphs(max_nodes=3, max_arcs=5, num_labels=2, acceptor=False),
    graphs(max_nodes=3, max_arcs=5, num_labels=2, acceptor=False),
    graphs(max_nodes=3, max_arcs=5, num_labels=2, acceptor=False),
)
def test_compose_is_associative(a, b, c):
    left = compose(compose(a, b), c)
    right = compose(a, compose(b, c))
    bound = a.num_nodes + b.num_nodes + c.num_nodes
    assert label_multiset(enumerate_paths(left, bound)) == label_multiset(
        enumerate_paths(right, bound)
    )


def _same_graph(x: gtn.Graph, y: gtn.Graph) -> None:
    assert x.num_nodes == y.num_nodes
    for name in ("src", "dst", "ilabel", "olabel"):
        np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
    for name in ("weight", "start_weight", "final_weight"):
        torch.testing.assert_close(getattr(x, name), getattr(y, name))


@settings(max_examples=20)
@given(st.lists(st.tuples(cyclic_transducers, cyclic_transducers), min_size=2, max_size=5))
def test_batch_compose_equals_one_by_one(pairs):
    la, lb = [p[0] for p in pairs], [p[1] for p in pairs]
    for got, (a, b) in zip(compose(la, lb), pairs, strict=True):
        _same_graph(got, compose(a, b))


@settings(max_examples=20)
@given(acceptors, st.lists(acceptors, min_size=2, max_size=4))
def test_batch_intersect_broadcasts_a_single_graph(a, lb):
    for got, b in zip(intersect(a, lb), lb, strict=True):
        _same_graph(got, intersect(a, b))
    for got, b in zip(intersect(lb, a), lb, strict=True):
        _same_graph(got, intersect(b, a))


def test_batch_gradients_reach_each_input():
    a = chain([0, 1], [1, 0], torch.tensor([1.0, 2.0], requires_grad=True))
    b = [chain([1, 0], [0, 0], torch.tensor([0.5, 0.25], requires_grad=True)) for _ in range(2)]
    out = compose(a, b)
    (out[0].weight.sum() + 2 * out[1].weight.sum()).backward()
    assert a.weight.grad.tolist() == [3.0, 3.0]
    assert b[0].weight.grad.tolist() == [1.0, 1.0]
    assert b[1].weight.grad.tolist() == [2.0, 2.0]


@settings(max_examples=10)
@given(
    graphs(min_nodes=10, max_nodes=40, max_arcs=120, num_labels=3, acceptor=False, acyclic=False),
    graphs(min_nodes=10, max_nodes=40, max_arcs=120, num_labels=3, acceptor=False, acyclic=False),
)
def test_hashed_and_dense_pair_tables_agree(a, b):
    dense = compose(a, b)
    limit, gc._DENSE_LIMIT = gc._DENSE_LIMIT, 0
    try:
        hashed = compose(a, b)
    finally:
        gc._DENSE_LIMIT = limit
    _same_graph(hashed, dense)


# ---------------------------------------------------------------- symbols and errors
def test_symbols_come_from_a_input_and_b_output():
    x, y, z = gtn.SymbolTable(["a"]), gtn.SymbolTable(["b"]), gtn.SymbolTable(["c"])
    a = chain([0], [0]).with_symbols(x, y)
    b = chain([0], [0]).with_symbols(y, z)
    c = compose(a, b)
    assert c.isymbols is x and c.osymbols is z


def test_mismatched_symbol_tables_are_an_error():
    a = chain([0]).with_symbols(gtn.SymbolTable(["a"]), gtn.SymbolTable(["a"]))
    b = chain([0]).with_symbols(gtn.SymbolTable(["b"]), gtn.SymbolTable(["b"]))
    with pytest.raises(gtn.GraphError, match="output symbols differ"):
        compose(a, b)


def test_non_graph_input_is_an_error():
    with pytest.raises(gtn.GraphError, match=r"compose: b is a int"):
        compose(chain([0]), 3)
    with pytest.raises(gtn.GraphError, match=r"a\[1\] is a str"):
        compose([chain([0]), "x"], chain([0]))


def test_mismatched_list_lengths_are_an_error():
    with pytest.raises(gtn.GraphError, match="a has 2 graphs but b has 3"):
        compose([chain([0])] * 2, [chain([0])] * 3)


def test_intersect_of_a_transducer_is_an_error():
    with pytest.raises(gtn.GraphError, match=r"b\[1\] is a transducer: arc 0 has ilabel 0"):
        intersect(chain([0]), [chain([0]), chain([0], [1])])
