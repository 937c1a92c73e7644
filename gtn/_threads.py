"""numba's thread count follows torch's, so `torch.set_num_threads` governs both libraries."""

import numba
import torch


def sync_threads() -> None:
    """Call before launching a parallel kernel."""
    n = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)
