"""Sets of rendered amount fields, generated once and cached on disk.

A set is keyed by (split, number of fields, seed, renderer settings, format version): the
same key always gives the same fields, and a changed setting never reuses a stale file.
Training sets draw digits only from the MNIST training digits, test sets only from the test
digits (see :mod:`.mnist`). Cache files are written atomically. :func:`prepare` over-segments
a set once for training and evaluation (the segmentation does not depend on the weights).
"""

from __future__ import annotations

import functools
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..cache import cached, member, settings_key
from . import amounts, heldout, heldout_phone, mnist
from .amounts import encode
from .normalise import normalise
from .render import DEFAULT_STYLE, Field, FieldStyle, render_field
from .sdnn import normalised_strip
from .segment import DEFAULT_SEGMENTER, Segmentation, SegmenterSettings, segment_normalised
from .truth import segment_truth

VERSION = 4  # 3: the broad renderer (render.FieldStyle of many parameters); 4: one pen
_SPLIT_CODE = {"train": 1, "test": 2}
HELDOUT_STYLES = {m.NAME: m for m in (heldout, heldout_phone)}
"""Every held-out style (a renderer that no training, tuning or model selection sees), by name,
in the order reports show them: a module with ``NAME``, ``VERSION`` and ``generate_heldout(n,
seed)``."""
PARALLEL_FIELDS = 200
""":func:`prepare` shares fewer fields than this with no process (a new process imports the
app: seconds)."""


@dataclass
class FieldSet:
    """``n`` fields of one split (see :class:`.render.Field` for the arrays)."""

    split: str
    fields: list[Field]

    def __len__(self) -> int:
        return len(self.fields)

    @property
    def texts(self) -> list[str]:
        return [f.text for f in self.fields]

    @property
    def images(self) -> list[np.ndarray]:
        return [f.image for f in self.fields]


def cache_key(split: str, n: int, seed: int, style: FieldStyle) -> str:
    return settings_key(
        {"split": split, "n": n, "seed": seed, "style": asdict(style), "v": VERSION}
    )


def generate(split: str, n: int, seed: int, style: FieldStyle = DEFAULT_STYLE) -> FieldSet:
    """Render ``n`` fields of ``split`` ("train" or "test") from amounts drawn by
    :func:`.amounts.sample_amount`; deterministic in (split, n, seed, style)."""
    pool = mnist.digits(split)
    rng = np.random.default_rng([seed, _SPLIT_CODE[split]])
    fields = [render_field(amounts.sample_amount(rng), pool, rng, style) for _ in range(n)]
    return FieldSet(split, fields)


def load_or_generate(
    split: str, n: int, seed: int, cache_dir: str | os.PathLike | None = None
) -> FieldSet:
    """:func:`generate`, through an on-disk cache (``cache_dir=None``: the default folder)."""
    key = cache_key(split, n, seed, DEFAULT_STYLE)
    return _cached(f"{split}-{n}-{seed}-{key}", split, lambda: generate(split, n, seed), cache_dir)


def load_or_generate_heldout(
    n: int, seed: int, cache_dir: str | os.PathLike | None = None, style: str = heldout.NAME
) -> FieldSet:
    """``n`` fields of the held-out style ``style`` (a name in :data:`HELDOUT_STYLES`; MNIST test
    digits only), cached."""
    if style not in HELDOUT_STYLES:
        raise ValueError(f"no held-out style {style!r}; the styles are {list(HELDOUT_STYLES)}")
    module = HELDOUT_STYLES[style]
    key = settings_key({"n": n, "seed": seed, "v": module.VERSION, "style": module.NAME})
    name = f"{module.NAME}-{n}-{seed}-{key}"
    return _cached(name, "test", lambda: module.generate_heldout(n, seed), cache_dir)


def heldout_sets(n: int, seed: int, cache_dir: str | os.PathLike | None = None):
    """(style name, its ``n`` fields) for every style of :data:`HELDOUT_STYLES`, in order, each
    loaded as it is reached; nothing when ``n`` is 0."""
    for style in HELDOUT_STYLES if n > 0 else ():
        yield style, load_or_generate_heldout(n, seed, cache_dir, style)


def _cached(name: str, split: str, make, cache_dir) -> FieldSet:
    return cached(
        "check_reading", cache_dir, f"{name}.npz", lambda path: _read(path, split), make, _arrays
    )


