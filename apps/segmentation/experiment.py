"""The whole job for one task: data, labeller, interaction energies, Potts baseline, evaluation
on the test set, results table, figures and the saved model.

``DEMO`` is the short schedule of ``ebgtn segment demo``; ``Config()`` is the longer default of
``ebgtn segment train``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from gtn.utils import atomic_write

from .._common.report import write_results
from . import data, figures, potts
from .cleanup import METHODS, CleanupModel
from .evaluate import evaluate, format_table
from .labeller import Labeller
from .metrics import scores
from .segmenter import Segmenter
from .train import train_interactions, train_labeller

TASK_DILATIONS = {"embryo": (1, 1, 2, 2), "horse": (1, 1)}
"""The labeller's layers per task: a 13×13 receptive field for the embryos (a nucleus must be
told from the medium by its ring), 5×5 for the horse (errors stay local; with 13×13 the labeller
already smoothed the noise into blobs that no neighbourhood model can undo)."""


@dataclass(frozen=True)
class Config:
    """Sizes and schedule of one run.

    The training split is cut in two: the labeller learns on the first ``labeller_images``,
    the interaction energies on the next ``interaction_images`` (see :mod:`.train` for why).
    With ``joint`` the labeller is then fine-tuned together with the interactions through the
    marginal loss, on the whole split. Gibbs and α-expansion run on the generic clique-list
    engines (seconds per image with long ranges) and are scored on the first
    ``gibbs_images`` / ``alpha_expansion_images`` test images only.
    """

    task: str = "embryo"
    labeller_images: int = 120
    interaction_images: int = 60
    validation_images: int = 24
    test_images: int = 40
    labeller_dilations: tuple[int, ...] | None = None  # None: TASK_DILATIONS[task]
    labeller_epochs: int = 60
    interaction_epochs: int = 20
    loss: str = "marginal"
    neighbourhood: int = 8
    ranges: tuple[int, ...] = (1, 2, 4, 8, 16)
    patch: bool = False
    joint: bool = True
    methods: tuple[str, ...] = METHODS
    potts_methods: tuple[str, ...] = ("icm", "mean_field")
    alpha_expansion_images: int = 10
    gibbs_images: int = 10
    seed: int = 0
    cache_dir: str | None = None


DEMO = Config(
    labeller_images=80,
    interaction_images=32,
    validation_images=12,
    test_images=24,
    labeller_epochs=40,
    interaction_epochs=40,
    joint=False,
    alpha_expansion_images=4,
    gibbs_images=4,
)


def load_sets(config: Config, splits: tuple[str, ...] = data.SPLITS) -> tuple[data.Dataset, ...]:
    """The sets of ``splits`` (default train, validation, test) of ``config.task``, cached."""
    sizes = {"train": config.labeller_images + config.interaction_images}
    sizes |= {"validation": config.validation_images, "test": config.test_images}
    return tuple(data.load_or_generate(config.task, s, sizes[s], config.cache_dir) for s in splits)


def train_segmenter(config: Config, train: data.Dataset, progress: bool = True) -> Segmenter:
    """Labeller first, then the interaction energies (see :mod:`.train`)."""
    torch.manual_seed(config.seed)
    k, a = train.num_labels, config.labeller_images
    common = {"seed": config.seed, "progress": progress}
    labeller = Labeller(k, dilations=config.labeller_dilations or TASK_DILATIONS[config.task])
    train_labeller(labeller, train.images[:a], train.labels[:a], config.labeller_epochs, **common)
    marginal = config.loss == "marginal"  # the loss that learns the association weight stably
    model = CleanupModel(k, config.neighbourhood, config.patch, marginal, config.ranges)
    reference = copy.deepcopy(labeller) if config.joint else None
    first = 0 if config.joint else a  # a frozen labeller must not see its own training images
    x, y = train.images[first:], train.labels[first:]
    options = {"loss": config.loss, "joint": config.joint, **common}
    history = train_interactions(model, labeller, x, y, config.interaction_epochs, **options)
    info = {"task": config.task, "config": _jsonable(config), "interaction_loss": history}
    method = "mean_field" if "mean_field" in config.methods else config.methods[0]
    return Segmenter(labeller, model, train.classes, method, info, reference)


def run(config: Config, out: Path, progress: bool = True) -> dict:
    """Train, evaluate on the test set and write ``<task>.pt``, ``<task>_results.json``,
    ``<task>_results.md`` and figures to ``out``. Returns the results dict."""
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    train, validation, test = load_sets(config)
    segmenter = train_segmenter(config, train, progress)
    trained = time.perf_counter() - start
    segmenter.save(out / f"{config.task}.pt")
    return report(segmenter, config, validation, test, out, progress, trained)


def report(
    segmenter: Segmenter,
    config: Config,
    validation: data.Dataset,
    test: data.Dataset,
    out: Path,
    progress: bool = True,
    train_seconds: float | None = None,
) -> dict:
    """Tune the Potts baseline on validation, evaluate everything on test, write the files.

    The labeller and Potts rows use the labeller as trained alone (``segmenter.reference``
    when the cleanup was trained jointly); the learned rows use the labeller the cleanup was
    trained with, and a "labeller (joint-tuned, alone)" row shows what that one reads alone."""
    k = test.num_labels
    alone = segmenter.reference or segmenter.labeller
    u_val = alone.energies(validation.images)
    strength, method, ranges, trials = potts.tune(
        u_val,
        validation.labels,
        config.potts_methods,
        neighbourhood=config.neighbourhood,
        ranges=[(1,), segmenter.cleanup.ranges],
        progress=progress,
    )
    baseline = potts.potts_model(k, strength, config.neighbourhood, ranges)
    u_test = segmenter.labeller.energies(test.images)
    u_alone = alone.energies(test.images) if segmenter.reference is not None else None
    limits = {"alpha_expansion": config.alpha_expansion_images, "gibbs": config.gibbs_images}
    rows, maps = evaluate(
        segmenter.cleanup,
        u_test,
        test.labels,
        config.methods,
        (baseline, method, strength, ranges),
        limits,
        progress,
        u_alone,
    )
    truth_fragments = scores(test.labels, test.labels, k)["fragments"]
    table = format_table(rows, test.classes, truth_fragments)
    results = {
        "task": config.task,
        "config": _jsonable(config),
        "settings": data.task_settings(config.task),
        "rows": rows,
        "potts_validation": trials,
        "truth_fragments": truth_fragments,
        "train_seconds": train_seconds,
        "unary_weight": float(segmenter.cleanup.unary_weight.detach()),
        "unary_bias": segmenter.cleanup.unary_bias.detach().tolist(),
    }
    write_results(out, f"## {config.task}\n\n{table}", results, f"{config.task}_results")
    shown = {name: m for name, m in maps.items() if "[first" not in name}
    figures.comparison_figure(
        test.images, test.labels, shown, test.classes, out / f"{config.task}_test.png"
    )
    cleanup = segmenter.cleanup
    tables = {n: cleanup.table(n).detach().numpy() for n in cleanup.offsets}
    figures.tables_figure(tables, test.classes, out / f"{config.task}_tables.png")
    if progress:
        print(f"\n## {config.task}\n\n{table}\n")
    return results


def _jsonable(config: Config) -> dict:
    """The settings as plain data, with the labeller's dilations resolved for the task."""
    dilations = list(config.labeller_dilations or TASK_DILATIONS[config.task])
    return asdict(config) | {"labeller_dilations": dilations}


