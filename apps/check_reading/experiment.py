"""Experiments of the check reader, in three steps: train the local, global and
space-displacement readers (:func:`train_readers`), evaluate them on test fields
(:func:`evaluate_readers`), write the results and figures (:func:`write_report`). :func:`run`
does the three for ``demo`` and ``train``; ``evaluate`` calls :func:`evaluate_all`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from .._common.report import print_written, write_results
from . import amounts, data, evaluate, figures, folder
from .api import CheckReader, field_graphs, in_batches, read_batch
from .combine import vote
from .data import PreparedSet
from .model import CheckReaderModel
from .sdnn import SdnnReader, field_strip
from .sdnn_train import train_sdnn
from .train import train_global, train_local

GLOBAL_LR = {"nll": 3e-3, "perceptron": 1e-3, "hinge": 1e-3}
"""Peak global learning rate per loss (why: docs/results/check-reading.md)."""
READ_BATCH = 64
"""Fields read at a time in evaluation (every reader and product reads the same batches)."""


@dataclass
class Config:
    train_fields: int = 8000
    test_fields: int = 2000
    seed: int = 0
    local_epochs: int = 8
    global_epochs: int = 2
    global_fields: int | None = None  # train globally on the first n training fields (None: all)
    batch_size: int = 16
    local_lr: float = 3e-3
    local_batch: int = 128
    global_lr: float | None = None  # None: GLOBAL_LR[loss]; a number overrides every loss
    losses: tuple[str, ...] = ("nll", "perceptron", "hinge")
    sdnn_epochs: int = 15  # the space-displacement variant (0: leave it out)
    sdnn_lr: float = 3e-3
    heldout_fields: int = 2000  # fields of each held-out style (data.HELDOUT_STYLES; 0: none)
    cache_dir: str | None = None
    local_checkpoint: str | None = None  # skip local training: load this recogniser instead
    threads: int = 2
    # Fields from an image folder or labels file (see .folder) instead of generated ones; the
    # folder's fields are all used (train_fields / test_fields are then ignored).
    train_folder: str | None = None
    test_folder: str | None = None


# Rendering is cheap and the 4,000 training digits need many contexts (neighbours, slants,
# cuts), so the schedules favour more fields over more epochs; global training wants steps
# (the runs behind this: docs/results/check-reading.md, "Training schedule").
DEMO = Config(
    train_fields=3000,
    test_fields=400,
    heldout_fields=400,
    local_epochs=4,
    global_epochs=1,
    global_fields=1000,
    sdnn_epochs=8,
)


def load_test_set(config: Config) -> data.FieldSet:
    """The test fields alone (a test folder needs no MNIST digits)."""
    return _load("test", config.test_folder, config.test_fields, config)


def _load(split: str, path: str | None, n: int, config: Config) -> data.FieldSet:
    """The fields of the image folder ``path``, else ``n`` generated ones; local training
    needs a folder's ownership maps."""
    if not path:
        return data.load_or_generate(split, n, config.seed, cache_dir=config.cache_dir)
    if split == "train" and config.local_checkpoint is None and not folder.has_owners(path):
        raise ValueError(
            f"{path}: no ownership maps ({folder.OWNERS}/; real images have none), which "
            "local training needs; give --local-checkpoint to train the global systems from a "
            "trained recogniser, or train on fields written by `check-reading generate`"
        )
    return folder.read_fields(path, split)


