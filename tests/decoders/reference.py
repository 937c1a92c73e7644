"""Reference decoders for small cases: random decoding graphs and brute-force enumeration of
every path of compose(emission_graph(emissions), graph). Energies are lower-is-better."""

from __future__ import annotations

import math

import numpy as np
import torch

import gtn

EPS = gtn.EPSILON


def random_decoding_graph(
    rng: np.random.Generator,
    num_states: int,
    num_labels: int,
    num_outputs: int = 3,
    emitting: int = 8,
    epsilons: int = 3,
) -> gtn.Graph:
    """A random transducer from labels to outputs: emitting arcs anywhere (cycles allowed),
    input-epsilon arcs only from lower to higher states (acyclic), random start / final
    energies; float64."""
    n = num_states
    src = list(rng.integers(0, n, emitting))
    dst = list(rng.integers(0, n, emitting))
    il = list(rng.integers(0, num_labels, emitting))
    ol = list(rng.integers(-1, num_outputs, emitting))
    for _ in range(epsilons):
        a, b = sorted(rng.choice(n, 2, replace=False))
        src.append(a)
        dst.append(b)
        il.append(EPS)
        ol.append(int(rng.integers(-1, num_outputs)))
    w = rng.normal(1.0, 1.0, len(src))
    sw = np.full(n, np.inf)
    sw[0] = rng.normal(0, 0.5)
    if n > 2 and rng.random() < 0.3:
        sw[1] = rng.normal(0.5, 0.5)
    fw = np.where(rng.random(n) < 0.5, rng.normal(0.5, 0.5, n), np.inf)
    fw[n - 1] = 0.0
    return gtn.Graph(n, src, dst, il, ol, torch.tensor(w), torch.tensor(sw), torch.tensor(fw))


def exact_min_energy(emissions: torch.Tensor, g: gtn.Graph) -> float:
    return float(gtn.min_energy(gtn.compose(gtn.emission_graph(emissions), g)))


def enumerate_outputs(emissions: np.ndarray, g: gtn.Graph) -> dict[tuple, list[float]]:
    """Every path of the product, grouped by output sequence: {output: [energies]}."""
    t_max = emissions.shape[0]
    w = g.weight.detach().double().numpy()
    sw = g.start_weight.detach().double().numpy()
    fw = g.final_weight.detach().double().numpy()
    out_arcs: dict[int, list[int]] = {}
    for a in range(g.num_arcs):
        out_arcs.setdefault(int(g.src[a]), []).append(a)
    found: dict[tuple, list[float]] = {}

    def walk(t: int, s: int, energy: float, output: tuple) -> None:
        if t == t_max and fw[s] < math.inf:
            found.setdefault(output, []).append(energy + fw[s])
        for a in out_arcs.get(s, ()):
            label, o = int(g.ilabel[a]), int(g.olabel[a])
            nxt = output + ((o,) if o != EPS else ())
            if label == EPS:
                walk(t, int(g.dst[a]), energy + w[a], nxt)
            elif t < t_max:
                walk(t + 1, int(g.dst[a]), energy + w[a] + emissions[t, label], nxt)

    for s in np.flatnonzero(np.isfinite(sw)):
        walk(0, int(s), sw[s], ())
    return found


def posterior(paths: dict[tuple, list[float]], output: tuple, beta: float) -> float:
    """exp(-beta E) summed over paths with this output, over the sum for all paths."""
    every = np.concatenate([np.asarray(v) for v in paths.values()])
    m = every.min()
    total = np.exp(-beta * (every - m)).sum()
    part = np.exp(-beta * (np.asarray(paths.get(output, [np.inf])) - m)).sum()
    return float(part / total)
