"""First-call latency: each case in a fresh process with a fresh, empty numba cache, then again
in a fresh process with the cache the first run filled (warm).

    .venv/bin/python bench/cold_start.py              # every case
    .venv/bin/python bench/cold_start.py ctc compose  # some cases
    .venv/bin/python bench/cold_start.py --cold-only

Prints wall time, the child's CPU time (user + system, from ``getrusage(RUSAGE_CHILDREN)``) and
the 1-minute load average when the case started. On a shared machine the CPU time is the honest
number: wall time grows with other people's load.
Compilation is single-threaded, so on an idle machine wall ≈ CPU for cold runs. The target of
issue 16 is every case ≤ 10 s cold and the README tour ≤ 30 s cold on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Each case is a complete program; it imports what it needs so that import time is counted.
CASES: dict[str, str] = {
    "import": "import gtn, factors, decoders",
    "ctc": """
import torch, gtn
torch.manual_seed(0)
em = (-torch.randn(2, 12, 5, dtype=torch.float32).log_softmax(-1)).requires_grad_()
targets = torch.tensor([[1, 2, 3], [4, 1, 0]])
loss = gtn.ctc_loss(em, targets, [12, 10], [3, 2])
loss.backward()
assert torch.isfinite(em.grad).all()
""",
    "score": """
import torch, gtn
torch.manual_seed(0)
em = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
word = gtn.linear([1, 1, 0, 2, 1])
both = gtn.intersect(gtn.emission_graph(em), word)
(gtn.free_energy(both) + gtn.min_energy(both)).backward()
assert torch.isfinite(em.grad).all()
""",
    "compose": """
import torch, gtn
torch.manual_seed(0)
em = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
b = gtn.GraphBuilder()
s = [b.add_node(start=(k == 0), final=True) for k in range(4)]
for i in s:
    for k in range(4):
        b.add_arc(i, s[k], k, gtn.EPSILON if (k == 0 or i == k) else k)
out = gtn.compose(gtn.emission_graph(em), b.build())
out.weight.sum().backward()
assert out.num_arcs > 0
""",
    "decode": """
import torch, gtn, decoders
torch.manual_seed(0)
g = gtn.Graph.from_arrays(2, [0, 0, 1, 1], [0, 1, 1, 0], [0, 1, 2, 0], [5, 6, gtn.EPSILON, 7],
                          final=[1])
em = -torch.randn(20, 3).log_softmax(-1)
r = decoders.decode(em, g, beam=10.0, num_hypotheses=3, lattice=True)
assert r.found
""",
    "chain": """
import torch, factors
torch.manual_seed(0)
net = torch.nn.Linear(4, 3)
crf = factors.chain(6, 3, unary=lambda x: -net(x), pairwise="full", boundary=True)
x = torch.randn(8, 6, 4)
y = torch.randint(0, 3, (8, 6))
loss = factors.StructuredLoss("nll")(crf, x, y)
loss.backward()
best = crf.infer(x).assignment
assert best.shape == (8, 6)
""",
    "tour": """
import sys, tempfile
from apps.cli import main
with tempfile.TemporaryDirectory() as d:
    try:
        rc = main(["tour", "--out", d])
    except RuntimeError as e:  # its last step renders an SVG; Graphviz is optional (issue 16)
        if "Graphviz" not in str(e):
            raise
        rc = 0
sys.exit(rc or 0)
""",
}


# --profile: the child records every numba compilation (the "numba:compile" event fires only on a
# real compile, not on a cache hit) and prints, per dispatcher, the signatures it compiled and the
# CPU seconds spent (inclusive of callees compiled on the way; "self" excludes them).
PROFILE = """
import atexit, sys, time
from numba.core import event as _ev
_stack, _rows = [], {}
class _L(_ev.Listener):
    def on_start(self, e):
        _stack.append([time.process_time(), 0.0])
    def on_end(self, e):
        t0, inner = _stack.pop()
        dt = time.process_time() - t0
        if _stack:
            _stack[-1][1] += dt
        d = e.data["dispatcher"]
        key = f"{d.py_func.__module__}.{d.py_func.__qualname__}"
        r = _rows.setdefault(key, [0, 0.0, 0.0, set()])
        r[0] += 1; r[1] += dt; r[2] += dt - inner
        r[3].add(", ".join(str(a) for a in e.data["args"]))
_ev.register("numba:compile", _L())
def _report():
    rows = sorted(_rows.items(), key=lambda kv: -kv[1][2])
    print("PROFILE n_sigs incl_s self_s dispatcher", file=sys.stderr)
    for k, (n, incl, own, sigs) in rows:
        print(f"PROFILE {n:3d} {incl:7.2f} {own:7.2f} {k}", file=sys.stderr)
        if n > 1 and not k.startswith("numba."):
            for sig in sorted(sigs):
                print(f"PROFILE         {sig}", file=sys.stderr)
    print(f"PROFILE total self {sum(r[2] for r in _rows.values()):.1f}s", file=sys.stderr)
atexit.register(_report)
"""


def _child_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def run_case(
    code: str, cache_dir: str, env_extra: dict[str, str], profile: bool = False
) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one fresh interpreter running ``code``."""
    if profile:
        code = PROFILE + code
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir, **env_extra)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    cpu0, t0 = _child_cpu(), time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True
    )
    wall, cpu = time.perf_counter() - t0, _child_cpu() - cpu0
    if proc.returncode != 0:
        sys.exit(f"case failed (rc {proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    if profile:
        print("\n".join(ln for ln in proc.stderr.splitlines() if ln.startswith("PROFILE")))
    return wall, cpu


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("cases", nargs="*", help=f"some of {', '.join(CASES)} (default: all)")
    p.add_argument("--cold-only", action="store_true", help="skip the warm rerun")
    p.add_argument("--profile", action="store_true", help="per-kernel compile times (cold)")
    p.add_argument("--env", action="append", default=[], help="KEY=VALUE for the children")
    args = p.parse_args(argv)
    names = args.cases or list(CASES)
    unknown = [n for n in names if n not in CASES]
    if unknown:
        p.error(f"unknown case(s) {unknown}; choose from {list(CASES)}")
    env_extra = dict(kv.split("=", 1) for kv in args.env)

    heads = ("load", "cold wall", "cold cpu", "warm wall", "warm cpu")
    print(f"{'case':8s} " + " ".join(f"{h:>{len(h) + 1}s}" for h in heads))
    with tempfile.TemporaryDirectory(prefix="ebgtn-cold-") as tmp:
        for name in names:
            cache = str(Path(tmp) / name)  # empty: a new folder for each case
            load = os.getloadavg()[0]
            cw, cc = run_case(CASES[name], cache, env_extra, args.profile)
            line = f"{name:8s} {load:5.1f} {cw:9.1f}s {cc:8.1f}s"
            if not args.cold_only:
                ww, wc = run_case(CASES[name], cache, env_extra)
                line += f" {ww:9.1f}s {wc:8.1f}s"
            print(line, flush=True)


if __name__ == "__main__":
    main()
