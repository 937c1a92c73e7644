"""numba's thread count follows torch's, so `torch.set_num_threads` governs both libraries.

torch and numba each run their own OpenMP pool. By default an idle OpenMP thread spins for a
while after each parallel region, so in a training loop that alternates torch and gtn kernels
each pool's spinning threads steal the cores the other needs. numba's pool is started lazily,
after torch is imported, so asking it to sleep when idle (OMP_WAIT_POLICY=PASSIVE) leaves
torch's own setting alone. A value the user set is kept."""

import os

import numba
import torch

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def sync_threads() -> None:
    """Call before launching a parallel kernel."""
    n = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)
