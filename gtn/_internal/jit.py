"""Batch kernels (a ``prange`` over the graphs of a batch) compiled twice, each on first use.

numba compiles a ``parallel=True`` kernel several times slower than the same loop run serially,
and most calls score one graph or a few small ones, where threads buy nothing (a parallel
region costs more to start than such work takes). So each batch kernel has a serial and a
parallel compilation of the same Python function; a call runs the serial one whenever numba is
set to one thread (``plan.use_threads`` sets that for small work), and the parallel one
is compiled only when a batch is big enough to use it.
"""

from __future__ import annotations

import functools
import types

import numba as nb
from numba.core.registry import CPUDispatcher

# Batches with fewer arcs than this run on one thread: a parallel region costs tens of
# microseconds to start on an idle machine (milliseconds on a busy one), about what a
# single-threaded kernel spends on this many arcs.
PARALLEL_MIN_ARCS = 10_000


def _renamed(f: types.FunctionType, suffix: str) -> types.FunctionType:
    """A copy of f with its own qualified name: numba names on-disk cache files after it, and
    the serial and parallel compilations of one function must not share a cache entry."""
    g = types.FunctionType(f.__code__, f.__globals__, f.__name__, f.__defaults__, f.__closure__)
    g.__qualname__ = f.__qualname__ + suffix
    g.__module__ = f.__module__
    g.__doc__ = f.__doc__
    return g


class BatchKernel:
    """``kernel(*args)`` runs the serial compilation when ``numba.get_num_threads() == 1``,
    else the parallel one; ``kernel.serial`` / ``kernel.parallel`` pick one explicitly."""

    def __init__(self, py_func: types.FunctionType, **options) -> None:
        functools.update_wrapper(self, py_func)
        self.py_func = py_func
        self._options = options
        self._serial = None
        self._parallel = None

    @property
    def serial(self):
        if self._serial is None:
            f = _renamed(self.py_func, "_serial")
            self._serial = nb.njit(cache=True, **self._options)(f)
        return self._serial

    @property
    def parallel(self):
        if self._parallel is None:
            self._parallel = nb.njit(cache=True, parallel=True, **self._options)(self.py_func)
        return self._parallel

    def __call__(self, *args):
        return (self.parallel if nb.get_num_threads() > 1 else self.serial)(*args)

    def pick(self, num_items: int, num_arcs: int):
        """The serial compilation for one item or little work, else as ``__call__`` would."""
        if num_items <= 1 or num_arcs < PARALLEL_MIN_ARCS or nb.get_num_threads() == 1:
            return self.serial
        return self.parallel


def batch_kernel(py_func=None, **options):
    """Decorator: ``@batch_kernel`` or ``@batch_kernel(fastmath=...)`` instead of
    ``@nb.njit(cache=True, parallel=True)`` on a kernel whose ``prange`` runs over a batch."""
    if py_func is None:
        return lambda f: BatchKernel(f, **options)
    return BatchKernel(py_func, **options)


class _HelperDispatcher(CPUDispatcher):
    """A dispatcher compiled without the wrappers that let Python call it (``kernel_helper``)."""

    def __call__(self, *args, **kwargs):
        raise TypeError(
            f"{self.py_func.__qualname__} is compiled to be called from numba kernels only"
        )


def kernel_helper(py_func=None, **options):
    """Decorator for a numba function called only from other numba functions:
    ``@nb.njit(cache=True)`` without the Python entry wrapper (which unboxes every argument and
    boxes the result) and without the C-callable one. Those wrappers are a large share of a
    small helper's first-call compilation, and a kernel calls its helpers directly. A call from
    Python raises TypeError (without the wrapper it would have nothing to run)."""

    def wrap(f):
        d = nb.njit(cache=True, no_cpython_wrapper=True, no_cfunc_wrapper=True, **options)(f)
        d.__class__ = _HelperDispatcher
        return d

    return wrap if py_func is None else wrap(py_func)
