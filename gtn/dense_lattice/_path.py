"""Energies of given tag sequences under a linear-chain CRF and their gradient's indicators, as
numba loops for the CRF's lanes kernel (``_lanes``, ``_crf.CrfNll``); ``path_energy`` itself is
the torch one (``_torch_crf``).

E[b] = start[y_0] + sum_{t < L_b} em[b, t, y_t] + sum_{0 < t < L_b} trans[y_{t-1}, y_t]
       + end[y_{L_b - 1}]   (frames t >= L_b are ignored)

Shapes: em [B, T, K], tags [B, T] int64, trans [K, K], start/end [K], lengths [B] int64 >= 1
(checked by ``_crf.validate`` before these run); sums in float64.
"""

import numba as nb
import numpy as np


@nb.njit(cache=True)
def sequence_energies(em, tags, trans, start, end, lengths, out):
    for b in range(em.shape[0]):
        L = lengths[b]
        y = tags[b]
        acc = np.float64(start[y[0]]) + np.float64(end[y[L - 1]]) + np.float64(em[b, 0, y[0]])
        for t in range(1, L):
            acc += np.float64(em[b, t, y[t]]) + np.float64(trans[y[t - 1], y[t]])
        out[b] = acc


@nb.njit(cache=True)
def grads(gout, tags, lengths, g_em, g_trans, g_start, g_end):
    """Adds gout[b] at every term of sequence b's energy (see the module docstring)."""
    for b in range(gout.shape[0]):
        L = lengths[b]
        g = gout[b]
        y = tags[b]
        g_start[y[0]] += g
        g_end[y[L - 1]] += g
        g_em[b, 0, y[0]] += g
        for t in range(1, L):
            g_em[b, t, y[t]] += g
            g_trans[y[t - 1], y[t]] += g