def _arrays(fields: FieldSet) -> dict[str, np.ndarray]:
    fs = fields.fields
    return {
        "texts": np.array([f.text for f in fs]),
        "shapes": np.array([f.image.shape for f in fs], np.int64).reshape(-1, 2),
        "images": np.concatenate([f.image.ravel() for f in fs]),
        "owners": np.concatenate([f.owner.ravel() for f in fs]),
        "boxes": np.concatenate([f.boxes for f in fs]),
        "rows": np.concatenate([f.digit_rows for f in fs]),
    }


def _read(path: Path, split: str) -> FieldSet:
    """The fields of a cache file written from :func:`_arrays`; ValueError (the file is then
    regenerated) unless every member has the rank, kind and length the others imply."""
    with np.load(path, allow_pickle=False) as z:
        texts = [str(t) for t in member(z, "texts", "U", (None,))]
        shapes = member(z, "shapes", "iu", (len(texts), 2))
        if shapes.size and not 1 <= shapes.min() <= shapes.max() < 1 << 20:
            raise ValueError("cache member shapes holds a side outside [1, 2**20)")
        total = int(shapes.astype(np.int64).prod(axis=1).sum())
        num_chars = sum(len(t) for t in texts)
        images, owners = member(z, "images", "u", (total,)), member(z, "owners", "i", (total,))
        boxes = member(z, "boxes", "iu", (num_chars, 2))
        rows = member(z, "rows", "iu", (num_chars,))
    pix = np.cumsum(shapes[:, 0] * shapes[:, 1])[:-1]
    chars = np.cumsum([len(t) for t in texts], dtype=np.int64)[:-1]
    images, owners = np.split(images, pix), np.split(owners, pix)
    boxes, rows = np.split(boxes, chars), np.split(rows, chars)
    fields = [
        Field(text, images[i].reshape(shape), owners[i].reshape(shape), boxes[i], rows[i])
        for i, (text, shape) in enumerate(zip(texts, shapes, strict=True))
    ]
    return FieldSet(split, fields)


@dataclass
class PreparedSet:
    """Fields over-segmented once (segmentation does not depend on the weights).

    segmentations: one per field; targets: label lists; segment_labels: per field [S] truth
    labels (0..13, RUBBISH, or -1 ambiguous) for local training; strips: per field the
    space-displacement reader's input (:func:`.sdnn.field_strip`), from the same
    normalisation.
    """

    segmentations: list[Segmentation]
    targets: list[list[int]]
    segment_labels: list[np.ndarray]
    strips: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.segmentations)

    def head(self, n: int | None) -> PreparedSet:
        """The first ``n`` fields (all when n is None)."""
        n = len(self) if n is None else n
        return PreparedSet(
            self.segmentations[:n], self.targets[:n], self.segment_labels[:n], self.strips[:n]
        )


def prepare(
    fields: FieldSet,
    progress: bool = False,
    workers: int = 1,
    settings: SegmenterSettings = DEFAULT_SEGMENTER,
) -> PreparedSet:
    """Normalise and over-segment every field (with ``settings``), and make its SDNN strip from
    the same normalisation; label its segments from the field's ownership map, or -1 (unknown:
    local training leaves them out) for a field without one (a real image). ``workers`` > 1
    shares the fields among that many processes (same result, in field order)."""
    bar = functools.partial(
        tqdm, total=len(fields), desc=f"segmenting {fields.split}", disable=not progress,
        leave=False,
    )  # fmt: skip
    one = functools.partial(_prepare_field, settings=settings)
    if workers > 1 and len(fields) >= PARALLEL_FIELDS:
        # spawn, not fork: the parent may hold torch's OpenMP threads, which a forked child
        # inherits in a broken state
        context = multiprocessing.get_context("spawn")
        chunk = -(-len(fields) // (8 * workers))
        with ProcessPoolExecutor(workers, mp_context=context) as pool:
            done = list(bar(pool.map(one, fields.fields, chunksize=chunk)))
    else:
        done = list(bar(map(one, fields.fields)))
    segs, labels, strips = (list(x) for x in zip(*done, strict=True)) if done else ([], [], [])
    return PreparedSet(segs, [encode(t) for t in fields.texts], labels, strips)


def _prepare_field(f: Field, settings: SegmenterSettings):
    """(segmentation, segment labels, SDNN strip) of one field (see :func:`prepare`)."""
    norm = normalise(f.image)
    s = segment_normalised(norm, settings)
    if f.owner is None:
        labels = np.full(s.num_segments, -1, np.int64)
    else:
        owner = f.owner if norm is None else norm.warp(f.owner)
        labels = segment_truth(s, owner, f.text)[0]
    return s, labels, normalised_strip(norm)
