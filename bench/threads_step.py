"""A small factor-graph training step (linear-chain CRF, NLL, SGD), timed per step.

argv: threads (0 = torch's default, set before importing gtn), steps, and "gtn-first" to import
factors (hence gtn) before torch. env B: batch size.
Prints torch/numba threads after the run, min and median wall and CPU (process) time per step."""

import os
import sys
import time

if sys.argv[3:] == ["gtn-first"]:
    import factors  # noqa: F401
import torch

threads = int(sys.argv[1])
if threads:
    torch.set_num_threads(threads)
import numba  # noqa: E402

import factors  # noqa: E402

torch.manual_seed(0)
B = int(os.environ.get("B", 16))
net = torch.nn.Linear(8, 5)
crf = factors.chain(12, 5, unary=lambda x: -net(x), pairwise="full", boundary=True)
opt = torch.optim.SGD(crf.parameters(), lr=0.01)
loss_fn = factors.StructuredLoss("nll")
x, y = torch.randn(B, 12, 8), torch.randint(0, 5, (B, 12))
walls, cpus = [], []
for _ in range(int(sys.argv[2])):
    w0, c0 = time.perf_counter(), time.process_time()
    opt.zero_grad()
    loss_fn(crf, x, y).backward()
    opt.step()
    walls.append(time.perf_counter() - w0)
    cpus.append(time.process_time() - c0)
walls, cpus = sorted(walls[20:]), sorted(cpus[20:])
print(
    f"{sys.argv[3:]} B={B} asked={threads or 'default'} torch={torch.get_num_threads()} "
    f"numba={numba.get_num_threads()}: wall min {walls[0] * 1e3:.2f} median "
    f"{walls[len(walls) // 2] * 1e3:.2f} ms; cpu min {cpus[0] * 1e3:.2f} median "
    f"{cpus[len(cpus) // 2] * 1e3:.2f} ms"
)
