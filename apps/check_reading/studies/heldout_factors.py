"""What each nuisance of the held-out style costs the readers: the held-out fields rendered with
one of :data:`.heldout.FACTORS` switched off at a time (the same amounts, digits and random draws
otherwise), read by a segmenting checkpoint, a space-displacement checkpoint and their product.

    python -m apps.check_reading.studies.heldout_factors out/check_full            # 1,000 fields
    python -m apps.check_reading.studies.heldout_factors out/check_full --factors pen,symbols

Rows: ``as rendered`` (every nuisance on), one row per factor switched off, and ``all off``.
Columns: correct % at zero rejection / at <= 1% error of each reader and of the product, then the
product's misreadings of the style's punctuation, as % of the fields: a period dropped (the
answer is the truth without one of its periods), a comma dropped, a leading "$" read as a digit.
A diagnosis of the held-out style, which no training, tuning or model selection may use.
"""

from __future__ import annotations

import argparse
from collections import Counter
from functools import partial
from pathlib import Path

import torch

from .. import data, evaluate, heldout
from ..api import CheckReader, in_batches
from ..combine import combine
from ..experiment import read_all
from ..sdnn import SdnnReader

MISREADINGS = ("period dropped", "comma dropped", "$ read as a digit")


def misreading(answer: str, truth: str) -> str | None:
    """Which of :data:`MISREADINGS` a wrong ``answer`` makes of ``truth`` (None: another error,
    or none)."""
    for mark, name in ((".", "period dropped"), (",", "comma dropped")):
        if answer.count(mark) < truth.count(mark):
            if answer.replace(mark, "") == truth.replace(mark, ""):
                return name
    if truth.startswith("$") and answer[:1].isdigit() and answer[1:] == truth[1:]:
        return "$ read as a digit"
    return None


def read_three(segmenting: CheckReader, sdnn: SdnnReader, fields: data.FieldSet) -> dict:
    """{"segmenting" | "sdnn" | "product": (answers, confidences)} of the two readers and their
    product on ``fields``, cut with the segmenting reader's own settings."""
    prepared = data.prepare(fields, settings=segmenting.settings)
    model = segmenting.model.eval()
    return {
        "segmenting": read_all(model, prepared),
        "sdnn": in_batches(sdnn.read_strips, prepared.strips),
        "product": in_batches(
            partial(combine, model, sdnn), prepared.segmentations, prepared.strips
        ),
    }


def measure(segmenting: CheckReader, sdnn: SdnnReader, fields: data.FieldSet) -> dict:
    """{reader: summary row} for the segmenting reader, the SDNN and their product on
    ``fields``, and ``misreadings``: {name: % of fields} of the product's answers."""
    read = read_three(segmenting, sdnn, fields)
    rows = {name: evaluate.results(*r, fields.texts)[0] for name, r in read.items()}
    kinds = Counter(misreading(a, t) for a, t in zip(read["product"][0], fields.texts, strict=True))
    rows["misreadings"] = {k: 100.0 * kinds[k] / len(fields) for k in MISREADINGS}
    return rows


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("checkpoints", help="folder of a `train` run (global_nll.pt and sdnn.pt)")
    p.add_argument("--segmenting", default="global_nll.pt", help="the segmenting checkpoint")
    p.add_argument("-n", "--fields", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--factors", default=",".join(heldout.FACTORS), help="comma-separated")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    folder = Path(args.checkpoints)
    segmenting = CheckReader.load(folder / args.segmenting)
    sdnn = SdnnReader.load(folder / "sdnn.pt")
    factors = [f for f in args.factors.split(",") if f]
    variants = {"as rendered": frozenset(), **{f"{f} off": frozenset([f]) for f in factors}}
    variants["all off"] = frozenset(factors)
    head = [f"{args.fields} held-out fields", "segmenting", "sdnn", "product", *MISREADINGS]
    print("| " + " | ".join(head) + " |\n" + "|---" * len(head) + "|")
    for name, neutral in variants.items():
        rows = measure(segmenting, sdnn, heldout.generate_heldout(args.fields, args.seed, neutral))
        cells = [
            " / ".join(f"{100 * rows[r][k].correct:.1f}" for k in ("zero_reject", "error_1"))
            for r in ("segmenting", "sdnn", "product")
        ]
        cells += [f"{rows['misreadings'][k]:.1f}" for k in MISREADINGS]
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)


if __name__ == "__main__":
    main()
