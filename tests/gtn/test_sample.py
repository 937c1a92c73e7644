"""sample: exact Gibbs sampling checked by a chi-square test with a fixed seed, determinism,
and autograd connection."""

import math
from collections import Counter

import numpy as np
import pytest
import torch

import gtn
from gtn.sampling import sample
from tests.gtn import reference as ref

# Wilson-Hilferty approximation of the chi-square quantile at 1 - 1e-6: a correct sampler
# fails this with probability ~1e-6 per seed, a sampler off by a few percent fails surely.
Z_1E6 = 4.753


def chi2_threshold(dof: int) -> float:
    a = 2 / (9 * dof)
    return dof * (1 - a + Z_1E6 * math.sqrt(a)) ** 3


def tiny_graph():
    """Five paths with distinct energies, two start and two final states, an epsilon arc."""
    w = torch.tensor([0.3, 1.0, -0.2, 0.7, 0.0, 1.5], dtype=torch.float64)
    return gtn.Graph(
        4,
        [0, 0, 1, 1, 2, 0],
        [1, 2, 2, 3, 3, 3],
        [0, 1, 2, 3, -1, 5],
        None,
        w,
        [0.0, 0.4, math.inf, math.inf],
        [math.inf, math.inf, 0.9, 0.1],
    )


def key(path: gtn.Graph) -> tuple:
    return tuple(path.ilabel.tolist()), float(path.start_weight[0]), float(path.final_weight[-1])


@pytest.mark.parametrize("beta", [1.0, 0.4])
def test_sample_frequencies_follow_the_gibbs_distribution(beta):
    g = tiny_graph()  # every arc has its own label, so the label sequence names the path
    paths = ref.enumerate_paths(g, max_arcs=4)
    free = ref.free_energy(paths, beta)
    n = 40_000
    expected = {
        tuple(g.ilabel[list(p.arcs)].tolist()): n * math.exp(-beta * (p.energy - free))
        for p in paths
    }
    observed = Counter(tuple(p.ilabel.tolist()) for p in sample(g, n, beta, generator=1234))
    assert set(observed) <= set(expected)
    chi2 = sum((observed[k] - e) ** 2 / e for k, e in expected.items())
    assert chi2 < chi2_threshold(len(expected) - 1)


def test_sample_is_deterministic_for_a_seed():
    g = tiny_graph()
    first = [key(p) for p in sample(g, 50, generator=torch.Generator().manual_seed(5))]
    again = [key(p) for p in sample(g, 50, generator=torch.Generator().manual_seed(5))]
    other = [key(p) for p in sample(g, 50, generator=torch.Generator().manual_seed(6))]
    assert first == again
    assert first != other


def test_sample_paths_are_complete_and_their_energy_is_the_path_energy():
    g = tiny_graph()
    energies = {(p.ilabels, round(p.energy, 12)) for p in ref.enumerate_paths(g, max_arcs=4)}
    for p in sample(g, 200, generator=np.random.default_rng(0)):
        e = float(p.weight.sum() + p.start_weight[0] + p.final_weight[-1])
        labels = tuple(x for x in p.ilabel.tolist() if x != gtn.EPSILON)
        assert (labels, round(e, 12)) in energies


def test_sample_on_a_batch_gives_a_list_per_graph_and_skips_graphs_without_paths():
    no_path = gtn.Graph(2, [], [], [], None, None, [0.0, math.inf], [math.inf, 0.0])
    out = sample([tiny_graph(), no_path], 7, generator=3)
    assert [len(x) for x in out] == [7, 0]


def test_sample_weights_are_connected_to_autograd():
    g = tiny_graph()
    w = g.weight.clone().requires_grad_()
    path = sample(g.with_weights(w), 1, generator=0)[0]
    (grad,) = torch.autograd.grad(path.weight.sum(), [w])
    assert grad.sum() == path.num_arcs


@pytest.mark.parametrize(
    "n, message",
    [
        (2.5, "n must be an integer, got 2.5"),  # once silently 2
        (None, "n must be an integer, got None"),
        (10**12, r"n = 1,000,000,000,000 paths per graph .* more than 1,000,000"),  # 14.6 TiB
    ],
)
def test_sample_refuses_an_n_that_is_not_a_count_it_can_return(n, message):
    with pytest.raises(ValueError, match=message):
        sample(gtn.linear([0]), n, generator=0)
