"""One thread budget: numba's thread count follows torch's, and starting numba's pool does not
undo ``torch.set_num_threads`` (each case runs in a fresh process: the pool starts once)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# A batch of graphs through the scoring, compose and dense-lattice kernels.
KERNELS = """
import gtn
g = gtn.emission_graph(torch.randn(5, 3, dtype=torch.float64))
gtn.free_energy([g, g, g]); gtn.min_energy([g, g, g])
gtn.compose([g, g], [gtn.linear([0, 1, 2, 1, 0])] * 2)
emissions = -torch.randn(4, 6, 3, dtype=torch.float64).log_softmax(-1)
gtn.ctc_loss(emissions, torch.tensor([[1, 2]] * 4), [6] * 4, [2] * 4)
"""


def run(code: str, **env: str) -> str:
    """stdout of ``code`` in a fresh interpreter; numba's pool has 2 threads on any machine."""
    environ = {**os.environ, "NUMBA_NUM_THREADS": "2", "PYTHONPATH": str(ROOT), **env}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=environ, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_torch_set_num_threads_before_import_survives_the_first_kernels():
    code = "import torch, numba\ntorch.set_num_threads(1)\n" + KERNELS
    code += "print(torch.get_num_threads(), numba.get_num_threads())"
    assert run(code) == "1 1"


def test_numba_follows_torch_after_import():
    # a batch big enough for threads (3 x 3,600 arcs) runs on torch's count; small work on 1
    probe = "big = gtn.emission_graph(torch.randn(1200, 3, dtype=torch.float64))\n"
    probe += "gtn.free_energy([big, big, big])\n"
    code = "import torch, numba\nimport gtn\ntorch.set_num_threads(2)\n" + KERNELS + probe
    code += "a = numba.get_num_threads()\ntorch.set_num_threads(1)\n" + KERNELS + probe
    code += "print(a, torch.get_num_threads(), numba.get_num_threads())"
    assert run(code) == "2 1 1"


# Records OMP_WAIT_POLICY at the moment torch is first imported (when its OpenMP runtime
# loads and reads it).
WATCH_TORCH = """
import os, sys
class Watch:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" and "seen" not in globals():
            globals()["seen"] = os.environ.get("OMP_WAIT_POLICY")
        return None
sys.meta_path.insert(0, Watch())
"""


@pytest.mark.parametrize("package", ["gtn", "factors", "decoders", "apps.cli"])
def test_importing_a_package_first_makes_torch_threads_sleep_when_idle(package):
    code = WATCH_TORCH + f"import {package}\nprint(seen)"
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
    )
    assert done.stdout.strip() == "PASSIVE", done.stderr


def test_numba_pool_sleeps_when_idle_unless_the_user_said_otherwise():
    code = "import os, gtn\nprint(os.environ['OMP_WAIT_POLICY'])"
    environ = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={**environ, "PYTHONPATH": str(ROOT)},
        timeout=600,
    )
    assert done.stdout.strip() == "PASSIVE", done.stderr
    assert run(code, OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
