"""One thread budget for torch and numba: numba's thread count follows torch's, so
``torch.set_num_threads`` governs both libraries, and neither pool spins while the other works.

torch and numba each run their own OpenMP pool, used in turn (gtn's kernels never run inside a
torch parallel region, nor one numba parallel kernel inside another), so with both sized to
torch's count at most that many threads are busy at once, provided an idle pool does not spin.

* By default an idle OpenMP thread spins for a while after each parallel region, so in a
  training loop that alternates torch and gtn kernels each pool's spinning threads steal the
  cores the other needs. ``gtn/__init__`` asks idle threads to sleep (OMP_WAIT_POLICY=PASSIVE)
  before torch loads: then both pools sleep. When torch was imported first, its runtime has
  already read the variable and only numba's pool sleeps. A value the user set is kept.
* numba's OpenMP layer starts by calling ``omp_set_num_threads(NUMBA_NUM_THREADS)``, and that
  call can land in torch's OpenMP runtime and reset torch's thread count to every core,
  silently undoing ``torch.set_num_threads`` (a DataLoader worker's single thread, say). The
  pool is therefore started here, once, and torch's count put back.
"""

import os

import numba
import torch

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _start_numba_pool() -> None:
    threads = torch.get_num_threads()
    numba.get_num_threads()  # starts numba's threading layer
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


_start_numba_pool()


def sync_threads() -> int:
    """Call before launching a parallel kernel: numba uses torch's thread count (at most the
    size of numba's pool, NUMBA_NUM_THREADS), which it returns."""
    n = max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS))
    if numba.get_num_threads() != n:
        numba.set_num_threads(n)
    return n
