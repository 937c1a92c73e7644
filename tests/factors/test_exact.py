"""Exact inference on chains and trees equals brute-force enumeration."""

import networkx as nx
import pytest
import torch
from torch import nn

from factors import FactorGraph, Pairwise, Unary, chain
from tests.factors import reference


class Emissions(nn.Module):
    """A 'network' whose output is a free [B, n, K] parameter: gradients reach it directly."""

    def __init__(self, table: torch.Tensor):
        super().__init__()
        self.table = nn.Parameter(table)

    def forward(self, x):
        return self.table


def random_graph(edges, n, k, batch=3, seed=0, dtype=torch.float64) -> FactorGraph:
    gen = torch.Generator().manual_seed(seed)
    g = FactorGraph(n, k)
    g.add(Unary(Emissions(torch.randn(batch, n, k, generator=gen, dtype=dtype)), range(n), k))
    if edges:
        tables = 2 * torch.randn(len(edges), k, k, generator=gen, dtype=dtype)
        g.add(Pairwise(edges, k, tables))
        # A second factor on the first edge, reversed: tables on one edge add up.
        g.add(Pairwise([edges[0][::-1]], k, torch.randn(k, k, generator=gen, dtype=dtype)))
    return g


def random_tree_edges(n, seed):
    tree = nx.random_labeled_tree(n, seed=seed)
    gen = torch.Generator().manual_seed(seed)
    flips = torch.rand(n, generator=gen) < 0.5
    return [(b, a) if flips[i] else (a, b) for i, (a, b) in enumerate(tree.edges)]


CASES = {
    "chain": lambda seed: ([(i, i + 1) for i in range(5)], 6, 3),
    "tree": lambda seed: (random_tree_edges(7, seed), 7, 3),
    "forest": lambda seed: ([(0, 1), (1, 2), (4, 3), (3, 5)], 6, 2),
}


@pytest.fixture(params=[(name, seed) for name in CASES for seed in (0, 1)], ids=str)
def case(request):
    name, seed = request.param
    edges, n, k = CASES[name](seed)
    return name, random_graph(edges, n, k, seed=seed)


def test_structure_is_detected(case):
    name, g = case
    assert g.structure == name if name != "forest" else g.structure == "tree"


def test_loopy_structure_is_detected():
    g = random_graph([(0, 1), (1, 2), (2, 0)], 3, 2)
    assert g.structure == "loopy"
    with pytest.raises(ValueError, match="loopy"):
        g.free_energy(None)


def test_min_energy_and_argmin_equal_brute_force(case):
    _, g = case
    ys, energies = reference.all_energies(g, None, 3)
    best = energies.min(1).values
    torch.testing.assert_close(g.min_energy(None), best)
    result = g.infer(None, method="exact")
    torch.testing.assert_close(result.energy, best)
    torch.testing.assert_close(g.energy(None, result.assignment), best)


@pytest.mark.parametrize("beta", [0.5, 1.0, 4.0])
def test_free_energy_and_marginals_equal_brute_force(case, beta):
    _, g = case
    ys, energies = reference.all_energies(g, None, 3)
    torch.testing.assert_close(g.free_energy(None, beta), reference.free_energy(energies, beta))
    expected = reference.marginals(ys, energies, beta, g.num_labels)
    torch.testing.assert_close(g.marginals(None, beta), expected)


def test_free_energy_is_below_min_energy(case):
    _, g = case
    assert bool((g.free_energy(None, 1.0) <= g.min_energy(None) + 1e-12).all())


@pytest.mark.parametrize("cost", [None, "hamming"])
def test_most_offending_equals_brute_force(case, cost):
    _, g = case
    ys, energies = reference.all_energies(g, None, 3)
    y = ys[torch.tensor([5, 17, 0])]  # three arbitrary correct answers
    aug = energies.clone()
    if cost == "hamming":
        aug = aug - (ys[None] != y[:, None]).sum(-1)
    aug[(ys[None] == y[:, None]).all(-1)] = float("inf")  # exclude y itself
    y_hat = g.most_offending(None, y, cost)
    assert not bool((y_hat == y).all(1).any())
    got = g.energy(None, y_hat) - (0 if cost is None else (y_hat != y).sum(1))
    torch.testing.assert_close(got, aug.min(1).values)


