"""``ebgtn segment generate|train|evaluate|demo|clean`` (also ``python -m apps.segmentation``).

generate  generate (and cache) the train / validation / test images of a task
train     train the labeller and the interaction energies, evaluate on test, write figures
evaluate  evaluate saved models on the test set (labeller, Potts baseline, each method)
demo      both tasks from scratch on a short schedule
clean     label one image file with a saved model and write the cleaned label map
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from functools import partial
from pathlib import Path

from .._common.cli import (
    add_app_parser,
    add_options,
    add_run_parsers,
    config_from_args,
    run_app,
)
from .train import LOSSES


def _base(command: str):
    """The configuration the options of ``command`` change (``demo`` has a short schedule)."""
    from .experiment import DEMO, Config

    return DEMO if command == "demo" else Config()


def _config(args, task: str):
    base = _base(args.command_name)
    return replace(config_from_args(args, base), task=task)


def _positive_ints(text: str) -> tuple[int, ...]:
    """``--ranges`` and ``--labeller-dilations``: comma-separated positive integers."""
    try:
        values = tuple(int(r) for r in text.split(",") if r.strip())
    except ValueError:
        values = ()
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"wants positive integers like 1,2,4, got {text!r}")
    return values


def _methods(text: str) -> tuple[str, ...]:
    from .cleanup import check_method

    try:
        return tuple(
            check_method(m.strip().replace("-", "_")) for m in text.split(",") if m.strip()
        )
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _configs(args) -> list:
    from .data import TASKS

    return [_config(args, task) for task in (TASKS if args.task == "all" else (args.task,))]


def _run(args) -> int:
    """One call per subcommand, with ``--threads`` torch threads where the subcommand has it."""
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    if args.command_name == "clean":
        from .label_file import label_file

        label_file(args.image, args.model, args.method, args.output, args.labels)
        return 0
    from . import experiment

    if args.command_name == "generate":
        experiment.describe_sets(_configs(args))
        return 0
    out, progress = Path(args.out), not args.quiet
    if args.command_name == "evaluate":  # each model's task comes from its file
        experiment.evaluate_saved(args.models, partial(_config, args), out, progress)
    elif args.command_name == "demo":
        experiment.demo(_configs(args), out, progress)
    else:
        for config in _configs(args):
            experiment.run(config, out, progress)
    return 0


# (flag, type, help[, more add_argument keywords]); each option sets the Config field of its
# name (see _config; --task is replaced by each task in turn).
_SIZES = (
    ("--task", str, None, {"choices": ("embryo", "horse", "all"), "default": "all"}),
    ("--labeller-images", int, "training images for the labeller"),
    ("--interaction-images", int, "training images for the interactions"),
    ("--validation-images", int, None),
    ("--test-images", int, None),
    ("--seed", int, None),
    ("--cache-dir", str, "data cache (default $EBGTN_CACHE or ~/.cache/ebgtn)"),
)
_TRAINING = (
    ("--labeller-epochs", int, None),
    ("--labeller-dilations", _positive_ints, "dilation of each 3×3 layer, e.g. 1,1,2,2 (13×13)"),
    ("--interaction-epochs", int, None),
    ("--loss", str, "structured loss for the interactions", {"choices": LOSSES}),
    ("--neighbourhood", int, None, {"choices": (4, 8)}),
    ("--ranges", _positive_ints, "distances coupled in every direction (default 1,2,4,8,16)"),
    ("--patch", bool, "add learned 2×2 patch energies"),
    (
        "--joint",
        None,
        "fine-tune the labeller with the interactions (default: on for train, off for demo)",
        {"action": argparse.BooleanOptionalAction},
    ),
)
_EVALUATION = (
    ("--methods", _methods, "comma-separated, of icm, gibbs, mean-field, alpha-expansion"),
    ("--alpha-expansion-images", int, "test images for α-expansion"),
    ("--gibbs-images", int, "test images for Gibbs sampling"),
    ("--quiet", bool, "no progress bars"),
    ("--threads", int, "torch CPU threads (default 1: the tensors are small)", {"default": 1}),
)


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``segment`` on the ``ebgtn`` command's subparsers."""
    p, jobs = add_app_parser(
        sub, "segment", "region labelling cleaned up by learned interactions", __doc__
    )
    p.set_defaults(run=_run)  # every subcommand
    g = jobs.add_parser("generate", help="generate and cache the data sets")
    add_options(g, _SIZES)
    g.help_defaults = partial(_base, "generate")
    runs = (
        ("train", "train, evaluate on test, write figures", "out/segmentation"),
        ("demo", "both tasks from scratch on a short schedule", "out/segmentation-demo"),
    )
    for t in add_run_parsers(jobs, runs, _run, _base):
        add_options(t, _SIZES + _TRAINING + _EVALUATION)
    e = jobs.add_parser("evaluate", help="evaluate saved models on the test set")
    e.add_argument("models", nargs="+", help="files written by train or demo (<task>.pt)")
    e.add_argument("--out", default="out/segmentation", help="folder for results and figures")
    add_options(e, _SIZES + _EVALUATION)
    e.help_defaults = partial(_base, "evaluate")
    c = jobs.add_parser("clean", help="label one image file")
    c.add_argument("image", help="grey or colour image file")
    c.add_argument("--model", required=True, help="a saved segmenter (<task>.pt)")
    c.add_argument(
        "--method", help="icm, gibbs, mean-field or alpha-expansion (default: the model's own)"
    )
    c.add_argument("--output", help="figure file (default IMAGE.labels.png)")
    c.add_argument("--labels", help="also write the label map (.png or .npy)")
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m apps.segmentation``: bad input is one line on stderr and exit status 2."""
    return run_app(add_parser, "segment", argv)
