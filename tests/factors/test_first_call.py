"""What a first NLL step and ``infer`` of a factors chain compile, in a fresh process with an
empty numba cache (issue 16: the first call's compilation is the user's first impression)."""

import os
import subprocess
import sys

# The "numba:compile" event fires for real compilations only, once per signature.
PROBE = """
import atexit, torch, factors
from numba.core import event
compiled = []
class _Seen(event.Listener):
    def on_start(self, e):
        compiled.append(e.data["dispatcher"].py_func.__qualname__)
    def on_end(self, e):
        pass
event.register("numba:compile", _Seen())
atexit.register(lambda: print(" ".join(compiled)))
net = torch.nn.Linear(4, 3)
crf = factors.chain(6, 3, unary=lambda x: -net(x), pairwise="full", boundary=True)
x = torch.randn(8, 6, 4)
factors.StructuredLoss("nll")(crf, x, torch.randint(0, 3, (8, 6))).backward()
assert crf.infer(x).assignment.shape == (8, 6)
"""


def test_a_first_chain_step_and_infer_compile_the_label_sort_once_and_no_shape_error_text(tmp_path):
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path))
    out = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    compiled = out.stdout.split()
    assert compiled.count("insertion_sort") == 1  # not once per literal argument
    # copying an array into a slice compiles numba's shape-mismatch message (seconds)
    assert not [f for f in compiled if "raise_with_shape_context" in f]
