"""``ebgtn segment generate|train|evaluate|demo|clean`` (also ``python -m apps.segmentation``).

generate  generate (and cache) the train / validation / test images of a task
train     train the labeller and the interaction energies, evaluate on test, write figures
evaluate  evaluate saved models on the test set (labeller, Potts baseline, each method)
demo      both tasks from scratch on a short schedule (under 10 minutes on 2 cores)
clean     label one image file with a saved model and write the cleaned label map
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from functools import partial
from pathlib import Path

from .._common.cli import config_from_args

_CONFIG_NAMES = (
    "labeller_images",
    "interaction_images",
    "validation_images",
    "test_images",
    "labeller_epochs",
    "interaction_epochs",
    "loss",
    "neighbourhood",
    "alpha_expansion_images",
    "gibbs_images",
    "seed",
    "cache_dir",
    "joint",
)


def _config(args, task: str):
    from .experiment import DEMO, Config

    base = DEMO if args.command_name == "demo" else Config()
    config = replace(config_from_args(args, base, _CONFIG_NAMES), task=task)
    changes = {}
    if getattr(args, "methods", None):
        changes["methods"] = _methods(args.methods)
    if getattr(args, "labeller_dilations", None):
        changes["labeller_dilations"] = tuple(int(d) for d in args.labeller_dilations.split(","))
    if getattr(args, "ranges", None):
        changes["ranges"] = _ranges(args.ranges)
    if getattr(args, "patch", False):
        changes["patch"] = True
    return replace(config, **changes)


def _ranges(text: str) -> tuple[int, ...]:
    try:
        ranges = tuple(int(r) for r in text.split(",") if r.strip())
    except ValueError:
        raise ValueError(f"--ranges wants distances like 1,2,4, got {text!r}") from None
    if not ranges or min(ranges) < 1:
        raise ValueError(f"--ranges wants positive distances, got {text!r}")
    return ranges


def _methods(text: str) -> tuple[str, ...]:
    from .cleanup import METHODS

    methods = tuple(m.strip().replace("-", "_") for m in text.split(",") if m.strip())
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise ValueError(f"unknown inference method {bad[0]!r}; choose from {', '.join(METHODS)}")
    return methods


def _configs(args) -> list:
    from .data import TASKS

    tasks = TASKS if args.task == "all" else (args.task,)
    return [_config(args, task) for task in tasks]


def _generate(args) -> int:
    from .experiment import describe_sets

    describe_sets(_configs(args))
    return 0


def _train(args) -> int:
    from .experiment import run_all

    run_all(_configs(args), Path(args.out), progress=not args.quiet)
    return 0


def _demo(args) -> int:
    from .experiment import demo

    demo(_configs(args), Path(args.out), progress=not args.quiet)
    return 0


def _evaluate(args) -> int:
    from .experiment import evaluate_saved

    # Each model's task comes from its file.
    evaluate_saved(args.models, partial(_config, args), Path(args.out), progress=not args.quiet)
    return 0


def _clean(args) -> int:
    from .label_file import label_file

    label_file(args.image, args.model, args.method, args.output, args.labels)
    return 0


def _add_sizes(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", choices=("embryo", "horse", "all"), default="all")
    p.add_argument("--labeller-images", type=int, help="training images for the labeller")
    p.add_argument("--interaction-images", type=int, help="training images for the interactions")
    p.add_argument("--validation-images", type=int)
    p.add_argument("--test-images", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--cache-dir", help="data cache (default $EBGTN_CACHE or ~/.cache/ebgtn)")


def _add_training(p: argparse.ArgumentParser) -> None:
    from .train import LOSSES

    p.add_argument("--labeller-epochs", type=int)
    p.add_argument(
        "--labeller-dilations", help="dilation of each 3×3 layer, e.g. 1,1,2,2 (13×13 field)"
    )
    p.add_argument("--interaction-epochs", type=int)
    p.add_argument("--loss", choices=LOSSES, help="structured loss for the interactions")
    p.add_argument("--neighbourhood", type=int, choices=(4, 8))
    p.add_argument(
        "--ranges", help="distances coupled in every direction, e.g. 1,2,4,8,16 (the default)"
    )
    p.add_argument("--patch", action="store_true", help="add learned 2×2 patch energies")
    p.add_argument(
        "--joint",
        action=argparse.BooleanOptionalAction,
        help="fine-tune the labeller with the interactions (default: on for train, off for demo)",
    )


def _add_eval(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--methods", help="comma-separated: icm, gibbs, mean-field, alpha-expansion (default all)"
    )
    p.add_argument("--alpha-expansion-images", type=int, help="test images for α-expansion")
    p.add_argument("--gibbs-images", type=int, help="test images for Gibbs sampling")
    p.add_argument("--out", default="out/segmentation", help="folder for results and figures")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (default 1: the tensors are small)",
    )


def _with_threads(job):
    """Run ``job`` with ``--threads`` torch threads (bad input is reported by the caller's
    guard, apps._common.guard)."""

    def run(args) -> int:
        if getattr(args, "threads", None):
            import torch

            torch.set_num_threads(args.threads)
        return job(args)

    return run


def add_parser(sub) -> None:
    """Register ``segment`` on the ``ebgtn`` command's subparsers."""
    p = sub.add_parser("segment", help="region labelling cleaned up by learned interactions")
    build(p)


def build(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    jobs = p.add_subparsers(dest="segment_command", required=True)
    g = jobs.add_parser("generate", help="generate and cache the data sets")
    _add_sizes(g)
    g.set_defaults(run=_with_threads(_generate), command_name="generate")
    for name, run, doc in (
        ("train", _train, "train, evaluate on test, write figures"),
        ("demo", _demo, "both tasks from scratch on a short schedule"),
    ):
        t = jobs.add_parser(name, help=doc)
        _add_sizes(t)
        _add_training(t)
        _add_eval(t)
        if name == "demo":
            t.set_defaults(out="out/segmentation-demo")
        t.set_defaults(run=_with_threads(run), command_name=name)
    e = jobs.add_parser("evaluate", help="evaluate saved models on the test set")
    e.add_argument("models", nargs="+", help="files written by train or demo (<task>.pt)")
    _add_sizes(e)
    _add_eval(e)
    e.set_defaults(run=_with_threads(_evaluate), command_name="evaluate")
    c = jobs.add_parser("clean", help="label one image file")
    c.add_argument("image", help="grey or colour image file")
    c.add_argument("--model", required=True, help="a saved segmenter (<task>.pt)")
    c.add_argument("--method", help="icm, gibbs, mean-field or alpha-expansion")
    c.add_argument("--output", help="figure file (default IMAGE.labels.png)")
    c.add_argument("--labels", help="also write the label map (.png or .npy)")
    c.set_defaults(run=_with_threads(_clean), command_name="clean")
    return p


def main(argv: list[str] | None = None) -> int:
    """``python -m apps.segmentation``: bad input is one line on stderr and exit status 2."""
    from .._common.guard import ArgumentParser, add_debug_flag, run_guarded

    parser = ArgumentParser(prog="python -m apps.segmentation")
    add_debug_flag(parser)
    return run_guarded(build(parser), argv, prog="segment")
