"""Per-frame emission factors for the scaled kernels, computed inside them (numba).

pe[u] = exp(-beta (em[label u] - m)) over the labels u of one graph, with m the frame's minimum
energy over those labels (so the best label has factor 1 and nothing overflows); the caller
adds m to the utterance's energy shift. A frame where every label has energy +inf gets m = 0
and all factors 0. Factors below ``SUBNORMAL`` are 0 (an energy more than about 690 / beta above
the frame's best: the scaled kernels then see a reached state underflow, see ``_scaled``).
"""

import numba as nb
import numpy as np

from .._internal.exp import fast_exp

FAST = {"reassoc", "contract", "nsz", "arcp"}
# Values below this are flushed to 0 in the scaled kernels: arithmetic on subnormal numbers runs
# about a hundred times slower, and the kernels treat a reached state's underflow explicitly.
SUBNORMAL = 1e-300


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
        x = fast_exp(c * (buf[u] - m))
        pe_row[u] = x if x >= SUBNORMAL else 0.0
    return m