def describe_sets(configs: list[Config]) -> None:
    """Generate (or read from the cache) each task's sets and print their sizes and label mix."""
    for config in configs:
        for split, ds in zip(data.SPLITS, load_sets(config), strict=True):
            counts = np.bincount(ds.labels.ravel(), minlength=ds.num_labels) / ds.labels.size
            mix = ", ".join(f"{c} {100 * f:.1f}%" for c, f in zip(ds.classes, counts, strict=True))
            print(f"{config.task:7s} {split:10s} {len(ds):4d} images {ds.images.shape[1:]}  {mix}")


def demo(configs: list[Config], out: Path, progress: bool = True) -> Path:
    """:func:`run` for each task, then one ``results.md`` with every task's table."""
    for config in configs:
        run(config, out, progress)
    parts = [(out / f"{config.task}_results.md").read_text() for config in configs]
    with atomic_write(out / "results.md") as f:
        f.write("# Segmentation demo: test-set results\n\n" + "\n".join(parts))
    print(f"wrote {out / 'results.md'} and figures to {out}/")
    return out / "results.md"


def evaluate_saved(paths, config_of, out: Path, progress: bool = True) -> list[dict]:
    """:func:`report` for each saved segmenter in ``paths``, with ``config_of(task)`` the
    settings of the task the model was trained on (its validation and test sets)."""
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for path in paths:
        segmenter = Segmenter.load(path)
        config = config_of(segmenter.info.get("task", "embryo"))
        validation, test = load_sets(config, ("validation", "test"))
        results.append(report(segmenter, config, validation, test, out, progress))
    return results