# ------------------------------------------------------------------------------ train
def train_readers(
    config: Config,
    train_set: data.FieldSet,
    train_p: PreparedSet,
    out: Path,
    say: Callable[[str], object],
    progress: bool = True,
) -> dict[str, CheckReaderModel | SdnnReader]:
    """Every reader of the configuration, by row name ("local", "global <loss>", "space
    displacement"), each saved in ``out`` as it is trained (local.pt, global_<loss>.pt,
    sdnn.pt): the recogniser trained on labelled segments (or ``config.local_checkpoint``'s),
    a model per global loss starting from its weights, the space-displacement reader (CTC).
    Every reader reads with the amount prior of the training fields' amounts."""
    prior = amounts.shape_counts(train_set.texts)
    if config.local_checkpoint:
        loaded = CheckReader.load(config.local_checkpoint).model
        local = CheckReaderModel(loaded.recognizer, beta=loaded.beta, prior=prior)
    else:
        torch.manual_seed(config.seed)  # the initial weights: two runs of one config agree
        local = CheckReaderModel(prior=prior)
        train_local(
            local, train_p, config.local_epochs, config.local_batch, config.local_lr, config.seed,
            progress,
        )  # fmt: skip
    say(f"local recogniser from {config.local_checkpoint or 'local training'}")
    CheckReader(local).save(out / "local.pt")
    readers: dict[str, CheckReaderModel | SdnnReader] = {"local": local}
    for loss in config.losses:
        model = CheckReaderModel(prior=prior)  # fresh (gtn graphs are immutable: no deepcopy)
        model.recognizer.load_state_dict(local.recognizer.state_dict())
        lr = config.global_lr or GLOBAL_LR[loss]
        train_global(
            model, train_p.head(config.global_fields), loss, config.global_epochs,
            config.batch_size, lr, config.seed, progress=progress,
        )  # fmt: skip
        readers[f"global {loss}"] = model
        CheckReader(model).save(out / f"global_{loss}.pt")
        say(f"global {loss} training done")
    if config.sdnn_epochs > 0:
        sdnn = readers["space displacement"] = SdnnReader(prior=prior)
        train_sdnn(
            sdnn, train_p.strips, train_set.texts, config.sdnn_epochs, lr=config.sdnn_lr,
            seed=config.seed, progress=progress,
        )  # fmt: skip
        sdnn.save(out / "sdnn.pt")
        say("space-displacement training done")
    return readers


# ------------------------------------------------------------------------------ evaluate
def read_all(model: CheckReaderModel, prepared: PreparedSet, batch_size: int = 64):
    """(answers, confidences) for every prepared field."""
    model.eval()
    segs = prepared.segmentations
    return in_batches(lambda s: read_batch(model, s)[:2], segs, batch_size=batch_size)


def evaluate_model(model: CheckReaderModel, prepared: PreparedSet, texts: list[str]):
    """(summary row, error-reject curve) of a segmenting model (see :mod:`.evaluate`)."""
    return evaluate.results(*read_all(model, prepared), texts)


def evaluate_all(
    readers: dict[str, CheckReaderModel | SdnnReader],
    fields: data.FieldSet,
    prepared: PreparedSet | None = None,
    products: list[tuple[str, str, str]] | None = None,
    progress: bool = False,
    workers: int = 1,
):
    """(rows, curves) of every reader (segmenting models and SDNN readers, in the given order)
    on one set of fields, then of the products of experts ``products`` (segmenting name, SDNN
    name, row name; None: every segmenting x SDNN pair, named "a x b"). ``prepared``: the
    fields' over-segmentations if already made, else made by ``workers`` processes."""
    segmenting = {k: r for k, r in readers.items() if isinstance(r, CheckReaderModel)}
    sdnn = {k: r for k, r in readers.items() if isinstance(r, SdnnReader)}
    if products is None:
        products = [(a, b, f"{a} x {b}") for a in segmenting for b in sdnn]
    if segmenting and prepared is None:
        prepared = data.prepare(fields, progress=progress, workers=workers)
    if prepared is not None:
        strips = prepared.strips  # made from the segmenter's normalisation
    else:
        strips = [field_strip(f.image) for f in fields.fields] if sdnn else []
    names = [*readers, *(name for _, _, name in products)]
    answers: dict[str, list[str]] = {name: [] for name in names}
    confidences: dict[str, list[np.ndarray]] = {name: [] for name in names}
    for i in range(0, len(fields), READ_BATCH):
        # each network reads a batch once: a product reuses its two readers' graphs and readings
        segs = prepared.segmentations[i : i + READ_BATCH] if segmenting else []
        batch_strips = strips[i : i + READ_BATCH]
        graphs = {name: field_graphs(m.eval(), segs) for name, m in segmenting.items()}
        decoded = {name: r.decode_lattice(batch_strips) for name, r in sdnn.items()}
        read = {name: read_batch(m, segs, graphs[name])[:2] for name, m in segmenting.items()}
        read |= {name: r.read_strips(batch_strips, decoded[name]) for name, r in sdnn.items()}
        for a, b, name in products:  # products of experts (see :mod:`.combine`)
            both = (segmenting[a], sdnn[b], segs, batch_strips, graphs[a], decoded[b])
            read[name] = vote(*both, read[a], read[b])
        for name, (a, c) in read.items():
            answers[name] += a
            confidences[name].append(c)
    rows, curves = {}, {}
    for name in names:
        conf = np.concatenate(confidences[name]) if confidences[name] else np.zeros(0)
        rows[name], curves[name] = evaluate.results(answers[name], conf, fields.texts)
    return rows, curves


