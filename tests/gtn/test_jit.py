"""Kernels compile only what a call needs: one compilation per call shape (no literal or dtype
variants), and batch kernels serially for small work, with the same results either way."""

import os
import subprocess
import sys

import numba as nb
import numpy as np
import torch

import gtn
from gtn._internal import scoring_kernels as _scoring_kernels
from gtn._internal.batch import cat_weights
from gtn._internal.jit import PARALLEL_MIN_ARCS, BatchKernel
from gtn._internal.plan import make_plan, use_threads
from gtn.scoring import _sorted_weights
from tests.gtn.test_scoring import random_dag


def _signature_text(dispatcher) -> str:
    return " ".join(str(t) for sig in dispatcher.signatures for t in sig)


# A callee compiled into a cached caller is not listed among its own signatures, so this runs in
# a fresh process with an empty cache, where compose compiles everything it calls.
COMPOSE_PROBE = """
import gtn
from gtn._internal import compose_kernels as K
a = gtn.Graph.from_arrays(3, [0, 1, 1], [1, 2, 2], [0, 1, 2], [gtn.EPSILON, 1, 2], final=[2])
b = gtn.Graph.from_arrays(2, [0, 0], [1, 1], [gtn.EPSILON, 1], [3, 4], final=[1])
assert gtn.compose(a, b).num_arcs > 0
for f in (K._expand, K._arcs, K._numbered):
    print(len(f.signatures), sum("Literal" in str(t) for s in f.signatures for t in s))
print(len(K.settle.signatures))  # this product is trimmed by plan's sweeps alone
"""


def test_every_pass_of_compose_enumerates_arcs_through_one_compilation(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run(
        [sys.executable, "-c", COMPOSE_PROBE], env=env, capture_output=True, text=True, check=True
    )
    # one signature each, no literal arguments; the fallback trimming is not compiled
    assert out.stdout.split() == ["1", "0"] * 3 + ["0"]


def test_float32_graphs_are_scored_by_the_float64_compilation_with_float32_gradients():
    g = random_dag(dtype=torch.float32)
    (gtn.free_energy(g) + gtn.min_energy(g)).backward()
    assert g.weight.grad.dtype == torch.float32 and g.start_weight.grad.dtype == torch.float32
    for kernel in (_scoring_kernels.log_forward, _scoring_kernels.viterbi_forward):
        assert "float32" not in _signature_text(kernel.serial)


def test_small_work_runs_on_one_thread_and_picks_the_serial_compilation():
    plan = make_plan([random_dag(), random_dag(seed=1)], "test")
    use_threads(plan)
    assert nb.get_num_threads() == 1
    kernel = _scoring_kernels.log_forward
    assert kernel.pick(1, 10 * PARALLEL_MIN_ARCS) is kernel.serial
    assert kernel.pick(8, PARALLEL_MIN_ARCS - 1) is kernel.serial


def test_serial_and_parallel_compilations_have_their_own_cache_entries():
    kernel = _scoring_kernels.viterbi_paths  # numba names cache files after the qualname
    assert isinstance(kernel, BatchKernel)
    assert kernel.serial.py_func.__qualname__ != kernel.parallel.py_func.__qualname__


def test_serial_and_parallel_compilations_agree():
    graphs = [random_dag(seed=s) for s in range(4)]
    plan = make_plan(graphs, "test")
    weights = _sorted_weights(plan, *cat_weights(graphs))
    out = []
    for kernel in (_scoring_kernels.log_forward.serial, _scoring_kernels.log_forward.parallel):
        alpha, shift, scale = (np.empty(plan.node_off[-1]) for _ in range(3))
        free = np.empty(plan.num_graphs)
        kernel(1.0, plan, weights, alpha, shift, scale, free)
        out.append((alpha, shift, scale, free))
    for serial, parallel in zip(*out, strict=True):
        np.testing.assert_array_equal(serial, parallel)


def test_a_kernel_helper_runs_inside_kernels_and_refuses_a_python_call():
    from gtn._internal.compose_kernels import _counting_sort
    from gtn.utils import kernel_helper

    @kernel_helper
    def twice(x):
        return 2 * x

    @nb.njit
    def caller(x):
        return twice(x) + 1

    assert caller(3) == 7
    calls = [
        lambda: twice(3),
        lambda: _counting_sort(np.zeros(2, np.int64), 1, np.arange(2, dtype=np.int32)),
    ]
    for call in calls:  # without its wrapper such a call would have no code to run
        try:
            call()
        except TypeError as e:
            assert "called from numba kernels only" in str(e)
        else:
            raise AssertionError("a Python call of a kernel helper must raise")


# Prepended to a probe: records the numba implementations of numpy's array constructors that
# the probe compiles (the "numba:compile" event fires for real compilations only).
ALLOCATIONS_PRELUDE = """
import atexit
from numba.core import event
compiled = set()
class _Seen(event.Listener):
    def on_start(self, e):
        f = e.data["dispatcher"].py_func
        if f.__module__ == "numba.np.arrayobj" and "np_" in f.__qualname__:
            compiled.add(f.__qualname__.split(".")[0])
    def on_end(self, e):
        pass
event.register("numba:compile", _Seen())
atexit.register(lambda: print(" ".join(sorted(compiled))))
"""

SCORE_PROBE = """
import torch, gtn
em = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
both = gtn.intersect(gtn.emission_graph(em), gtn.linear([1, 1, 0, 2, 1]))
(gtn.free_energy(both) + gtn.min_energy(both)).backward()
"""


def allocations_compiled(probe: str, cache_dir) -> list[str]:
    """The numpy constructors whose numba implementations ``probe`` compiles in a fresh
    process with an empty cache, and the lines it printed before them."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    code = ALLOCATIONS_PRELUDE + probe
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def test_a_first_score_allocates_with_np_empty_only(tmp_path):
    # np.full, np.zeros and np.ones each compile implementations of their own (per dtype and
    # caller flags), on top of np.empty's
    assert allocations_compiled(SCORE_PROBE, tmp_path)[-1].split() == ["ol_np_empty"]


def _one_dst_by_scanning(out_ptr, dst):
    runs = [dst[out_ptr[i] : out_ptr[i + 1]].tolist() for i in range(len(out_ptr) - 1)]
    return np.array([len(run) > 0 and len(set(run)) == 1 for run in runs], dtype=bool)


def test_plan_flags_the_states_whose_arcs_all_go_to_one_state():
    from gtn._internal.plan import _one_dst

    rng = np.random.default_rng(0)
    for _ in range(500):
        n = int(rng.integers(1, 8))
        counts = rng.multinomial(int(rng.integers(0, 12)), np.ones(n) / n)
        out_ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        dst = rng.integers(0, 3, int(out_ptr[-1])).astype(np.int32)
        got = _one_dst(out_ptr, dst)
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, _one_dst_by_scanning(out_ptr, dst))
