"""Dense lattices vs peers, same inputs, same threads, one process: medians after warm-up.

    .venv/bin/python bench/dense.py [--threads 2] [--repeats 7] [--skip-memory] [--cpu-time]

``--cpu-time`` times each side in CPU time (``time.process_time``, blocks of ``--block`` calls)
on one thread for torch and numba, so that the ratio can be read on a loaded machine; the
default is wall time with ``--threads``. ``--only crf`` (or ``ctc``) runs one family of rows.

Rows: CTC loss vs torch ctc_loss, CRF NLL vs pytorch-crf and torch-struct LinearChainCRF,
CRF Viterbi decode vs pytorch-crf, all forward + backward (decode: forward only), float32.
"peaked" rows divide the logits by a temperature of 0.05 (the confidence of a trained model:
the inputs on which scaled probability-space recursions lose precision); "one-hot" rows have
energies 0 at one random label per frame and 1e4 elsewhere (a saturated model), "+inf" rows 30%
of the labels outside the transcript or gold tags impossible (+inf, never a frame's best).
CTC peak memory is measured in fresh subprocesses (peak RSS growth during one step).
Inputs are made once, outside the timing, in each library's own convention: energies
(-log-probabilities) for ours, log-probabilities or scores for the peers.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import warnings

import torch
import torch.nn.functional as F

warnings.filterwarnings("ignore")


CLOCK = time.perf_counter  # main() switches to time.process_time with --cpu-time
BLOCK = 1  # calls per timed block


def median_ms(*fns, repeats: int, warmup: int = 2) -> list[float]:
    """Median time per call (ms) of each function over ``repeats`` blocks of BLOCK calls;
    blocks alternate so that both sides see the same machine load."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    for _ in range(repeats):
        for fn, ts in zip(fns, times, strict=False):
            t = CLOCK()
            for _ in range(BLOCK):
                fn()
            ts.append((CLOCK() - t) / BLOCK)
    return [statistics.median(ts) * 1e3 for ts in times]


def hard_energies(energies, kind, keep, gen):
    """The "one-hot" or "+inf" version (see above) of energies [B, T, V], +inf only where
    ``keep`` [B, 1 or T, V] is False; "plain" and "peaked" give them back."""
    B, T, V = energies.shape
    if kind == "one-hot":
        best = torch.randint(0, V, (B, T, 1), generator=gen)
        return torch.full_like(energies, 1e4).scatter_(2, best, 0.0)
    if kind == "+inf":
        drop = (torch.rand(B, T, V, generator=gen) < 0.3) & ~keep
        drop.scatter_(2, energies.argmin(-1, keepdim=True), False)
        return energies.masked_fill(drop, float("inf"))
    return energies


def ctc_case(B, T, L, C, temperature=1.0, device="cpu", kind="plain"):
    """(ours, peer): CTC loss + backward on the same random input; also used by bench/gpu.py."""
    from gtn.dense_lattice import ctc_loss

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(B, T, C, generator=gen) / temperature
    targets = torch.randint(1, C, (B, L), generator=gen)
    keep = torch.zeros(B, 1, C, dtype=torch.bool).scatter_(2, targets[:, None], True)
    keep[..., 0] = True  # the blank
    energies = hard_energies(-logits.log_softmax(-1), kind, keep, gen).to(device)
    logp = -energies  # each side gets its native input: energies for us, log-probs for torch
    targets = targets.to(device)
    il, tl = torch.full((B,), T, device=device), torch.full((B,), L, device=device)

    def ours():
        e = energies.detach().requires_grad_(True)
        ctc_loss(e, targets, il, tl, reduction="sum").backward()

    def peer():
        lp = logp.transpose(0, 1).detach().requires_grad_(True)
        F.ctc_loss(lp, targets, il, tl, reduction="sum").backward()

    return ours, peer


def crf_case(B, T, K, temperature=1.0, kind="plain"):
    from torchcrf import CRF

    from gtn.dense_lattice import crf_decode, crf_nll

    torch.manual_seed(0)  # CRF's initial weights and the emissions: the same inputs every run
    crf = CRF(K, batch_first=True)
    em = torch.randn(B, T, K) / temperature
    tags = torch.randint(0, K, (B, T))
    keep = torch.zeros(B, T, K, dtype=torch.bool).scatter_(2, tags[..., None], True)
    em = -hard_energies(-em, kind, keep, torch.Generator().manual_seed(0))
    trans = (-crf.transitions).detach().requires_grad_(True)
    start = (-crf.start_transitions).detach().requires_grad_(True)
    end = (-crf.end_transitions).detach().requires_grad_(True)

    energies = -em  # each side gets its native input: energies for us, scores for the peers

    def ours():
        e = energies.detach().requires_grad_(True)
        crf_nll(e, tags, trans, start, end).backward()

    def pcrf():
        e = em.detach().requires_grad_(True)
        (-crf(e, tags, reduction="sum")).backward()

    def struct():
        import torch_struct

        e = em.detach().requires_grad_(True)
        # torch-struct potentials [B, T-1, C_next, C_prev]; start folded into the first step
        pot = e[:, 1:, :, None] + crf.transitions.t()[None, None]
        pot = torch.cat([pot[:, :1] + (e[:, 0] + crf.start_transitions)[:, None, :], pot[:, 1:]], 1)
        pot[:, -1] = pot[:, -1] + crf.end_transitions[None, :, None]
        dist = torch_struct.LinearChainCRF(pot)
        score = (dist.partition).sum()
        score.backward()

    def ours_decode():
        crf_decode(energies, trans.detach(), start.detach(), end.detach())

    def pcrf_decode():
        with torch.no_grad():
            crf.decode(em)

    return ours, pcrf, struct, ours_decode, pcrf_decode


