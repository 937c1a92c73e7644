"""Threads: a small factor-graph training step (a linear-chain CRF, one NLL + SGD step), timed.

    python bench/threads_step.py                      # torch imported first, its default threads
    python bench/threads_step.py --gtn-first          # gtn imported before torch
    python bench/threads_step.py --threads 1          # torch.set_num_threads(1) before gtn loads

Prints the thread counts after the run and the minimum and median wall and CPU (process) time
per step, after 20 warm-up steps. On a machine shared with other jobs read the medians and the
CPU time: the minimum only shows a moment when the cores happened to be free.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

# bench/factors.py is named like the package: keep bench/ off the import path.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
parser.add_argument("--steps", type=int, default=300)
parser.add_argument("--batch", type=int, default=256)
parser.add_argument("--gtn-first", action="store_true", help="import gtn before torch")
args = parser.parse_args()

if args.gtn_first:
    import factors  # noqa: F401  (imports gtn, which sets OMP_WAIT_POLICY before torch loads)
import torch  # noqa: E402

if args.threads:
    torch.set_num_threads(args.threads)
import numba  # noqa: E402

import factors  # noqa: E402

torch.manual_seed(0)
net = torch.nn.Linear(8, 5)
crf = factors.chain(12, 5, unary=lambda x: -net(x), pairwise="full", boundary=True)
opt = torch.optim.SGD(crf.parameters(), lr=0.01)
loss_fn = factors.StructuredLoss("nll")
x, y = torch.randn(args.batch, 12, 8), torch.randint(0, 5, (args.batch, 12))
walls, cpus = [], []
for _ in range(args.steps + 20):
    w0, c0 = time.perf_counter(), time.process_time()
    opt.zero_grad()
    loss_fn(crf, x, y).backward()
    opt.step()
    walls.append(time.perf_counter() - w0)
    cpus.append(time.process_time() - c0)
walls, cpus = sorted(walls[20:]), sorted(cpus[20:])
order = "gtn first" if args.gtn_first else "torch first"
print(
    f"{order}, batch {args.batch}: torch {torch.get_num_threads()} threads, numba "
    f"{numba.get_num_threads()}; per step wall min {walls[0] * 1e3:.2f} ms, median "
    f"{walls[len(walls) // 2] * 1e3:.2f} ms; CPU min {cpus[0] * 1e3:.2f} ms, median "
    f"{cpus[len(cpus) // 2] * 1e3:.2f} ms"
)
