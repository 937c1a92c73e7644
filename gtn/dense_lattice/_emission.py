"""Per-frame emission factors for the scaled kernels, computed inside them (numba).

pe[u] = exp(-beta (em[label u] - m)) over the labels u of one graph, with m the frame's minimum
energy over those labels (so the best label has factor 1 and nothing overflows); the caller
adds m to the utterance's energy shift. A frame where every label has energy +inf gets m = 0
and all factors 0.
"""

import numba as nb
import numpy as np

from .._exp import fast_exp

FAST = {"reassoc", "contract", "nsz", "arcp"}


@nb.njit(cache=True, inline="always", fastmath=FAST)
def frame_factors(em_row, labs, beta, buf, pe_row):
    """Fill pe_row[:n] from em_row [V] and the graph's labels labs [n] (float64 scratch buf,
    at least n long); returns the shift m. The gather and the exp are separate loops so that
    the exp vectorises."""
    n = labs.shape[0]
    m = np.inf
    for u in range(n):
        x = np.float64(em_row[labs[u]])
        buf[u] = x
        m = min(m, x)
    if m == np.inf:
        m = 0.0
    c = -beta
    for u in range(n):
        pe_row[u] = fast_exp(c * (buf[u] - m))
    return m
