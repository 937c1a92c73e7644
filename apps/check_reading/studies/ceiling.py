"""What the check reader's digits allow: a reader with perfect segmentation and symbols.

    python -m apps.check_reading.studies.ceiling                # LeNet-5, 30 epochs, 2,000 fields
    python -m apps.check_reading.studies.ceiling --epochs 150 --fields 2000

The recogniser of the segmenting reader (:class:`apps.check_reading.network.LeNet5`, ten
digit classes) is trained on the 4,000 *isolated* training digits (MNIST, padded to 32x32, the
same random affine distortions as local training) and classifies the 1,000 isolated test digits.
A field of the held-out test set is then read "perfectly segmented": correct when all its digits
are, with confidence the product of its digits' posteriors (symbols taken as read). The table
gives isolated digit accuracy and the field rows (% correct at zero rejection and at <= 1% and
0.5% error), an optimistic bound for any reader of these fields that learns from these digits.

Each test digit recurs in about 9 test fields, so one ambiguous digit (a "1" drawn as a "7")
makes about 9 confident field errors; the last lines list the test digits this classifier
misreads with the number of fields they appear in.
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
from ..train import augment


def train_isolated(images, labels, epochs: int, seed: int = 0) -> LeNet5:
    """LeNet-5 (10 classes) with Adam, one-cycle learning rate, affine distortions."""
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    net = LeNet5(num_classes=10)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    batches = len(labels) // 64
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, 3e-3, total_steps=epochs * batches)
    zeros = torch.zeros(64)
    for _ in range(epochs):
        order = torch.randperm(len(labels))
        for b in range(batches):
            idx = order[b * 64 : (b + 1) * 64]
            energies = net(augment(images[idx], generator), zeros)
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
    right = posterior.argmax(1) == labels
    index = {int(r): j for j, r in enumerate(rows)}
    correct, confidence = np.zeros(len(fields), bool), np.zeros(len(fields))
    appearances = np.zeros(len(rows), int)
    for i, f in enumerate(fields):
        js = [index[int(r)] for r in f.digit_rows if r >= 0]
        appearances[js] += 1
        correct[i] = right[js].all()
        confidence[i] = np.prod(posterior[js].max(1))
    return correct, confidence, appearances


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--fields", type=int, default=2000, help="held-out test fields")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    images, labels, _ = mnist.digits("train")
    x = F.pad(torch.from_numpy(images).float().div(255).unsqueeze(1), (2, 2, 2, 2))
    net = train_isolated(x, torch.from_numpy(labels), args.epochs, args.seed)
    test_images, test_labels, test_rows = mnist.digits("test")
    xt = F.pad(torch.from_numpy(test_images).float().div(255).unsqueeze(1), (2, 2, 2, 2))
    with torch.no_grad():
        posterior = torch.exp(-net(xt, torch.zeros(len(xt)))).numpy()
    right = posterior.argmax(1) == test_labels
    fields = data.load_or_generate("test", args.fields, 0).fields
    correct, confidence, appearances = perfectly_segmented(
        fields, posterior, test_labels, test_rows
    )
    print(f"isolated test digits: {100 * right.mean():.1f}% right ({args.epochs} epochs)")
    print(f"{'perfectly segmented':<22}{'fields':>7} | zero rej. | <=1% err | <=0.5% err")
    points, _ = operating_points(confidence, correct)
    cells = [points[key].correct for key, _, _ in OPERATING_POINTS]
    print(f"{'':<22}{len(fields):>7} | " + " | ".join(f"{100 * c:8.1f}" for c in cells))
    wrong = np.flatnonzero(~right)
    wrong = wrong[np.argsort(-appearances[wrong])]
    print(f"{len(wrong)} test digits misread, in {int((appearances[wrong]).sum())} digit slots:")
    top = wrong[:15]
    cells = zip(
        test_rows[top], test_labels[top], posterior[top].argmax(1), appearances[top], strict=True
    )
    print("  " + ", ".join(f"row {r} ({t}->{p}, {a} fields)" for r, t, p, a in cells))
    print(f"[{time.time() - t0:.0f}s]")


if __name__ == "__main__":
    main()
