"""``ebgtn check-reading train|evaluate|demo|read`` (also ``python -m apps.check_reading``).

demo      train from scratch on a short schedule, evaluate, write figures (a few minutes)
train     train the local system, the global ones and the space-displacement reader
evaluate  evaluate checkpoints (segmenting or space-displacement) on held-out test fields
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
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np


def _config(args):
    from .experiment import DEMO, Config

    base = DEMO if args.command_name == "demo" else Config()
    names = (
        "train_fields",
        "test_fields",
        "seed",
        "local_epochs",
        "global_epochs",
        "global_fields",
        "sdnn_epochs",
        "heldout_fields",
        "local_checkpoint",
        "cache_dir",
        "train_folder",
        "test_folder",
    )
    changes = {k: getattr(args, k) for k in names if getattr(args, k, None) is not None}
    if getattr(args, "losses", None):
        changes["losses"] = tuple(args.losses.split(","))
    return replace(base, **changes)


def _run(args) -> int:
    from .experiment import run

    run(_config(args), Path(args.out), progress=not args.quiet)
    return 0


def load_reader(path: str):
    """A segmenting :class:`CheckReader` or an :class:`SdnnReader`, by the checkpoint's format."""
    from .._common.checkpoint import read_format
    from .reader import CheckReader
    from .sdnn import FORMAT, SdnnReader

    return SdnnReader.load(path) if read_format(path) == FORMAT else CheckReader.load(path)


def _evaluate(args) -> int:
    from . import evaluate, figures, folder
    from .experiment import evaluate_combined, evaluate_model, evaluate_sdnn, load_sets
    from .reader import CheckReader
    from .sdnn import SdnnReader, field_strip

    config = _config(args)
    if config.test_folder:  # real fields need no MNIST digits
        test = folder.read_fields(config.test_folder, "test")
    else:
        _, test = load_sets(replace(config, train_fields=1))
    readers = {Path(p).stem: load_reader(p) for p in args.checkpoints}
    prepared = strips = None
    rows, curves = {}, {}
    for name, reader in readers.items():
        if isinstance(reader, SdnnReader):
            strips = strips or [field_strip(f.image) for f in test.fields]
            rows[name], curves[name] = evaluate_sdnn(reader, strips, test.texts)
        else:
            prepared = prepared or folder.prepare_fields(test, progress=not args.quiet)
            rows[name], curves[name] = evaluate_model(reader.model, prepared, test.texts)
    # every segmenting reader with every SDNN reader as a product of experts
    for a, seg in readers.items():
        for b, sdnn in readers.items():
            if isinstance(seg, CheckReader) and isinstance(sdnn, SdnnReader):
                rows[f"{a} x {b}"], curves[f"{a} x {b}"] = evaluate_combined(
                    seg.model, sdnn, prepared, strips, test.texts
                )
    print(evaluate.format_table(rows))
    figure = figures.error_reject_figure(curves, Path(args.out) / "error_reject.png")
    print(f"wrote {figure}")
    return 0


def load_image(path: str) -> np.ndarray:
    """A grey uint8 image (0 black, 255 white) from an image file of any bit depth or colour
    model; ValueError naming the file for anything else (see apps._common.media)."""
    from .folder import load_field_image

    return load_field_image(Path(path))


def _read(args) -> int:
    if Path(args.image).is_dir() or Path(args.image).suffix.lower() == ".csv":
        return _read_folder(args)
    import torch

    from . import figures
    from .reader import check_image, read_batch
    from .sdnn import SdnnReader, field_strip

    image = load_image(args.image)  # the cheap check first
    reader = load_reader(args.checkpoint)
    out = Path(args.figure or Path(args.image).with_suffix(".reading.png"))
    if isinstance(reader, SdnnReader):
        [(amount, conf)] = reader.read([image])
        print(f"{args.image}\t{amount}\t{conf:.4f}")
        strip = field_strip(check_image(image))
        with torch.no_grad():
            energies = reader.emissions([strip])[0][0]
        figures.sdnn_figure(strip, energies, out, f"read: {amount}  (confidence {conf:.3f})")
        print(f"wrote {out}")
        return 0
    seg = reader.segment([image])[0]
    answers, conf, _ = read_batch(reader.model, [seg])
    print(f"{args.image}\t{answers[0]}\t{conf[0]:.4f}")
    figures.field_figure(image, seg, reader.model, out, confidence=float(conf[0]))
    print(f"wrote {out}")
    return 0


