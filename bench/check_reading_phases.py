"""The check reader's training phases (local, global NLL / perceptron / hinge, SDNN) on a reduced
`make demo` configuration: the CPU time (``time.process_time``) of each, and the trained weights.

    python bench/check_reading_phases.py --save /tmp/before.pt      # the code before a change
    python bench/check_reading_phases.py --compare /tmp/before.pt   # after: the same weights?

``--compare`` checks every trained tensor with ``torch.equal``: a change that only removes
overhead must leave them bit-identical. The first run in a checkout also compiles numba's
kernels (a fresh clone's cost); give ``NUMBA_CACHE_DIR=<an empty folder>`` to time that
again. On a shared machine run the two sides alternately, several times, and compare medians.
``--keep-freed-memory`` sets the allocator as the apps' ``demo`` and ``train`` commands do
(:mod:`apps._common.memory`); without it, glibc's default: run both to see what it buys.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

# bench/factors.py is named like the package: keep bench/ off the import path.
sys.path = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

# apps first, as `python -m apps.check_reading` does: gtn sets the thread policy before torch loads
import apps  # noqa: E402, F401

# isort: split
import torch  # noqa: E402

from apps._common.memory import keep_freed_memory  # noqa: E402
from apps.check_reading import data  # noqa: E402
from apps.check_reading.experiment import DEMO, train_readers  # noqa: E402
from gtn.utils import atomic_write  # noqa: E402

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--train-fields", type=int, default=300)
parser.add_argument("--local-epochs", type=int, default=2)
parser.add_argument("--global-fields", type=int, default=100)
parser.add_argument("--sdnn-epochs", type=int, default=2)
parser.add_argument("--save", type=Path, help="write the trained weights here")
parser.add_argument("--compare", type=Path, help="check the trained weights against these")
parser.add_argument(
    "--keep-freed-memory", action="store_true", help="the allocator as `demo` and `train` set it"
)
args = parser.parse_args()
if args.keep_freed_memory:
    keep_freed_memory()

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
seconds: dict[str, float] = {}
mark, start = time.process_time(), time.perf_counter()


def lap(message: str) -> None:
    """train_readers reports each finished phase: charge the CPU time since the last report."""
    global mark
    now = time.process_time()
    seconds[message.replace(" training done", "").split(" from ")[0]] = now - mark
    mark = now


with tempfile.TemporaryDirectory() as out:
    readers = train_readers(config, train_set, train_p, Path(out), lap, progress=False)
weights = {
    name: {k: v.detach().clone() for k, v in getattr(r, "network", r).state_dict().items()}
    for name, r in readers.items()
}

print("CPU s  " + "  ".join(f"{k} {v:.2f}" for k, v in seconds.items()))
print(f"wall s {time.perf_counter() - start:.2f} (the five phases)")
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
