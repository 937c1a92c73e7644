"""Does a field read the same at any resolution? The same fields rescaled, as a scan at another
resolution shows them (area-averaged when smaller, bicubic when larger), read by a segmenting
checkpoint, a space-displacement checkpoint and their product.

    python -m apps.check_reading.studies.resolution out/check_full     # 800 validation fields
    python -m apps.check_reading.studies.resolution out/check_full --set test --factors 0.5,1,2
    python -m apps.check_reading.studies.resolution out/check_full --factors 0.5,-0.5

Rows: one per factor; a negative factor -f rescales by f and back to the original size (the
information of a scan at f, at the original resolution), which tells lost information from the
reader's dependence on resolution. Columns: correct % at zero rejection / at <= 1% error of each
reader, and % of the product's answers equal to its answers at x1.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from .. import data, evaluate
from ..api import CheckReader
from ..sdnn import SdnnReader
from .heldout_factors import read_three

SETS = ("val", "test", *data.HELDOUT_STYLES)


def rescale(image: np.ndarray, factor: float) -> np.ndarray:
    """uint8 ``image`` [H, W] scanned at ``factor`` times its resolution (area averaging below
    1, bicubic above); -f: at f and back to [H, W]."""
    h, w = image.shape
    if factor < 0:
        small = Image.fromarray(rescale(image, -factor))
        return np.asarray(small.resize((w, h), Image.Resampling.BICUBIC), np.uint8)
    if factor == 1:
        return image
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    kind = Image.Resampling.BOX if factor < 1 else Image.Resampling.BICUBIC
    return np.asarray(Image.fromarray(image).resize(size, kind), np.uint8)


def rescaled(fields: data.FieldSet, factor: float) -> data.FieldSet:
    """``fields`` with every image rescaled by :func:`rescale` (no owner maps: read only)."""
    return replace(
        fields,
        fields=[replace(f, image=rescale(f.image, factor), owner=None) for f in fields.fields],
    )


def measure(segmenting: CheckReader, sdnn: SdnnReader, fields: data.FieldSet, factors) -> dict:
    """{factor: {reader: summary row, "same": % of the product's answers equal at x1}}."""
    at_one = read_three(segmenting, sdnn, fields)["product"][0]
    out = {}
    for factor in factors:
        read = read_three(segmenting, sdnn, rescaled(fields, factor))
        rows = {name: evaluate.results(*r, fields.texts)[0] for name, r in read.items()}
        same = [a == b for a, b in zip(read["product"][0], at_one, strict=True)]
        out[factor] = {**rows, "same": 100.0 * float(np.mean(same))}
    return out


def load_set(name: str, n: int) -> data.FieldSet:
    """``n`` fields of a set: validation (train split, seed 1), own test fields, or a held-out
    style."""
    if name == "val":
        return data.load_or_generate("train", n, 1)
    if name == "test":
        fields = data.load_or_generate("test", max(n, 2000), 0)
    else:
        fields = data.load_or_generate_heldout(max(n, 2000), 0, style=name)
    return replace(fields, fields=fields.fields[:n])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", help="folder of a `train` run (global_nll.pt and sdnn.pt)")
    p.add_argument("--segmenting", default="global_nll.pt", help="the segmenting checkpoint")
    p.add_argument("--set", choices=SETS, default="val")
    p.add_argument("-n", "--fields", type=int, default=800)
    p.add_argument("--factors", default="0.5,0.7,1,1.5,2,3,-0.5", help="comma-separated")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    folder = Path(args.checkpoints)
    segmenting = CheckReader.load(folder / args.segmenting)
    sdnn = SdnnReader.load(folder / "sdnn.pt")
    factors = [float(f) for f in args.factors.split(",") if f]
    fields = load_set(args.set, args.fields)
    head = [f"{args.fields} {args.set} fields, scale", "segmenting", "sdnn", "product", "same"]
    print("| " + " | ".join(head) + " |\n" + "|---" * len(head) + "|")
    for factor, rows in measure(segmenting, sdnn, fields, factors).items():
        cells = [
            " / ".join(f"{100 * rows[r][k].correct:.1f}" for k in ("zero_reject", "error_1"))
            for r in ("segmenting", "sdnn", "product")
        ]
        label = f"x{-factor:g} and back" if factor < 0 else f"x{factor:g}"
        print(f"| {label} | " + " | ".join(cells) + f" | {rows['same']:.1f} |", flush=True)


if __name__ == "__main__":
    main()
