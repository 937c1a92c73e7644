"""Hypothesis strategies for random small graphs (with epsilons, optional cycles)."""

from __future__ import annotations

import numpy as np
import torch
from hypothesis import strategies as st

import gtn

INF = float("inf")


@st.composite
def graphs(
    draw,
    max_nodes: int = 5,
    max_arcs: int = 10,
    num_labels: int = 3,
    acceptor: bool = True,
    epsilon: bool = True,
    acyclic: bool = True,
    dtype: torch.dtype = torch.float64,
    min_nodes: int = 1,
    epsilon_cycles: bool = True,
):
    """A random graph. Acyclic graphs only have arcs from lower to higher node ids (then
    optionally shuffled ids); with ``epsilon_cycles=False`` only the epsilon arcs do. Weights
    are small integers/quarters so that ties happen."""
    n = draw(st.integers(min_nodes, max_nodes))
    a = draw(st.integers(0, max_arcs))

    def lowest(s: int, d: int) -> int:
        return -1 if epsilon and (epsilon_cycles or s < d) else 0

    src, dst = [], []
    for _ in range(a):
        if acyclic:
            if n < 2:
                break
            s = draw(st.integers(0, n - 2))
            d = draw(st.integers(s + 1, n - 1))
        else:
            s = draw(st.integers(0, n - 1))
            d = draw(st.integers(0, n - 1))
        src.append(s)
        dst.append(d)
    a = len(src)
    ends = list(zip(src, dst, strict=True))
    il = [draw(st.integers(lowest(s, d), num_labels - 1)) for s, d in ends]
    ol = il if acceptor else [draw(st.integers(lowest(s, d), num_labels - 1)) for s, d in ends]
    w = [draw(st.integers(-8, 8)) / 4 for _ in range(a)]
    starts = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=2, unique=True))
    finals = draw(st.lists(st.integers(0, n - 1), min_size=0, max_size=3, unique=True))
    sw = np.full(n, INF)
    fw = np.full(n, INF)
    for s in starts:
        sw[s] = draw(st.sampled_from([0.0, 0.0, 0.5, -0.25]))
    for f in finals:
        fw[f] = draw(st.sampled_from([0.0, 0.0, 0.75, -0.5]))
    perm = np.arange(n)
    if draw(st.booleans()):
        perm = np.asarray(draw(st.permutations(range(n))))
    return gtn.Graph(
        n,
        perm[np.asarray(src, dtype=np.int64)] if a else [],
        perm[np.asarray(dst, dtype=np.int64)] if a else [],
        il,
        ol,
        torch.tensor(w, dtype=dtype),
        torch.tensor(sw[np.argsort(perm)], dtype=dtype),
        torch.tensor(fw[np.argsort(perm)], dtype=dtype),
    )


# Energies that stress rounding: graphs()'s small weights plus, on some arcs, a large offset that
# rounds them away in a partial sum (1e30) or keeps a few of their bits (1e6, 1e15); and inverse
# temperatures from near-uniform to far past where beta * ulp(energy) >= 1.
STRESS_OFFSETS = (0.0, 0.0, 1e6, -1e6, 1e15, 1e30, -1e30)
STRESS_BETAS = (1e-3, 1.0, 1e6, 1e14, 1e20, 1e300)


@st.composite
def stress_graphs(draw, **kwargs):
    """A :func:`graphs` graph whose arc energies get :data:`STRESS_OFFSETS` added."""
    g = draw(graphs(**kwargs))
    n = g.num_arcs
    offsets = draw(st.lists(st.sampled_from(STRESS_OFFSETS), min_size=n, max_size=n))
    return g.with_weights(g.weight + torch.tensor(offsets, dtype=g.weight.dtype))
