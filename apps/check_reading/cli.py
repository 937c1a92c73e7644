"""``ebgtn check-reading train|evaluate|demo|read|generate``
(also ``python -m apps.check_reading``).

demo      train from scratch on a short schedule, evaluate, write figures (a few minutes)
train     train the local system, the global ones and the space-displacement reader
evaluate  evaluate checkpoints (segmenting or space-displacement) on test fields and, with
          --heldout-fields, on the held-out styles
read      read one image file (print the amount and confidence, write a figure), or a folder
          of images (write a CSV of predictions with confidences)
generate  write rendered fields as an image folder with a labels file

Fields on disk are a folder of images plus labels.csv (lines of filename,amount; see
apps/check_reading/folder.py): give --train-folder / --test-folder a folder or a labels file.
Real images (PNG, JPEG, TIFF, ...; any size, 8/16-bit, grey or colour) and generated fields
take the same path.
"""

from __future__ import annotations

import argparse
from functools import partial
from pathlib import Path

from .._common.cli import add_app_parser, add_options, add_run_parsers, config_from_args

# (flag, type, help) of the options; each sets the Config field of its name (see _config).
_DATA_OPTIONS = (
    ("--train-fields", int, None),
    ("--test-fields", int, None),
    ("--seed", int, None),
    ("--cache-dir", str, "where generated fields are cached"),
    (
        "--test-folder",
        str,
        "test fields from an image folder (its labels.csv) or a labels file, instead of "
        "generated ones",
    ),
    ("--quiet", bool, "no progress bars"),
)
_TRAINING_OPTIONS = (
    ("--local-epochs", int, None),
    ("--global-epochs", int, None),
    ("--global-fields", int, "train globally on the first n training fields"),
    ("--losses", str, "comma-separated global losses, of nll, perceptron, hinge"),
    (
        "--train-folder",
        str,
        "training fields from an image folder (its labels.csv) or a labels file, instead of "
        "generated ones (local training needs the ownership maps of generated folders; for "
        "real images give --local-checkpoint)",
    ),
    (
        "--local-checkpoint",
        str,
        "start the global systems from this local checkpoint (skips local training)",
    ),
    ("--sdnn-epochs", int, "epochs of the space-displacement reader (0: leave it out)"),
    ("--heldout-fields", int, "fields of each held-out style to evaluate on (0: none)"),
)


def _base(command: str):
    """The configuration the options of ``command`` change (``demo`` has a short schedule)."""
    from .experiment import DEMO, Config

    return DEMO if command == "demo" else Config()


def _config(args):
    base = _base(args.command_name)
    return config_from_args(args, base, lists=("losses",))


def _run(args) -> int:
    from .experiment import run

    run(_config(args), Path(args.out), progress=not args.quiet)
    return 0


def _evaluate(args) -> int:
    from .commands import evaluate_checkpoints

    evaluate_checkpoints(_config(args), args.checkpoints, Path(args.out), not args.quiet)
    return 0


def _read(args) -> int:
    from . import commands

    if Path(args.image).is_dir() or Path(args.image).suffix.lower() == ".csv":
        commands.read_folder(args.image, args.checkpoint, args.predictions)
    else:
        commands.read_image_file(args.image, args.checkpoint, args.figure)
    return 0


def _generate(args) -> int:
    from .commands import generate_folder

    generate_folder(args.out, args.fields, args.split, args.seed)
    return 0


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``check-reading`` on an argparse subparsers object."""
    p, jobs = add_app_parser(
        sub, "check-reading", "the graph-transformer check-amount reader", __doc__
    )
    runs = (
        ("demo", "short end-to-end run with figures", "out/demo"),
        ("train", "train local + global systems", "out/check_reading"),
    )
    for q in add_run_parsers(jobs, runs, _run, _base):
        add_options(q, _DATA_OPTIONS + _TRAINING_OPTIONS)
    q = jobs.add_parser(
        "evaluate",
        help="evaluate checkpoints on test fields (with a segmenting and an SDNN"
        " checkpoint, also their product of experts)",
    )
    q.add_argument("checkpoints", nargs="+")
    add_options(q, _DATA_OPTIONS)
    q.add_argument(
        "--heldout-fields",
        type=int,
        default=0,
        help="also evaluate on this many fields of each held-out style (default 0: none)",
    )
    q.add_argument("--out", default="out/check_reading", help="folder for the results")
    q.set_defaults(run=_evaluate)
    q.help_defaults = partial(_base, "evaluate")
    q = jobs.add_parser("read", help="read one image file, or a folder of them")
    q.add_argument(
        "image",
        help="an image file, a folder of images (with or without labels.csv) or a labels file",
    )
    q.add_argument(
        "--checkpoint", required=True, help="a segmenting or a space-displacement checkpoint"
    )
    q.add_argument("--figure", help="where to write the figure (default IMAGE.reading.png)")
    q.add_argument(
        "--predictions",
        help="for a folder: where to write the CSV filename,amount,confidence (plus "
        "truth,correct with labels); default FOLDER.predictions.csv",
    )
    q.set_defaults(run=_read)
    q = jobs.add_parser("generate", help="write rendered fields as an image folder + labels.csv")
    q.add_argument("--out", required=True, help="the folder to write")
    q.add_argument("--fields", type=int, default=1000, help="how many fields (default 1000)")
    q.add_argument(
        "--split",
        choices=("train", "test"),
        default="test",
        help="draw digits from the MNIST training or test digits (default test)",
    )
    q.add_argument("--seed", type=int, default=0)
    q.set_defaults(run=_generate)
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m apps.check_reading``: bad input is one line on stderr and exit status 2."""
    from .._common.cli import run_app

    return run_app(add_parser, "check-reading", argv)
