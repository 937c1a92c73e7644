"""numba kernel for exact ancestral sampling of paths from P(path) ∝ exp(-beta E(path)) on
DAGs: backward free energies beta_, then, from a start state drawn with probability
exp(-beta (start + beta_ - F)), each step stops with probability exp(-beta (final - beta_[v]))
or takes arc a with probability exp(-beta (w_a + beta_[dst] - beta_[v])).

Random numbers come from SplitMix64 streams, one per (graph, sample), derived from one seed:
results do not depend on the number of threads.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .exp import fast_exp
from .jit import batch_kernel
from .plan import part
from .scoring_kernels import log_beta_one

INF = np.inf
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


@nb.njit(cache=True, inline="always")
def _mix(z):
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


@nb.njit(cache=True, inline="always")
def _uniform(state):
    """(uniform double in [0, 1), next state)."""
    state = state + _GOLDEN
    return np.float64(_mix(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0), state


@nb.njit(cache=True)
def _sample_one(beta, seed, stream0, n_samples, g, paths, length, first, last):
    """Draw n_samples paths of graph part g into paths[s * n:] (arc ids in the graph's own
    order); returns 0 when the graph has no complete path, else n_samples."""
    node_order, out_ptr, dst, w, sw, fw = g.node_order, g.out_ptr, g.dst, g.w, g.sw, g.fw
    n = node_order.shape[0]
    beta_ = np.empty(n)
    log_beta_one(beta, g, beta_)
    free = INF
    for v in range(n):
        free = min(free, sw[v] + beta_[v])
    if free == INF:
        return 0
    total = 0.0
    for v in range(n):
        total += fast_exp(-beta * (sw[v] + beta_[v] - free))
    free = free - np.log(total) / beta
    position = np.empty(n, np.int64)
    for i in range(n):
        position[node_order[i]] = i
    for s in range(n_samples):
        state = _mix(seed ^ _mix(np.uint64(stream0 + s)))
        u, state = _uniform(state)
        v, mass = -1, 0.0
        for c in range(n):  # the start state
            p = fast_exp(-beta * (sw[c] + beta_[c] - free))
            if p > 0.0:
                v = c  # rounding fallback: the last state with positive probability
                mass += p
                if u < mass:
                    break
        first[s] = v
        m = 0
        while True:
            u, state = _uniform(state)
            mass = fast_exp(-beta * (fw[v] - beta_[v]))
            if u < mass:
                break
            i = position[v]
            take = -1
            for a in range(out_ptr[i], out_ptr[i + 1]):
                p = fast_exp(-beta * (w[a] + beta_[dst[a]] - beta_[v]))
                if p > 0.0:
                    take = a
                    mass += p
                    if u < mass:
                        break
            if take < 0:  # only rounding can bring us here: the state is final
                break
            paths[s * n + m] = take if g.is_sorted else g.arc_order[take]
            m += 1
            v = dst[take]
        length[s] = m
        last[s] = v
    return n_samples


@batch_kernel
def sample(beta, seed, k, plan, weights, paths, length, first, last, drawn):
    """k paths per graph of ``plan``, laid out as ``paths.PathBuffers``; drawn[b] is 0 for a
    graph without a complete path, else k."""
    node_off = plan.node_off
    for b in nb.prange(node_off.shape[0] - 1):
        n0, n1, p0, p1 = node_off[b], node_off[b + 1], b * k, b * k + k
        drawn[b] = _sample_one(
            beta,
            seed,
            p0,
            k,
            part(plan, weights, b),
            paths[k * n0 : k * n1],
            length[p0:p1],
            first[p0:p1],
            last[p0:p1],
        )
