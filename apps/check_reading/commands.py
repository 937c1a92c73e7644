"""What each subcommand of ``ebgtn check-reading`` does, as functions of plain values:
:mod:`.cli` parses the arguments and calls one of these (``demo`` and ``train`` call
:func:`.experiment.run`)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from . import data, evaluate, figures, folder
from .amounts import same_amount
from .api import CheckReader, load_reader, read_batch
from .experiment import Config, evaluate_all, load_test_set
from .sdnn import SdnnReader, field_strip


def evaluate_checkpoints(
    config: Config, checkpoints: list[str], out: Path, progress: bool = True
) -> dict:
    """Evaluate saved readers (segmenting or space-displacement) on the test fields of
    ``config``, every segmenting x SDNN pair also as a product of experts; print the table,
    write ``out/error_reject.png``; returns the rows. With ``config.heldout_fields`` > 0 the
    same readers are also evaluated on that many fields of each held-out style
    (:data:`.data.HELDOUT_STYLES`: a table each; their rows are not returned). The fields are
    cut with the segmenting checkpoints' own settings, as ``read`` cuts them (ValueError if two
    checkpoints differ)."""
    test = load_test_set(config)
    readers, settings = {}, {}
    for path in checkpoints:
        reader = load_reader(path)
        if isinstance(reader, CheckReader):
            settings[path], reader = reader.settings, reader.model
        readers[Path(path).stem] = reader
    first = next(iter(settings), None)
    for path, s in settings.items():
        if s != settings[first]:
            raise ValueError(f"{path} and {first} cut fields with different segmenter settings "
                             "(trained at different versions?); evaluate them apart")  # fmt: skip
    cut = settings[first] if settings else None

    def scores(fields: data.FieldSet):
        prepared = data.prepare(fields, progress, config.threads, cut) if cut else None
        return evaluate_all(readers, fields, prepared, progress=progress)

    rows, curves = scores(test)
    print(evaluate.format_table(rows))
    for style, heldout_set in data.heldout_sets(
        config.heldout_fields, config.seed, config.cache_dir
    ):
        print(f"\nheld-out style ({style}):\n")
        print(evaluate.format_table(scores(heldout_set)[0]))
    print(f"wrote {figures.error_reject_figure(curves, out / 'error_reject.png')}")
    return rows


def read_image_file(image_path: str, checkpoint: str, figure: str | None = None) -> str:
    """Read one image file: print ``path, amount, confidence`` and write a figure of the
    reading (default IMAGE.reading.png); returns the amount."""
    image = folder.load_field_image(Path(image_path))  # the cheap check first
    reader = load_reader(checkpoint)
    out = Path(figure or Path(image_path).with_suffix(".reading.png"))
    if isinstance(reader, SdnnReader):
        [(amount, conf)] = reader.read([image])
        strip = field_strip(image)
        with torch.no_grad():
            energies = reader.emissions([strip])[0][0]
        figures.sdnn_figure(strip, energies, out, f"read: {amount}  (confidence {conf:.3f})")
    else:
        seg = reader.segment([image])[0]
        answers, confidence, _ = read_batch(reader.model, [seg])
        amount, conf = answers[0], float(confidence[0])
        figures.field_figure(image, seg, reader.model, out, confidence=conf)
    print(f"{image_path}\t{amount}\t{conf:.4f}")
    print(f"wrote {out}")
    return amount


def read_folder(source: str, checkpoint: str, predictions: str | None = None) -> Path:
    """Read every field of a folder (its labels.csv, or every image file in it when it has
    none) or of a labels file; write filename,amount,confidence[,truth,correct] as CSV
    (default FOLDER.predictions.csv) and print the accuracy when every field has a label (the
    strings, and the amounts they are worth: :func:`.amounts.amount_value`)."""
    where, labels = folder.locate(source)
    entries = folder.read_labels(source) if labels.is_file() else folder.list_images(where)
    images = folder.read_images(entries, str(labels))  # the cheap checks first
    readings = load_reader(checkpoint).read(images)
    default = Path(f"{where.resolve()}.predictions.csv")
    out = folder.write_predictions(predictions or default, entries, readings)
    if all(e.amount is not None for e in entries):
        pairs = [(a, e.amount) for e, (a, _) in zip(entries, readings, strict=True)]
        right = sum(a == t for a, t in pairs)
        worth = sum(same_amount(a, t) for a, t in pairs)
        n = len(entries)
        print(
            f"{right} of {n} fields read correctly ({right / n:.1%}), "
            f"{worth} with the right amount ({worth / n:.1%})"
        )
    print(f"read {len(entries)} fields; wrote {out}")
    return out


def generate_folder(out: str | os.PathLike, fields: int, split: str, seed: int) -> Path:
    """Write ``fields`` rendered fields of ``split`` as an image folder with labels.csv."""
    if fields < 1:
        raise ValueError(f"--fields must be at least 1, got {fields}")
    labels = folder.write_fields(data.generate(split, fields, seed), out)
    print(f"wrote {fields} {split} fields (seed {seed}) and {labels}")
    return labels