def memory_child(which: str, B: int, T: int, L: int, C: int) -> None:
    """Print the peak RSS growth (MB) of one forward+backward step."""
    from gtn.dense_lattice import ctc_loss

    def rss(field):
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field):
                    return int(line.split()[1]) / 1024
        return 0.0

    torch.set_num_threads(2)
    small = torch.randn(2, 20, C).log_softmax(-1)
    logp = torch.randn(B, T, C).log_softmax(-1)
    targets = torch.randint(1, C, (B, L))

    def step(x, tg, T_, L_):
        """One loss + backward from a leaf made beforehand in the library's own convention."""
        n = tg.shape[0]
        if which == "ours":
            ctc_loss(x, tg, torch.full((n,), T_), torch.full((n,), L_)).backward()
        else:
            F.ctc_loss(x, tg, torch.full((n,), T_), torch.full((n,), L_)).backward()
        return x.grad

    def leaf(lp):  # energies [B, T, C] for us, log-probs [T, B, C] for torch
        x = (-lp).contiguous() if which == "ours" else lp.transpose(0, 1)
        return x.detach().requires_grad_(True)

    step(leaf(small), targets[:2, :5], 20, 5)  # compile / warm up
    x = leaf(logp)
    del logp
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the high-water mark
    base = rss("VmRSS")
    step(x, targets, T, L)
    print(rss("VmHWM") - base)


def memory_mb(which: str, shape) -> float:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", which, *map(str, shape)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--skip-memory", action="store_true")
    ap.add_argument("--skip-struct", action="store_true")
    ap.add_argument("--memory-child", nargs=5)
    ap.add_argument("--cpu-time", action="store_true")
    ap.add_argument("--block", type=int, default=5)
    ap.add_argument("--only", choices=("ctc", "crf"))
    args = ap.parse_args()
    if args.memory_child:
        w, *shape = args.memory_child
        memory_child(w, *map(int, shape))
        return
    global CLOCK, BLOCK
    if args.cpu_time:  # process_time counts every thread: one thread, so both sides pay alike
        import numba

        CLOCK, BLOCK, args.threads = time.process_time, max(1, args.block), 1
        numba.set_num_threads(1)  # gtn follows torch's count; set both all the same
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []

    def row(name, shape, peer, ours_ms, peer_ms, target):
        ratio = ours_ms / peer_ms
        rows.append(
            (name, shape, peer, ours_ms, peer_ms, ratio, target, "yes" if ratio <= target else "NO")
        )

    ctc_shapes = [(32, 150, 35, 30), (32, 500, 100, 30), (8, 150, 35, 1000), (8, 2000, 200, 30)]
    if args.only == "crf":
        ctc_shapes = []
    ctc_cases = [(s, 1.0, "plain") for s in ctc_shapes] + [(s, 0.05, "peaked") for s in ctc_shapes]
    ctc_cases += [(s, 1.0, k) for k in ("one-hot", "+inf") for s in ctc_shapes[::3]]
    for shape, temp, kind in ctc_cases:
        ours, peer = ctc_case(*shape, temperature=temp, kind=kind)
        row(
            "CTC loss f+b",
            "B={} T={} L={} C={}".format(*shape) + (f" {kind}" if kind != "plain" else ""),
            "torch ctc_loss",
            *median_ms(ours, peer, repeats=args.repeats),
            0.5,
        )
    crf_shapes = [(32, 100, 20), (32, 200, 50), (128, 50, 10)]
    crf_cases = [(s, 1.0, "plain") for s in crf_shapes] + [(crf_shapes[2], 0.05, "peaked")]
    crf_cases += [(crf_shapes[2], 1.0, k) for k in ("one-hot", "+inf")]
    for shape, temp, kind in crf_cases if args.only != "ctc" else []:
        ours, pcrf, struct, od, pd = crf_case(*shape, temperature=temp, kind=kind)
        label = "B={} T={} K={}".format(*shape) + (f" {kind}" if kind != "plain" else "")
        row("CRF NLL f+b", label, "pytorch-crf", *median_ms(ours, pcrf, repeats=args.repeats), 0.1)
        if not args.skip_struct and kind in ("plain", "peaked"):  # the hard rows: one peer
            row(
                "CRF NLL f+b",
                label,
                "torch-struct",
                *median_ms(ours, struct, repeats=max(1, args.repeats // 3), warmup=1),
                0.1,
            )
        row("CRF decode", label, "pytorch-crf", *median_ms(od, pd, repeats=args.repeats), 0.1)
    clock = f"CPU time, blocks of {BLOCK} calls" if args.cpu_time else "wall time"
    print(f"threads={args.threads} (torch and numba), float32, {clock}, median of {args.repeats}")
    print(
        f"{'case':<14} {'shape':<33} {'peer':<15} {'ours ms':>9} {'peer ms':>9} "
        f"{'ratio':>7} {'target':>7} {'met':>4}"
    )
    for r in rows:
        print(
            f"{r[0]:<14} {r[1]:<33} {r[2]:<15} {r[3]:9.2f} {r[4]:9.2f} {r[5]:7.3f} "
            f"{r[6]:7.2f} {r[7]:>4}"
        )
    if not args.skip_memory and args.only != "crf":
        shape = (32, 1000, 200, 1000)
        ours, peer = memory_mb("ours", shape), memory_mb("torch", shape)
        ratio = ours / peer
        label = "B={} T={} L={} C={}".format(*shape)
        print(
            f"{'CTC peak mem':<14} {label:<33} {'torch ctc_loss':<15} "
            f"{ours:7.0f}MB {peer:7.0f}MB {ratio:7.3f} {1.5:7.2f} "
            f"{'yes' if ratio <= 1.5 else 'NO':>4}"
        )


if __name__ == "__main__":
    main()
