"""What the check reader's digits allow: a reader with perfect segmentation and symbols.

    python -m apps.check_reading.studies.ceiling                # LeNet-5, 30 epochs, 2,000 fields
    python -m apps.check_reading.studies.ceiling --epochs 150 --fields 2000
    python -m apps.check_reading.studies.ceiling --style broad      # digits as rendered
    python -m apps.check_reading.studies.ceiling --style heldout    # the ledger style
    python -m apps.check_reading.studies.ceiling --style phone
    python -m apps.check_reading.studies.ceiling --style broad --width 4   # a wider LeNet-5

The recogniser of the segmenting reader (:class:`apps.check_reading.network.LeNet5`, ten
digit classes) is trained on the 4,000 *isolated* training digits (MNIST, padded to 32x32, the
same random affine distortions as local training) and classifies the 1,000 isolated test digits.
A field of the held-out test set is then read "perfectly segmented": correct when all its digits
are, with confidence the product of its digits' posteriors (symbols taken as read). The table
gives isolated digit accuracy and the field rows (% correct at zero rejection and at <= 1% and
0.5% error), an optimistic bound for any reader of these fields that learns from these digits.

``--style broad|heldout|phone``: the digits *as rendered* instead, each cut out of its normalised
field with a perfect segment (the renderer's ownership map through the same warp selects the
digit's own ink, scaled like a candidate segment). The classifier is trained on the digits of
``--train-fields`` broad training fields (the experiment's), never on a held-out style, and
reads every digit of the own broad test fields or of a held-out style's (``heldout``: the
ledger style); a field is right when all its digits are. This bounds every segmenting reader
of those fields.

Each test digit recurs in about 9 test fields, so one ambiguous digit (a "1" drawn as a "7")
makes about 9 confident field errors; the last lines list the test digits this classifier
misreads in the most fields ("k of n": misread in k of the n fields they appear in).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F

from .. import data, mnist
from ..evaluate import OPERATING_POINTS, operating_points
from ..network import LeNet5
from ..normalise import CORE, HEIGHT, normalise
from ..segment import SIZE, segment_images
from ..train import augment


def train_isolated(
    images, labels, epochs: int, seed: int = 0, aspect=None, width: int | None = None
) -> LeNet5:
    """LeNet-5 (10 classes, ``width`` times its channels and units; None: the reader's) with
    Adam, one-cycle learning rate, affine distortions; ``aspect`` [N] of the images (None:
    zeros)."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = LeNet5(num_classes=10) if width is None else LeNet5(num_classes=10, width=width)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    batches = len(labels) // 64
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=epochs * batches)
    aspect = torch.zeros(len(labels)) if aspect is None else aspect
    for _ in range(epochs):
        order = torch.randperm(len(labels))
        for b in range(batches):
            idx = order[b * 64 : (b + 1) * 64]
            energies = net(augment(images[idx], generator), aspect[idx])
            loss = energies.gather(1, labels[idx, None]).mean()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
    return net.eval()


def perfectly_segmented(fields, posterior: np.ndarray, labels: np.ndarray, rows: np.ndarray):
    """(correct bool [F], confidence [F], appearances int [D]) of fields read with perfect
    segmentation: a field is right when each of its digits is classified right (symbols taken
    as read), with confidence the product of its digits' top posteriors. ``posterior``
    [D, 10]: the classifier's posteriors of the D test digits whose true ``labels`` are [D] and
    MNIST rows ``rows`` [D]; ``appearances``: in how many fields each test digit appears."""
    index = {int(r): j for j, r in enumerate(rows)}
    js = np.array([index[int(r)] for f in fields for r in f.digit_rows if r >= 0], int)
    field = np.repeat(np.arange(len(fields)), [int((f.digit_rows >= 0).sum()) for f in fields])
    correct, confidence = fields_read(field, posterior[js], labels[js], len(fields))
    return correct, confidence, np.bincount(js, minlength=len(rows))


def fields_read(field: np.ndarray, posterior: np.ndarray, labels: np.ndarray, n: int):
    """(correct bool [n], confidence [n]) of n fields whose digits, each of ``field`` [D], have
    ``posterior`` [D, 10] and true ``labels`` [D]: right when all are, confidence the product
    of their top posteriors."""
    wrong = np.bincount(field, posterior.argmax(1) != labels, minlength=n)
    log_confidence = np.bincount(field, np.log(posterior.max(1)), minlength=n)
    return wrong == 0, np.exp(log_confidence)


