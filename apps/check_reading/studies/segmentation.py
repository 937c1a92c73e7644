"""Check-amount over-segmentation: how often some path of candidate cuts isolates every character.

    python -m apps.check_reading.studies.segmentation                      # 400 validation fields
    python -m apps.check_reading.studies.segmentation --split test -n 400  # the own test fields
    python -m apps.check_reading.studies.segmentation --split heldout      # the ledger style
    python -m apps.check_reading.studies.segmentation --split phone        # the phone style
    python -m apps.check_reading.studies.segmentation --straight           # straight cuts only
    python -m apps.check_reading.studies.segmentation --no-blob-cuts       # no cuts beside blobs
    python -m apps.check_reading.studies.segmentation --previous           # before session 14
    python -m apps.check_reading.studies.segmentation --set blob_strong=0  # no blobs in dark ink
    python -m apps.check_reading.studies.segmentation --set min_gap=0.1 --set max_pieces=16

``--set NAME=VALUE`` (repeatable) changes one field of :class:`.segment.SegmenterSettings` on
top of the chosen segmenter, within the ranges a checkpoint may hold (:data:`.api.SCHEMA`).

Splits: ``val`` (broad renderer, training digits, seed 1: the fields to tune on), ``test`` (broad
renderer, test digits, seed 0: the experiment's own test fields), ``heldout`` and ``phone`` (the
held-out styles ledger and phone, seed 0: measure only, never tune). For each field the segmenter
runs on the normalised field, the renderer's ownership map goes through the same warp, and
:mod:`.truth` labels the segments; a field is *covered* when :func:`.truth.true_path` finds a path.
This coverage bounds every segmenting reader. Columns: coverage, cuts and segments per field (the
reader's cost grows with segments), segmentation time per field (ms; truth labelling not timed).

Each character that no candidate segment isolates gets one cause, the first that applies:
- ``faint``: fewer than 3 of the character's pixels are ink to the segmenter after
  normalisation (too faint, too thin or too small to see);
- ``no straight cut``: no column range [a, b) of the normalised field isolates it (the truth's
  thresholds), so straight vertical cuts cannot; split by whether its ink *touches* a
  neighbour's (one connected component) or only *overlaps* it in columns;
- ``too wide``: two candidate cuts isolate it but the span has more than ``max_pieces`` pieces
  or is wider than ``max_width``;
- ``no cut``: some column range isolates it but no candidate cut falls at one of its ends;
  split by the neighbour on the missing side (``digit`` or the symbol).
plus ``no path``: every character is isolated by some segment but no chain of them joins.
Each cause is further split by the character's kind (``digit`` or the symbol).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections import Counter

import numpy as np
from scipy import ndimage

from ..._common.checkpoint import CheckpointError
from .. import data
from ..api import SCHEMA
from ..normalise import INK, normalise
from ..segment import DEFAULT_SEGMENTER, Segmentation, SegmenterSettings, segment_normalised
from ..truth import segment_truth, true_path

# Earlier segmenters, for before/after tables: straight cuts only, no cuts beside blobs, and
# segments at most 2 core heights wide with no blobs sought in the dark ink.
STRAIGHT_ONLY = SegmenterSettings(min_gap=0.12, max_pieces=5, max_width=1.6, curve_radius=0.0)
NO_BLOB_CUTS = SegmenterSettings(blob_size=0.0, max_width=2.0, blob_strong=0.0)
PREVIOUS = SegmenterSettings(max_width=2.0, blob_strong=0.0)


def missing_cause(norm, owner, seg, k: int, text: str, settings: SegmenterSettings) -> str:
    """Why character k has no isolating segment (see the module docstring)."""
    n, W = len(text), owner.shape[1]
    counts = np.stack([(owner == j).sum(0) for j in range(n)])
    if ((owner == k) & (norm.ink > INK)).sum() < 3:
        return "faint"
    cum = np.concatenate([np.zeros((n, 1), np.int64), np.cumsum(counts, 1)], 1)
    a, b = np.triu_indices(W + 1, 1)
    # which column ranges [a, b) pass the truth's test for character k (see :mod:`.truth`)
    inside = cum[:, b] - cum[:, a]  # [n, P]
    total = np.maximum(cum[:, -1], 1)[:, None]
    held, purity = inside[k] / total[k], inside[k] / np.maximum(inside.sum(0), 1)
    others = np.delete(inside / total, k, axis=0).max(0, initial=0.0)
    ok = (held >= 0.8) & (purity >= 0.8) & (others <= 0.2)
    if not ok.any():
        binary = norm.ink > INK
        components, _ = ndimage.label(binary, structure=np.ones((3, 3)))
        mine = np.unique(components[(owner == k) & binary])
        for c in mine[mine > 0]:
            owned = owner[components == c]
            owned = owned[owned >= 0]
            if owned.size and np.mean(owned != k) >= 0.05:
                return "no straight cut, touching"
        return "no straight cut, overlap"
    # every pair of candidate cuts, as if it were a segment
    ia, ib = np.nonzero(np.triu(np.all(seg.paths[:, None] <= seg.paths[None], axis=2), 1))
    pairs = Segmentation(seg.cuts, ia, ib, seg.band, seg.images[:0], seg.aspect[:0], seg.paths)
    if np.any(segment_truth(pairs, owner, text)[1] == k):
        return "too wide"
    # which end lacks a cut: the left end when no isolating range starts at a (straight) cut
    straight = seg.paths[np.all(seg.paths == seg.paths[:, :1], axis=1), 0]
    left_ok = np.isin(a[ok], straight).any()
    side = k - 1 if not left_ok else k + 1
    if 0 <= side < n:
        return "no cut " + ("digit" if text[side].isdigit() else text[side])
    return "no cut edge"


def measure(fields, settings: SegmenterSettings = DEFAULT_SEGMENTER, causes: bool = True) -> dict:
    """Coverage, cuts/segments per field, ms per field and failure causes over ``fields``."""
    covered, cuts, segments, seconds = 0, 0, 0, 0.0
    why: Counter = Counter()
    for f in fields.fields:
        norm = normalise(f.image)
        t0 = time.perf_counter()
        seg = segment_normalised(norm, settings)
        seconds += time.perf_counter() - t0
        if norm is None:
            why["no ink"] += 1
            continue
        owner = norm.warp(f.owner)
        _, char = segment_truth(seg, owner, f.text)
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
            kind = "digit" if f.text[k].isdigit() else f.text[k]
            why[f"{missing_cause(norm, owner, seg, k, f.text, settings)} / {kind}"] += 1
    n = max(len(fields), 1)
    return {
        "coverage": 100.0 * covered / n,
        "fails": len(fields) - covered,
        "cuts": cuts / n,
        "segments": segments / n,
        "ms": 1000.0 * seconds / n,
        "causes": dict(why.most_common()),
    }


SPLITS = {  # name -> n -> fields (see the module docstring)
    "val": lambda n: data.load_or_generate("train", n, 1),
    "test": lambda n: data.load_or_generate("test", n, 0),
    "heldout": lambda n: data.load_or_generate_heldout(n, 0),
    "phone": lambda n: data.load_or_generate_heldout(n, 0, style="phone"),
}


def with_settings(settings: SegmenterSettings, assignments: list[str]) -> SegmenterSettings:
    """``settings`` with each ``NAME=VALUE`` of ``assignments`` applied, checked as a checkpoint's
    settings are (ValueError naming the assignment otherwise)."""
    kinds = {f.name: type(f.default) for f in dataclasses.fields(SegmenterSettings)}
    changed = dataclasses.asdict(settings)
    for text in assignments:
        name, sep, value = text.partition("=")
        if not sep or name not in kinds:
            raise ValueError(f"--set {text!r}: expected NAME=VALUE, NAME one of {', '.join(kinds)}")
        try:
            changed[name] = kinds[name](value)
        except ValueError:
            kind = "an integer" if kinds[name] is int else "a number"
            raise ValueError(f"--set {text!r}: {name} takes {kind}") from None
    try:
        return SegmenterSettings(**SCHEMA.fields["settings"].check(changed, "--set"))
    except CheckpointError as e:
        raise ValueError(str(e)) from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=SPLITS, default="val", help="(see above)")
    parser.add_argument("-n", type=int, default=400, help="number of fields")
    parser.add_argument("--no-causes", action="store_true", help="skip the failure breakdown")
    earlier = parser.add_mutually_exclusive_group()
    earlier.add_argument(
        "--straight", action="store_true", help="the previous segmenter: straight cuts only"
    )
    earlier.add_argument(
        "--no-blob-cuts", action="store_true", help="the previous segmenter: no cuts beside blobs"
    )
    earlier.add_argument(
        "--previous", action="store_true", help="segments <= 2 core heights, no dark-ink blobs"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change one segmenter setting (repeatable), e.g. --set max_pieces=16",
    )
    args = parser.parse_args(argv)
    settings = STRAIGHT_ONLY if args.straight else DEFAULT_SEGMENTER
    settings = NO_BLOB_CUTS if args.no_blob_cuts else settings
    settings = PREVIOUS if args.previous else settings
    try:
        settings = with_settings(settings, args.set)
    except ValueError as e:
        parser.error(str(e))
    fields = SPLITS[args.split](args.n)
    print(f"{len(fields)} {args.split} fields")
    print(f"{'coverage':>8s} {'fails':>5s} {'cuts/f':>6s} {'segs/f':>6s} {'ms/f':>6s}")
    r = measure(fields, settings, not args.no_causes)
    print(
        f"{r['coverage']:7.1f}% {r['fails']:5d} {r['cuts']:6.1f} "
        f"{r['segments']:6.1f} {r['ms']:6.1f}"
    )
    for cause, count in r["causes"].items():
        print(f"  {count:5d}  {cause}")


if __name__ == "__main__":
    main()
