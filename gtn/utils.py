"""What gtn's sibling packages (``factors``, ``decoders``, ``apps``) and user code share with it:
atomic file writes, the torch/numba thread budget, two graph-layout kernels, and the
deprecation helpers that keep an old public name working (with a warning) for one release.

    atomic_write(path, mode="w")      context manager: readers see the old file or the new one
    ARCHIVE_ERRORS                    what reading a damaged .npz / zip archive can raise
    remove_stale_temporaries(path)    temporaries a crashed atomic_write left beside ``path``
    sync_threads()                    numba's thread count follows torch's (call before kernels)
    csr(n, keys, mask)                arcs grouped by a key (numba): (ptr [n+1], arcs)
    topological_order(n, src, dst, node_order, arc_order)
                                      Kahn's algorithm (numba): -1, or a state on a cycle
    deprecated_aliases(module, {old: (new, obj)})
                                      a module ``__getattr__`` serving renamed names
    renamed_keywords(old="new")       decorator accepting a renamed keyword
    kernel_helper                     decorator: ``nb.njit(cache=True)`` for a function only
                                      numba kernels call (compiles without Python wrappers)
    deprecated_attribute("new")       class attribute reading a renamed attribute
"""

from ._internal.atomic import atomic_write, remove_stale_temporaries
from ._internal.csr import csr
from ._internal.deprecation import deprecated_aliases, deprecated_attribute, renamed_keywords
from ._internal.jit import kernel_helper
from ._internal.npz import ARCHIVE_ERRORS
from ._internal.threads import sync_threads
from ._internal.topo import _topo_one as topological_order

__all__ = [
    "ARCHIVE_ERRORS",
    "atomic_write",
    "csr",
    "deprecated_aliases",
    "deprecated_attribute",
    "kernel_helper",
    "remove_stale_temporaries",
    "renamed_keywords",
    "sync_threads",
    "topological_order",
]
