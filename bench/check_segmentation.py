"""Check-amount over-segmentation: how often some path of candidate cuts isolates every character.

    .venv/bin/python bench/check_segmentation.py                 # 400 training fields
    .venv/bin/python bench/check_segmentation.py -n 100 --min-area 1

Fields come from :func:`apps.check_reading.data.load_or_generate` ("train" split: training MNIST
digits only; cached on disk). For each field the segmenter runs and :mod:`.truth` labels its
segments from the renderer's ownership map; a field is *covered* when :func:`.truth.true_path`
finds a path. Columns: coverage (% fields covered), cuts and segments per field (the reader's
cost grows with segments), segmentation time per field (ms; the truth labelling is not timed).

Failure causes, one per character that no segment isolates, in the first matching class:
- ``touching``: the character's ink shares a connected component (the segmenter's binary ink)
  with a neighbour's ink (>= 10% of the component's owned pixels);
- ``overlap``: its ink columns overlap a neighbour's, but the ink does not touch;
- ``apart``: neither (e.g. a real cut dropped by the ``min_gap`` merge, or a broken glyph);
plus ``no path``: every character is isolated by some segment but no chain of them joins.
Characters are further split into ``digit`` and ``symbol`` ($ , . *).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from apps.check_reading import data  # noqa: E402
from apps.check_reading.segment import INK, SegmenterSettings, normalised_ink, segment  # noqa: E402
from apps.check_reading.truth import segment_truth, true_path  # noqa: E402


def missing_cause(field, k: int) -> str:
    """Why character k of ``field`` may have no isolating segment (see the module docstring)."""
    binary = normalised_ink(field.image) > INK
    components, _ = ndimage.label(binary, structure=np.ones((3, 3)))
    owner = field.owner
    mine = np.unique(components[(owner == k) & (components > 0)])
    for c in mine:
        owned = owner[components == c]
        owned = owned[owned >= 0]
        if owned.size and np.mean(owned != k) >= 0.1:
            return "touching"
    left, right = field.boxes[k]
    for j in (k - 1, k + 1):
        if 0 <= j < len(field.text):
            a, b = field.boxes[j]
            if a < right and left < b:
                return "overlap"
    return "apart"


def measure(fields, settings: SegmenterSettings, causes: bool = True) -> dict:
    """Coverage, cuts/segments per field, ms per field and failure causes over ``fields``."""
    covered, cuts, segments, seconds = 0, 0, 0, 0.0
    why: Counter = Counter()
    for f in fields.fields:
        t0 = time.perf_counter()
        seg = segment(f.image, settings)
        seconds += time.perf_counter() - t0
        _, char = segment_truth(seg, f.owner, f.text)
        cuts += max(len(seg.cuts) - 1, 0)
        segments += seg.num_segments
        if true_path(seg, char, len(f.text)) is not None:
            covered += 1
            continue
        if not causes:
            continue
        lost = [k for k in range(len(f.text)) if not np.any(char == k)]
        if not lost:
            why["no path"] += 1
        for k in lost:
            kind = "digit" if f.text[k].isdigit() else "symbol"
            why[f"{missing_cause(f, k)} {kind}"] += 1
    n = max(len(fields), 1)
    return {
        "coverage": 100.0 * covered / n,
        "fails": len(fields) - covered,
        "cuts": cuts / n,
        "segments": segments / n,
        "ms": 1000.0 * seconds / n,
        "causes": dict(sorted(why.items())),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=400, help="number of training fields")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--min-area", type=int, default=3, help="speck size (px), see segment")
    parser.add_argument("--no-causes", action="store_true", help="skip the failure breakdown")
    args = parser.parse_args(argv)
    fields = data.load_or_generate("train", args.n, args.seed)
    print(f"{len(fields)} training fields, seed {args.seed}, min_area {args.min_area}")
    print(f"{'coverage':>8s} {'fails':>5s} {'cuts/f':>6s} {'segs/f':>6s} {'ms/f':>6s}")
    r = measure(fields, SegmenterSettings(min_area=args.min_area), not args.no_causes)
    print(
        f"{r['coverage']:7.1f}% {r['fails']:5d} {r['cuts']:6.1f} "
        f"{r['segments']:6.1f} {r['ms']:6.1f}"
    )
    if r["causes"]:
        print("missing characters: " + ", ".join(f"{k} {v}" for k, v in r["causes"].items()))


if __name__ == "__main__":
    main()
