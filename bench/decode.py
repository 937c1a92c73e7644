"""Beam search (decoders.decode) vs exact decoding of the fully composed graph, same inputs.

    .venv/bin/python bench/decode.py            # 100 utterances x 300 frames
    .venv/bin/python bench/decode.py --quick    # 10 utterances x 100 frames (a smoke run)

Case: a decoding graph with a 1,000-word lexicon, each word a random pronunciation of 3-7 of
40 phone-like labels, in a word loop. A word is a left-to-right chain, one state per phone with
a self-loop (energy -log 0.5 on both the loop and the forward arc); the word's output is on its
first arc, which carries a uniform unigram energy log(1000); an input-epsilon arc returns from
the word's last state to the loop state (the only start and final state). About 5,000 states
and 11,000 arcs.

Emissions are realistic enough for pruning to matter: each utterance is a random word sequence
through the lexicon with random phone durations (1 + Poisson(2) frames), and each frame's
energies are -log_softmax of logits N(0, 1) plus ``--boost`` on the true label, so the true
label is usually but not always the best one.

Columns, per beam (``--max-active`` tokens per frame):
- ``rtf``: real-time factor of ``decode(..., confidence=False)`` (best path only), at 10 ms
  per frame; ``rtf+conf``: with the pruned lattice and confidence, as ``ebgtn decode`` runs;
- ``agree``: share of utterances whose output equals the exact decoder's, and ``same_E``:
  share whose energy equals the exact minimum (beam search never goes below it);
- ``speedup``: exact time / beam time (best path only). The exact decoder composes
  ``gtn.emission_graph(emissions)`` with the whole graph and runs ``gtn.min_energy`` and
  ``gtn.best_path_arcs`` on the product.
Target: at the smallest beam with agreement >= 99%, speedup >= 20.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch

import decoders
import gtn

PHONES = 40
WORDS = 1000
FRAME_SHIFT = 0.01


def lexicon_loop(rng: np.random.Generator) -> tuple[gtn.Graph, list[np.ndarray]]:
    """(the word-loop decoding graph, each word's pronunciation)."""
    prons = [rng.integers(0, PHONES, int(rng.integers(3, 8))) for _ in range(WORDS)]
    src, dst, il, ol, w = [], [], [], [], []
    half = -math.log(0.5)
    state = 1
    for word, pron in enumerate(prons):
        first = state
        src.append(0), dst.append(first), il.append(pron[0]), ol.append(word)
        w.append(math.log(WORDS))
        for k, phone in enumerate(pron):
            s = first + k
            src.append(s), dst.append(s), il.append(phone), ol.append(gtn.EPSILON), w.append(half)
            if k + 1 < len(pron):
                src.append(s), dst.append(s + 1), il.append(pron[k + 1]), ol.append(gtn.EPSILON)
                w.append(half)
        last = first + len(pron) - 1
        src.append(last), dst.append(0), il.append(gtn.EPSILON), ol.append(gtn.EPSILON)
        w.append(0.0)
        state = last + 1
    g = gtn.Graph.from_arrays(
        state, src, dst, il, ol, torch.tensor(w, dtype=torch.float64), start=[0], final=[0]
    )
    return g, prons


def utterance(rng, prons, frames: int, boost: float) -> tuple[np.ndarray, list[int]]:
    """(energies [frames, PHONES], the word sequence it was generated from)."""
    labels: list[int] = []
    words: list[int] = []
    while True:
        word = int(rng.integers(0, WORDS))
        durations = 1 + rng.poisson(2.0, len(prons[word]))
        if len(labels) + durations.sum() > frames:
            break
        words.append(word)
        labels.extend(np.repeat(prons[word], durations).tolist())
    labels.extend([labels[-1]] * (frames - len(labels)))  # the last phone lasts to the end
    logits = rng.normal(0.0, 1.0, (frames, PHONES))
    logits[np.arange(frames), labels] += boost
    energies = -(logits - np.logaddexp.reduce(logits, axis=1, keepdims=True))
    return energies, words


def exact(emissions: np.ndarray, g: gtn.Graph) -> tuple[tuple[int, ...], float]:
    product = gtn.compose(gtn.emission_graph(torch.from_numpy(emissions)), g)
    energy = float(gtn.min_energy(product))
    out = product.olabel[gtn.best_path_arcs(product)]
    return tuple(int(x) for x in out[out != gtn.EPSILON]), energy


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="10 utterances x 100 frames")
    ap.add_argument("--utterances", type=int, default=100)
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--beams", type=float, nargs="+", default=[4.0, 6.0, 8.0, 10.0, 12.0])
    ap.add_argument("--max-active", type=int, default=2000)
    ap.add_argument("--boost", type=float, default=2.0, help="logit bonus of the true label")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if args.quick:
        args.utterances, args.frames = 10, 100
    rng = np.random.default_rng(args.seed)
    g, prons = lexicon_loop(rng)
    data = [utterance(rng, prons, args.frames, args.boost) for _ in range(args.utterances)]
    audio = args.utterances * args.frames * FRAME_SHIFT
    print(
        f"graph: {g.num_nodes} states, {g.num_arcs} arcs; {args.utterances} utterances x "
        f"{args.frames} frames x {PHONES} labels; max-active {args.max_active}"
    )

    decoders.decode(data[0][0][:5], g, beam=8.0)  # compile (or load numba's cache) first
    exact(data[0][0][:5], g)
    started = time.perf_counter()
    reference = [exact(e, g) for e, _ in data]
    exact_seconds = time.perf_counter() - started
    ref_words = np.mean([r[0] == tuple(d[1]) for r, d in zip(reference, data, strict=True)])
    print(
        f"exact (compose + min_energy + best path): {exact_seconds:.2f} s, "
        f"rtf {exact_seconds / audio:.4f}; exact output = generating words in "
        f"{100 * ref_words:.0f}% of utterances"
    )
    print(f"{'beam':>6} {'rtf':>8} {'rtf+conf':>9} {'agree':>7} {'same_E':>7} {'speedup':>8}")
    for beam in args.beams:
        started = time.perf_counter()
        results = [
            decoders.decode(e, g, beam=beam, max_active=args.max_active, confidence=False)
            for e, _ in data
        ]
        seconds = time.perf_counter() - started
        started = time.perf_counter()
        for e, _ in data:
            decoders.decode(e, g, beam=beam, max_active=args.max_active, confidence=True)
        conf_seconds = time.perf_counter() - started
        pairs = list(zip(results, reference, strict=True))
        agree = np.mean([r.output == out for r, (out, _) in pairs])
        gap = np.array([(r.energy - en) / max(1.0, abs(en)) for r, (_, en) in pairs])
        same = np.mean(np.abs(gap) <= 1e-6)
        assert gap.min() >= -1e-6, f"beam {beam}: an energy below the exact minimum"
        print(
            f"{beam:6g} {seconds / audio:8.4f} {conf_seconds / audio:9.4f} "
            f"{100 * agree:6.1f}% {100 * same:6.1f}% {exact_seconds / seconds:7.1f}x"
        )


if __name__ == "__main__":
    main()
