"""numba kernel for connect: which states lie on some start -> final path."""

import numba as nb
import numpy as np

from .csr import csr
from .jit import batch_kernel


@nb.njit(cache=True)
def _reach(n, frm, to, seeds, usable, out):
    """Mark in `out` every state reachable from `seeds` along usable arcs frm -> to."""
    offs, arcs = csr(n, frm, usable)
    stack = np.empty(n, np.int64)
    top = 0
    for v in range(n):
        if seeds[v] and not out[v]:
            out[v] = True
            stack[top] = v
            top += 1
    while top > 0:
        top -= 1
        v = stack[top]
        for j in range(offs[v], offs[v + 1]):
            d = to[arcs[j]]
            if not out[d]:
                out[d] = True
                stack[top] = d
                top += 1


@batch_kernel
def useful_states(node_off, arc_off, src, dst, usable, is_start, is_final, keep):
    """keep[v] = v is accessible from a start and co-accessible to a final, per graph."""
    for b in nb.prange(node_off.shape[0] - 1):
        n0, n1 = node_off[b], node_off[b + 1]
        a0, a1 = arc_off[b], arc_off[b + 1]
        n = n1 - n0
        fwd = np.zeros(n, np.bool_)
        bwd = np.zeros(n, np.bool_)
        _reach(n, src[a0:a1], dst[a0:a1], is_start[n0:n1], usable[a0:a1], fwd)
        _reach(n, dst[a0:a1], src[a0:a1], is_final[n0:n1], usable[a0:a1], bwd)
        for v in range(n):
            keep[n0 + v] = fwd[v] and bwd[v]
