"""The torch path of the dense lattice vs the peers on one device, one process (issue 21).

    .venv/bin/python bench/gpu.py [--device cuda] [--repeats 10] [--shapes issue|dense]
    .venv/bin/python bench/gpu.py --device cpu --threads 1 --repeats 3   # CPU smoke check

Rows: CTC loss forward + backward vs torch's ``ctc_loss`` on the same device (cuDNN / native
CUDA there), CRF NLL forward + backward vs pytorch-crf on the same device; float32 inputs,
medians after warm-up, synchronised. CTC rows also print the peak device memory of one step
above the inputs (CUDA only) and its ratio to torch's. Targets (issue 21): CTC time <= 1.0x
torch, CRF time <= 0.5x pytorch-crf, CTC peak memory <= 1.5x torch. On the CPU the torch path
is forced (``EBGTN_BACKEND=torch``) and the numba path's time is printed too, for comparison.
Inputs are made once, outside the timing, in each library's own convention: energies for ours,
log-probabilities or scores for the peers.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings

import torch

warnings.filterwarnings("ignore")

CTC_SHAPES = {  # (B, T, L, C)
    "issue": [(32, 150, 35, 30), (32, 500, 100, 30), (8, 150, 35, 1000), (32, 1000, 200, 1000)],
    "dense": [(32, 150, 35, 30), (32, 500, 100, 30), (8, 150, 35, 1000), (8, 2000, 200, 30)],
}
CRF_SHAPES = [(32, 100, 20), (32, 200, 50), (128, 50, 10)]  # (B, T, K), bench/dense.py's


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(fns, device, repeats: int, warmup: int = 2) -> list[float]:
    """Median wall time (ms) of each function, synchronised; calls alternate so that every
    side sees the same load."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    _sync(device)
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times, strict=True):
            _sync(device)
            t = time.perf_counter()
            fn()
            _sync(device)
            ts.append(time.perf_counter() - t)
    return [statistics.median(ts) * 1e3 for ts in times]


def peak_mb(fn, device) -> float | None:
    """Peak device memory (MiB) one call allocates above what was allocated before it."""
    if device.type != "cuda":
        return None
    _sync(device)
    torch.cuda.empty_cache()
    base = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    _sync(device)
    return (torch.cuda.max_memory_allocated(device) - base) / 2**20


def _on(backend: str, fn):
    """fn with the dense lattice's backend chosen (only the CPU looks at it)."""

    def run():
        os.environ["EBGTN_BACKEND"] = backend
        fn()

    return run


def ctc_case(B, T, L, C, device):
    from dense import ctc_case as case  # bench/dense.py, beside this file

    return case(B, T, L, C, device=device)


def crf_case(B, T, K, device):
    from torchcrf import CRF

    from gtn.dense_lattice import crf_nll

    gen = torch.Generator().manual_seed(0)
    crf = CRF(K, batch_first=True).to(device)
    em = torch.randn(B, T, K, generator=gen).to(device)
    tags = torch.randint(0, K, (B, T), generator=gen).to(device)
    # pytorch-crf's scores as our energies, made once outside the timing.
    trans, start, end = (
        (-p).detach().requires_grad_(True)
        for p in (crf.transitions, crf.start_transitions, crf.end_transitions)
    )
    energies = -em

    def ours():
        crf_nll(energies.detach().requires_grad_(True), tags, trans, start, end).backward()

    def peer():
        (-crf(em.detach().requires_grad_(True), tags, reduction="sum")).backward()

    return ours, peer


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--shapes", choices=sorted(CTC_SHAPES), default="issue")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: nothing measured (use --device cpu for a smoke check)")
        return
    cpu = device.type == "cpu"
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; torch {torch.__version__}; float32; medians of {args.repeats}")
    if cpu:
        print(f"CPU threads: {torch.get_num_threads()} (torch path forced: EBGTN_BACKEND=torch)")
    head = f"{'case':<8} {'shape':<26} {'peer':<15} {'ours ms':>9} {'peer ms':>9} {'ratio':>6}"
    head += f" {'target':>6} {'met':>4}"
    head += f" {'numba ms':>9}" if cpu else f" {'ours MiB':>9} {'peer MiB':>9} {'mem':>5}"
    print(head)
    rows = [("CTC f+b", s, ctc_case, "torch ctc_loss", 1.0) for s in CTC_SHAPES[args.shapes]]
    rows += [("CRF f+b", s, crf_case, "pytorch-crf", 0.5) for s in CRF_SHAPES]
    for case, shape, make, peer_name, target in rows:
        ours, peer = make(*shape, device)
        fns = [_on("torch", ours), peer] + ([_on("numba", ours)] if cpu else [])
        ms = median_ms(fns, device, args.repeats)
        ratio = ms[0] / ms[1]
        label = ("B={} T={} L={} C={}" if len(shape) == 4 else "B={} T={} K={}").format(*shape)
        line = f"{case:<8} {label:<26} {peer_name:<15} {ms[0]:>9.2f} {ms[1]:>9.2f} {ratio:>6.2f}"
        line += f" {target:>6.1f} {'yes' if ratio <= target else 'NO':>4}"
        if cpu:
            line += f" {ms[2]:>9.2f}"
        elif case.startswith("CTC"):
            mine, theirs = peak_mb(ours, device), peak_mb(peer, device)
            line += f" {mine:>9.1f} {theirs:>9.1f} {mine / theirs:>5.2f}"
        print(line, flush=True)
    os.environ.pop("EBGTN_BACKEND", None)


if __name__ == "__main__":
    sys.exit(main())