def _read_folder(args) -> int:
    """Read every field of a folder (its labels.csv, or every image file in it when it has
    none) or of a labels file; write filename,amount,confidence[,truth,correct] as CSV."""
    from . import folder

    where, labels = folder.locate(args.image)
    entries = folder.read_labels(args.image) if labels.is_file() else folder.list_images(where)
    images = folder.read_images(entries, str(labels))  # the cheap checks first
    reader = load_reader(args.checkpoint)
    readings = reader.read(images)
    default = Path(f"{where.resolve()}.predictions.csv")
    out = folder.write_predictions(args.predictions or default, entries, readings)
    if all(e.amount is not None for e in entries):
        right = sum(a == e.amount for e, (a, _) in zip(entries, readings, strict=True))
        print(f"{right} of {len(entries)} fields read correctly ({right / len(entries):.1%})")
    print(f"read {len(entries)} fields; wrote {out}")
    return 0


def _generate(args) -> int:
    from . import data, folder

    if args.fields < 1:
        raise ValueError(f"--fields must be at least 1, got {args.fields}")
    fields = data.generate(args.split, args.fields, args.seed)
    labels = folder.write_fields(fields, args.out)
    print(f"wrote {len(fields)} {args.split} fields (seed {args.seed}) and {labels}")
    return 0


def _add_config_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--train-fields", type=int, dest="train_fields")
    p.add_argument("--test-fields", type=int, dest="test_fields")
    p.add_argument("--seed", type=int)
    p.add_argument("--cache-dir", dest="cache_dir", help="where generated fields are cached")
    p.add_argument(
        "--test-folder",
        dest="test_folder",
        help="test fields from an image folder (its labels.csv) or a labels file, instead of "
        "generated ones",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def add_parser(sub) -> argparse.ArgumentParser:
    """Register ``check-reading`` on an argparse subparsers object."""
    p = sub.add_parser(
        "check-reading",
        help="the graph-transformer check-amount reader",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    jobs = p.add_subparsers(dest="command_name", required=True)
    for name, helptext, out in (
        ("demo", "short end-to-end run with figures", "out/demo"),
        ("train", "train local + global systems", "out/check_reading"),
    ):
        q = jobs.add_parser(name, help=helptext)
        _add_config_args(q)
        q.add_argument("--out", default=out, help="folder for checkpoints, results, figures")
        q.add_argument("--local-epochs", type=int, dest="local_epochs")
        q.add_argument("--global-epochs", type=int, dest="global_epochs")
        q.add_argument(
            "--global-fields",
            type=int,
            dest="global_fields",
            help="train globally on the first n training fields",
        )
        q.add_argument("--losses", help="comma-separated global losses (nll,perceptron,hinge)")
        q.add_argument(
            "--train-folder",
            dest="train_folder",
            help="training fields from an image folder (its labels.csv) or a labels file, "
            "instead of generated ones (local training needs the ownership maps of generated "
            "folders; for real images give --local-checkpoint)",
        )
        q.add_argument(
            "--local-checkpoint",
            dest="local_checkpoint",
            help="start the global systems from this local checkpoint (skips local training)",
        )
        q.add_argument(
            "--sdnn-epochs",
            type=int,
            dest="sdnn_epochs",
            help="epochs of the space-displacement reader (0: leave it out)",
        )
        q.add_argument(
            "--heldout-fields",
            type=int,
            dest="heldout_fields",
            help="fields of the held-out style to evaluate on (0: none)",
        )
        q.set_defaults(run=_run)
    q = jobs.add_parser(
        "evaluate",
        help="evaluate checkpoints on held-out test fields (with a segmenting and an SDNN"
        " checkpoint, also their product of experts)",
    )
    q.add_argument("checkpoints", nargs="+")
    _add_config_args(q)
    q.add_argument("--out", default="out/check_reading")
    q.set_defaults(run=_evaluate)
    q = jobs.add_parser("read", help="read one image file, or a folder of them")
    q.add_argument(
        "image",
        help="an image file, a folder of images (with or without labels.csv) or a labels file",
    )
    q.add_argument("--checkpoint", required=True)
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
    from .._common.guard import ArgumentParser, add_debug_flag, run_guarded

    parser = ArgumentParser(prog="python -m apps.check_reading")
    add_debug_flag(parser)
    add_parser(parser.add_subparsers(dest="command", required=True))
    return run_guarded(parser, ["check-reading", *(sys.argv[1:] if argv is None else argv)])
