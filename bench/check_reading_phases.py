"""The check reader's training phases (local, global NLL / perceptron / hinge, SDNN) on a reduced
`make demo` configuration: the CPU time (``time.process_time``) of each, and the trained weights.

    python bench/check_reading_phases.py --save /tmp/before.pt      # the code before a change
    python bench/check_reading_phases.py --compare /tmp/before.pt   # after: the same weights?

``--compare`` checks every trained tensor with ``torch.equal``: a change that only removes
overhead must leave them bit-identical. The first run in a checkout also compiles numba's
kernels (a fresh clone's cost); give ``NUMBA_CACHE_DIR=<an empty folder>`` to time that
again. On a shared machine run the two sides alternately, several times, and compare medians.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

# bench/factors.py is named like the package: keep bench/ off the import path.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

# apps first, as `python -m apps.check_reading` does: gtn sets the thread policy before torch loads
import apps  # noqa: E402, F401

# isort: split
import torch  # noqa: E402

from apps.check_reading import data  # noqa: E402
from apps.check_reading.experiment import (  # noqa: E402
    DEMO,
    train_global_model,
    train_local_model,
    train_sdnn_reader,
)
from gtn.utils import atomic_write  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--train-fields", type=int, default=300)
parser.add_argument("--local-epochs", type=int, default=2)
parser.add_argument("--global-fields", type=int, default=100)
parser.add_argument("--sdnn-epochs", type=int, default=2)
parser.add_argument("--save", type=Path, help="write the trained weights here")
parser.add_argument("--compare", type=Path, help="check the trained weights against these")
args = parser.parse_args()

config = dataclasses.replace(
    DEMO,
    train_fields=args.train_fields,
    local_epochs=args.local_epochs,
    global_fields=args.global_fields,
    sdnn_epochs=args.sdnn_epochs,
)
torch.set_num_threads(config.threads)
train_set = data.load_or_generate("train", config.train_fields, config.seed)
train_p = data.prepare(train_set, progress=False, workers=1)
seconds, weights = {}, {}


def phase(name: str, train):
    """Run ``train``, record its CPU time and a copy of the trained network's weights."""
    start = time.process_time()
    trained = train()
    seconds[name] = time.process_time() - start
    network = getattr(trained, "network", trained)
    weights[name] = {k: v.detach().clone() for k, v in network.state_dict().items()}
    return trained


local = phase("local", lambda: train_local_model(config, train_p, False))
for loss in config.losses:
    phase(loss, lambda loss=loss: train_global_model(config, local, train_p, loss, False))
phase("sdnn", lambda: train_sdnn_reader(config, train_set, False, train_p.strips))

print("CPU s  " + "  ".join(f"{k} {v:.2f}" for k, v in seconds.items()))
if args.save:
    with atomic_write(args.save, "wb") as f:
        torch.save(weights, f)
if args.compare:
    before = torch.load(args.compare, weights_only=True)
    differ = [
        f"{name}.{key}"
        for name, tensors in weights.items()
        for key, value in tensors.items()
        if key not in before.get(name, {}) or not torch.equal(value, before[name][key])
    ]
    count = sum(len(t) for t in weights.values())
    print(f"weights: {count - len(differ)} of {count} tensors bit-identical", *differ[:10])
    sys.exit(1 if differ else 0)