def rendered_digits(fields):
    """(images [D, 1, 32, 32] float 1 = ink, aspect [D], labels [D], field [D], rows [D]) of
    every digit of ``fields`` (a FieldSet) as a perfect segment shows it: the digit's own ink
    in the normalised field (the ownership map through the same warp), cut at its outermost
    columns and scaled like a candidate segment (:func:`.segment.segment_images`)."""
    digits = []
    for i, f in enumerate(fields.fields):
        norm = normalise(f.image)
        owner = np.full((HEIGHT, 1), -1) if norm is None else norm.warp(f.owner)
        for k in np.flatnonzero(f.digit_rows >= 0):
            mine = owner == k
            columns = np.flatnonzero(mine.any(0))
            if columns.size == 0:  # no ink left after normalisation: a blank segment
                image, aspect = np.zeros((1, SIZE, SIZE), np.uint8), np.zeros(1, np.float32)
            else:
                paths = np.repeat([[columns[0]], [columns[-1] + 1]], HEIGHT, axis=1)
                ink = np.where(mine, norm.ink, 0.0)
                one = np.ones(1, int)
                image, aspect = segment_images(ink, paths, one - 1, one, CORE[1] - CORE[0])
            digits.append((image[0], aspect[0], int(f.text[k]), i, f.digit_rows[k]))
    images, aspect, labels, field, rows = (np.array(v) for v in zip(*digits, strict=True))
    x = torch.from_numpy(images).float().div(255).unsqueeze(1)
    return x, torch.from_numpy(aspect), labels, field, rows


def misread_digits(rows, labels, predicted, top: int = 15) -> str:
    """The test digits (MNIST ``rows`` of the digits read, with their ``labels`` and
    ``predicted`` classes) misread in the most fields: "row r (t->p, k of n fields)"."""
    wrong = predicted != labels
    seen, total = np.unique(rows, return_counts=True)
    misses = np.bincount(np.searchsorted(seen, rows[wrong]), minlength=len(seen))
    cells = []
    for j in np.argsort(-misses, kind="stable")[: min(top, np.count_nonzero(misses))]:
        k = np.flatnonzero(wrong & (rows == seen[j]))[0]
        cells.append(f"row {seen[j]} ({labels[k]}->{predicted[k]}, {misses[j]} of {total[j]})")
    head = f"{np.count_nonzero(misses)} test digits misread, {wrong.sum()} of {len(rows)} times:"
    return head + "\n  " + ", ".join(cells)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--fields", type=int, default=2000, help="held-out test fields")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--style",
        choices=("isolated", "broad", "heldout", "phone"),
        default="isolated",
        help="isolated MNIST digits, or as rendered",
    )
    parser.add_argument(
        "--train-fields",
        type=int,
        default=8000,
        help="broad training fields (broad, heldout, phone)",
    )
    parser.add_argument(
        "--width",
        type=int,
        choices=range(1, 17),
        metavar="1..16",
        help="LeNet-5's channels and units times this (default: the reader's)",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    if args.style in ("heldout", "phone"):
        style = "ledger" if args.style == "heldout" else "phone"
        fields = data.load_or_generate_heldout(args.fields, 0, style=style)
    else:  # the own (broad) test fields; for isolated digits only their digits matter
        fields = data.load_or_generate("test", args.fields, 0)
    if args.style == "isolated":
        images, labels, _ = mnist.digits("train")
        x = F.pad(torch.from_numpy(images).float().div(255).unsqueeze(1), (2, 2, 2, 2))
        net = train_isolated(x, torch.from_numpy(labels), args.epochs, args.seed, width=args.width)
        test_images, labels, rows = mnist.digits("test")
        xt = F.pad(torch.from_numpy(test_images).float().div(255).unsqueeze(1), (2, 2, 2, 2))
        aspect = torch.zeros(len(xt))
    else:
        x, a, y, _, _ = rendered_digits(data.load_or_generate("train", args.train_fields, 0))
        net = train_isolated(x, torch.from_numpy(y), args.epochs, args.seed, a, args.width)
        xt, aspect, labels, field, rows = rendered_digits(fields)
    with torch.no_grad():
        posterior = torch.exp(-net(xt, aspect)).numpy()
    right = 100 * np.mean(posterior.argmax(1) == labels)  # isolated: each test digit once
    print(
        f"{args.style} test digits: {right:.1f}% right ({len(labels)}, {args.epochs} epochs, "
        f"width {net.width})"
    )
    if args.style == "isolated":  # each test digit once: expand it to its fields
        correct, confidence, appearances = perfectly_segmented(
            fields.fields, posterior, labels, rows
        )
        each = np.repeat(np.arange(len(rows)), appearances)
        posterior, labels, rows = posterior[each], labels[each], rows[each]
    else:
        correct, confidence = fields_read(field, posterior, labels, len(fields))
    print(f"{'perfectly segmented':<22}{'fields':>7} | zero rej. | <=1% err | <=0.5% err")
    points, _ = operating_points(confidence, correct)
    cells = [points[key].correct for key, _, _ in OPERATING_POINTS]
    print(f"{'':<22}{len(fields):>7} | " + " | ".join(f"{100 * c:8.1f}" for c in cells))
    print(misread_digits(rows, labels, posterior.argmax(1)))
    print(f"[{time.time() - t0:.0f}s]")


if __name__ == "__main__":
    main()