def evaluate_readers(
    config: Config,
    readers: dict[str, CheckReaderModel | SdnnReader],
    test_set: data.FieldSet,
    test_p: PreparedSet,
):
    """(tables, curves): rows of every reader and of the product of the global NLL model with
    the SDNN reader, on the own test fields and, when configured, on each held-out style
    (:data:`.data.HELDOUT_STYLES`, a table each, titled "held-out style (NAME)"); curves are
    those of the own test fields."""
    both = "global nll" in readers and "space displacement" in readers
    products = [("global nll", "space displacement", "global nll x sdnn")] if both else []
    rows, curves = evaluate_all(readers, test_set, test_p, products)
    tables = {"own test fields": rows}
    for style, heldout_set in data.heldout_sets(
        config.heldout_fields, config.seed, config.cache_dir
    ):
        tables[f"held-out style ({style})"] = evaluate_all(
            readers, heldout_set, products=products, workers=config.threads
        )[0]
    return tables, curves


# ------------------------------------------------------------------------------ report
def _jsonable(rows: dict) -> dict:
    return {
        k: {kk: (vv._asdict() if hasattr(vv, "_asdict") else vv) for kk, vv in v.items()}
        for k, v in rows.items()
    }


def format_tables(tables: dict[str, dict]) -> str:
    """Every results table under its title."""
    return "\n\n".join(f"{name}:\n\n{evaluate.format_table(r)}" for name, r in tables.items())


def write_report(
    config: Config,
    out: Path,
    tables: dict[str, dict],
    curves: dict,
    best: CheckReaderModel,
    test_set: data.FieldSet,
    test_p: PreparedSet,
    seconds: float,
    figure_fields: int = 3,
) -> list[Path]:
    """results.md / results.json, the error-reject figure, ``figure_fields`` test fields read
    by ``best`` and its graphs of the first field (PNG and DOT); returns the files written."""
    record = {
        "config": asdict(config),
        "seconds": seconds,
        "rows": _jsonable(tables["own test fields"]),
        "tables": {name: _jsonable(r) for name, r in tables.items()},
    }
    written = write_results(out, format_tables(tables), record)
    written.append(figures.error_reject_figure(curves, out / "error_reject.png"))
    for i in range(min(figure_fields, len(test_set))):
        f, seg = test_set.fields[i], test_p.segmentations[i]
        _, conf, _ = read_batch(best, [seg])
        path = out / f"field_{i}.png"
        written.append(figures.field_figure(f.image, seg, best, path, f.text, float(conf[0])))
    written.append(figures.graphs_figure(test_p.segmentations[0], best, out / "graphs_0.png"))
    return written + figures.write_dot(test_p.segmentations[0], best, out)


# ------------------------------------------------------------------------------ all three
def run(config: Config, out: Path, progress: bool = True, figure_fields: int = 3) -> dict:
    """Train every reader, evaluate them, write checkpoints, results and figures to ``out``;
    returns the rows of the own test fields."""
    torch.set_num_threads(config.threads)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    def say(text: str) -> None:
        if progress:
            print(f"{text} [{time.time() - t0:.0f}s]")

    train_set = _load("train", config.train_folder, config.train_fields, config)
    test_set = load_test_set(config)
    say(f"data: {len(train_set)} training fields, {len(test_set)} test fields")
    train_p = data.prepare(train_set, progress=progress, workers=config.threads)
    test_p = data.prepare(test_set, progress=progress, workers=config.threads)
    segments = np.mean([s.num_segments for s in train_p.segmentations])
    say(f"over-segmentation: {segments:.1f} candidate segments per field")
    readers = train_readers(config, train_set, train_p, out, say, progress)
    tables, curves = evaluate_readers(config, readers, test_set, test_p)
    say(format_tables(tables))
    best = readers[f"global {config.losses[0]}"] if config.losses else readers["local"]
    written = write_report(
        config, out, tables, curves, best, test_set, test_p, time.time() - t0, figure_fields
    )
    if progress:
        print_written(print, out, written, time.time() - t0)
    return tables["own test fields"]
