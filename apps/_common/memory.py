"""The C allocator's setting for the apps' long training runs.

glibc's malloc serves every large block (over its mmap threshold, at most 32 MB: the
activations of one batch of segments or frames are several such blocks) with a fresh ``mmap``
and unmaps it when it is freed, so a training loop faults in every page of its activations again
on every step, and the kernel's page clearing shows up as system time. :func:`keep_freed_memory`
makes malloc take every block from its heap and keep what is freed there for the next step: the
same computation, without the faults (measured in docs/results/check-reading.md, "Training
time, session 22"). The process's resident memory then stays near its peak instead of falling
between steps, which a training run reaches again on every step anyway."""

from __future__ import annotations

import ctypes
import platform

__all__ = ["keep_freed_memory"]

# mallopt's parameter numbers (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4
TRIM_THRESHOLD = 1 << 30
"""Free memory at the heap's top beyond this many bytes is returned to the system."""


def keep_freed_memory() -> bool:
    """Make this process's malloc serve large blocks from its heap and keep freed memory for
    reuse (``mallopt``: no mmap'd blocks, heap trimmed only past :data:`TRIM_THRESHOLD`). True
    when set; False where the C library is not glibc, where nothing changes."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    libc = ctypes.CDLL(None)  # the C library the process runs on
    return bool(libc.mallopt(_M_MMAP_MAX, 0)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