def test_gradients_of_free_energy_pass_gradcheck():
    g = random_graph([(0, 1), (2, 1), (2, 3)], 4, 3, batch=2)
    params = [g.factors[0].network.table, g.factors[1].weight, g.factors[2].weight]
    inputs = [p.detach().clone().requires_grad_() for p in params]
    assert torch.autograd.gradcheck(lambda a, b, c: _free_energy_with(g, a, b, c), inputs)


def _free_energy_with(g, unary, pair, extra):
    """Free energy of g with its parameters replaced by the given tensors (for gradcheck)."""
    h = FactorGraph(g.num_variables, g.num_labels)
    h.add(Unary(lambda x: unary, range(g.num_variables), g.num_labels))
    h.add(_Table(g.factors[1].scopes, pair))
    h.add(_Table(g.factors[2].scopes, extra))
    return h.free_energy(None, 0.7)


class _Table(Pairwise):
    def __init__(self, scopes, table):
        super().__init__(scopes, table.shape[-1], table.detach(), learnable=False)
        self.value = table

    def forward(self, x):
        return self.value[None] if self.value.dim() == 3 else self.value[None, None]


def test_gradient_of_min_energy_is_the_best_assignment_indicator():
    g = random_graph([(0, 1), (1, 2)], 3, 3, batch=1)
    g.min_energy(None).sum().backward()
    y = g.infer(None).assignment
    indicator = torch.nn.functional.one_hot(y, 3).double()
    torch.testing.assert_close(g.factors[0].network.table.grad, indicator)


def test_gradient_flows_into_network_parameters():
    net = nn.Linear(4, 3).double()
    g = chain(5, 3, unary=lambda x: net(x), pairwise="full")
    g.add_module("net", net)
    x = torch.randn(2, 5, 4, dtype=torch.float64)
    g.free_energy(x).sum().backward()
    assert net.weight.grad is not None and float(net.weight.grad.abs().sum()) > 0


def tied_chain(seed=0, n=6, k=3, batch=3) -> FactorGraph:
    gen = torch.Generator().manual_seed(seed)
    g = chain(
        n,
        k,
        unary=Emissions(torch.randn(batch, n, k, generator=gen, dtype=torch.float64)),
        pairwise="full",
        boundary=True,
    )
    with torch.no_grad():
        for p in list(g.parameters())[1:]:
            p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float64))
    return g.double()


def test_tied_chains_compile_to_the_dense_gtn_lattice():
    from factors.inference.chain import ChainEngine
    from factors.inference.dispatch import exact

    g = tied_chain()
    engine = exact(g)
    assert isinstance(engine, ChainEngine) and engine._dense(g.terms(None)) is not None
    ys, energies = reference.all_energies(g, None, 3)
    torch.testing.assert_close(g.min_energy(None), energies.min(1).values)
    torch.testing.assert_close(g.free_energy(None, 0.8), reference.free_energy(energies, 0.8))
    torch.testing.assert_close(g.marginals(None, 0.8), reference.marginals(ys, energies, 0.8, 3))
    torch.testing.assert_close(g.infer(None).energy, energies.min(1).values)


@pytest.mark.parametrize("cost", [None, "hamming"])
def test_most_offending_on_a_tied_chain_intersects_with_the_complement(cost):
    g = tied_chain(seed=2)
    ys, energies = reference.all_energies(g, None, 3)
    y = g.infer(None).assignment  # the hardest case: y is the best answer
    aug = energies - (0 if cost is None else (ys[None] != y[:, None]).sum(-1))
    aug[(ys[None] == y[:, None]).all(-1)] = float("inf")
    y_hat = g.most_offending(None, y, cost)
    got = g.energy(None, y_hat) - (0 if cost is None else (y_hat != y).sum(1))
    torch.testing.assert_close(got, aug.min(1).values)


def test_chain_and_tree_engines_agree_on_gradients():
    from factors.inference.dispatch import exact

    g = tied_chain(seed=3)
    grads = []
    for engine in ("chain", "tree"):
        g.zero_grad()
        exact(g, engine).free_energy(g.terms(None), 1.3).sum().backward()
        grads.append([p.grad.clone() for p in g.parameters()])
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)
