"""Amount fields on disk: a folder of images plus a labels file, for real scans and synthetic
fields alike (``ebgtn check-reading generate`` writes this layout; ``train``, ``evaluate`` and
``read`` take it).

Layout::

    DIR/labels.csv            one field per line: filename,amount
    DIR/<filename>            the field images (any size; PNG, JPEG, TIFF, BMP, GIF, WebP, PGM)
    DIR/owners/<stem>.png     optional: ownership maps of synthetic fields (see below)

The labels file is UTF-8 CSV (a byte-order mark is allowed; quote a filename holding a comma).
Each line holds exactly two columns; spaces around them are ignored, blank lines are skipped,
and a first line ``filename,amount`` is a header (optional). A filename is relative to the
labels file's folder and may name subfolders, but never leaves the folder (no absolute path,
no ``..``, no symbolic link pointing out); each image is listed once; each amount is in the
amount grammar (:func:`.amounts.is_valid_amount`, e.g. ``$1,234.56``). Every problem is a
``ValueError`` naming the labels file and line.

Images are converted to the reader's input convention, uint8 [H, W] with dark ink on white
(0 black, 255 white), by :func:`apps._common.media.read_grey`: 8- and 16-bit grey scaled by
their full range, colour and palette by luminance, transparency composited onto white paper,
EXIF orientation applied; then ``round(255 * grey)``. A lossless 8-bit grey image reads back
bit for bit. Each image's declared size is checked before it is decoded, and the folder's
total (``max_total_pixels``), so a small file cannot ask for gigabytes.

Ownership maps (8-bit grey PNG, value k + 1 where character k's ink dominates, 0 elsewhere;
see :class:`.render.Field`) exist only for rendered fields: local training needs them to label
candidate segments. Real images have none; their fields carry ``owner=None`` and can train
only the global systems and the space-displacement reader (from a trained local recogniser).
"""

from __future__ import annotations

import csv
import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import numpy as np

from gtn.utils import atomic_write

from .._common.media import read_grey
from .amounts import is_valid_amount
from .data import FieldSet
from .render import Field

LABELS = "labels.csv"
OWNERS = "owners"
HEADER = ("filename", "amount")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".gif", ".webp")
# An amount field scanned at 1200 dpi is about 2,400 x 600 pixels; 16 Mpixel leaves room for a
# whole cheque page while capping one image at 16 MB (uint8). The folder's total caps what a
# folder of such images can make one command hold in memory (1 GiB as uint8).
MAX_FIELD_PIXELS = 1 << 24
MAX_TOTAL_PIXELS = 1 << 30
# A labels file is text, a line per field: 64 MiB is millions of fields.
MAX_LABELS_BYTES = 1 << 26
MIN_SIDE = 8  # the reader's smallest field (inputs.check_image)


@dataclass(frozen=True)
class Entry:
    """One line of a labels file: ``line`` (1-based), ``filename`` as written, ``path`` of the
    image, ``amount`` (None when the folder has no labels file: images read for prediction)."""

    line: int
    filename: str
    path: Path
    amount: str | None


def locate(path: str | os.PathLike) -> tuple[Path, Path]:
    """(folder, labels file) of a folder (labels in ``folder/labels.csv``) or of a labels file
    (its folder holds the images); ValueError when neither exists."""
    path = Path(path)
    if path.is_dir():
        return path, path / LABELS
    if path.is_file():
        return path.parent, path
    raise ValueError(f"{path}: no such folder or labels file")


def read_labels(path: str | os.PathLike) -> list[Entry]:
    """The entries of a labels file (or of ``folder/labels.csv``), in file order, every rule
    of the module docstring checked; ValueError ``"<labels file> line N: problem"``."""
    folder, labels = locate(path)
    if not labels.is_file():
        raise ValueError(f"{folder}: no {LABELS} in the folder (a labels CSV: filename,amount)")
    size = labels.stat().st_size
    if size > MAX_LABELS_BYTES:
        raise ValueError(f"{labels}: {size} bytes; a labels file may hold {MAX_LABELS_BYTES}")
    data = labels.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ValueError(f"{labels} line {line}: not UTF-8 text ({err.reason})") from None
    root = folder.resolve()
    entries: list[Entry] = []
    seen: dict[Path, int] = {}
    rows = csv.reader(io.StringIO(text, newline=""), strict=True, skipinitialspace=True)
    first = True
    try:
        for row in rows:
            line = rows.line_num
            where = f"{labels} line {line}"
            cells = [c.strip() for c in row]
            if not any(cells):
                continue
            header, first = first and tuple(c.lower() for c in cells) == HEADER, False
            if header:
                continue
            if len(cells) != 2:
                raise ValueError(
                    f"{where}: {len(cells)} columns; expected 2 (filename,amount); quote a "
                    "filename that holds a comma"
                )
            name, amount = cells
            if not is_valid_amount(amount):
                raise ValueError(
                    f"{where}: {amount!r} is not an amount of the grammar "
                    "([$][*|**|***]integer[.cc], e.g. 12.50 or $1,234.00)"
                )
            image = resolve_image(folder, root, name, where)
            if image in seen:
                raise ValueError(f"{where}: {name!r} is listed twice (first on line {seen[image]})")
            seen[image] = line
            entries.append(Entry(line, name, image, amount))
    except csv.Error as err:
        raise ValueError(f"{labels} line {rows.line_num}: not CSV ({err})") from None
    if not entries:
        raise ValueError(f"{labels}: lists no fields (lines of filename,amount)")
    return entries


def resolve_image(folder: Path, root: Path, name: str, where: str) -> Path:
    """The image ``name`` inside ``folder`` (``root``: its resolved path), refusing names that
    leave it; ValueError prefixed with ``where``."""
    if not name:
        raise ValueError(f"{where}: no filename")
    if "\0" in name:
        raise ValueError(f"{where}: the filename holds a NUL character")
    pure = PurePosixPath(name)
    if pure.is_absolute() or PureWindowsPath(name).anchor:
        raise ValueError(f"{where}: {name!r} is an absolute path; give it relative to {folder}")
    if ".." in pure.parts or ".." in PureWindowsPath(name).parts:
        raise ValueError(f"{where}: {name!r} leaves the folder ({folder}) through '..'")
    path = folder / pure
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError) as err:  # a symbolic-link loop
        raise ValueError(f"{where}: {name!r} cannot be resolved ({err})") from None
    if not resolved.is_relative_to(root):
        raise ValueError(f"{where}: {name!r} is a link to a file outside {folder}")
    if not path.exists():
        raise ValueError(f"{where}: image file {name!r} not found in {folder}")
    if not path.is_file():
        raise ValueError(f"{where}: {name!r} is not a file")
    return resolved


def list_images(folder: str | os.PathLike) -> list[Entry]:
    """Entries without amounts for the image files directly in ``folder`` (by suffix, in name
    order): what ``read`` takes from a folder with no labels file."""
    folder = Path(folder)
    names = sorted(
        p.name for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )
    if not names:
        raise ValueError(f"{folder}: no {LABELS} and no image files ({', '.join(IMAGE_SUFFIXES)})")
    root = folder.resolve()
    return [Entry(0, n, resolve_image(folder, root, n, str(folder)), None) for n in names]


def load_field_image(path: Path, where: str | None = None) -> np.ndarray:
    """uint8 [H, W] (dark ink on white) of an image file, in the reader's convention (see
    :func:`.inputs.check_image`); ValueError naming the file, prefixed with ``where``."""
    try:
        grey = read_grey(path, max_pixels=MAX_FIELD_PIXELS)
        if min(grey.shape) < MIN_SIDE:
            height, width = grey.shape
            raise ValueError(
                f"{path} is {width}×{height} pixels; a field image needs at least {MIN_SIDE} "
                "each way"
            )
    except ValueError as err:
        if where is None:
            raise
        raise ValueError(f"{where}: {err}") from None
    return np.round(grey * 255.0).astype(np.uint8)


def read_images(
    entries: list[Entry], where: str, max_total_pixels: int = MAX_TOTAL_PIXELS
) -> list[np.ndarray]:
    """The images of ``entries`` as uint8 [H, W]; ``where`` names the labels file or folder."""
    images, total = [], 0
    for e in entries:
        at = f"{where} line {e.line}" if e.line else None
        image = load_field_image(e.path, at)
        total += image.size
        if total > max_total_pixels:
            raise ValueError(
                f"{at or e.path}: the images up to here hold {total} pixels, more than the "
                f"limit of {max_total_pixels} for one folder"
            )
        images.append(image)
    return images


def has_owners(path: str | os.PathLike) -> bool:
    """Whether the folder (or the labels file's folder) holds ownership maps."""
    return (locate(path)[0] / OWNERS).is_dir()


def read_fields(
    path: str | os.PathLike, split: str = "test", max_total_pixels: int = MAX_TOTAL_PIXELS
) -> FieldSet:
    """The labelled fields of a folder or labels file, in the labels file's order.

    Each :class:`.render.Field` has ``image`` uint8 [H, W] and ``text``; ``owner`` int8 [H, W]
    when the folder has ownership maps (every listed image must then have one), else None;
    ``boxes`` int64 [0, 2] and ``digit_rows`` int64 [0] (unknown on disk)."""
    folder, labels = locate(path)
    entries = read_labels(path)
    images = read_images(entries, str(labels), max_total_pixels)
    owned = (folder / OWNERS).is_dir()
    fields, no_boxes, no_rows = [], np.zeros((0, 2), np.int64), np.zeros(0, np.int64)
    for e, image in zip(entries, images, strict=True):
        owner = read_owner(folder, e, image.shape, f"{labels} line {e.line}") if owned else None
        fields.append(Field(e.amount, image, owner, no_boxes, no_rows))
    return FieldSet(split, fields)


def owner_path(folder: Path, filename: str) -> Path:
    return folder / OWNERS / PurePosixPath(filename).with_suffix(".png")


def read_owner(folder: Path, entry: Entry, shape: tuple[int, int], where: str) -> np.ndarray:
    """int8 [H, W] ownership map of ``entry`` (-1: no character), checked against the image's
    shape and the amount's length before its pixels are decoded."""
    from PIL import Image

    path = owner_path(folder, entry.filename)
    if not path.is_file():
        raise ValueError(f"{where}: no ownership map {path} (the folder has {OWNERS}/)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            # The header only: the size is checked before decoding. Maps are written as PNG;
            # no other parser (EPS would run Ghostscript) sees the bytes, whatever they say.
            im = Image.open(path, formats=("PNG",))
    except Exception as err:  # Pillow fails on hostile bytes in many ways
        raise ValueError(f"{where}: ownership map {path} is unreadable ({err})") from None
    with im:
        if im.size != (shape[1], shape[0]) or im.mode != "L":
            raise ValueError(
                f"{where}: ownership map {path} is {im.mode} {im.size[0]}×{im.size[1]}; "
                f"expected 8-bit grey {shape[1]}×{shape[0]} like the image"
            )
        try:
            values = np.asarray(im, dtype=np.uint8)
        except Exception as err:
            raise ValueError(f"{where}: ownership map {path} is unreadable ({err})") from None
    if int(values.max()) > len(entry.amount or ""):
        raise ValueError(
            f"{where}: ownership map {path} names character {int(values.max()) - 1} of "
            f"{entry.amount!r}, which has {len(entry.amount or '')}"
        )
    return values.astype(np.int8) - 1


def write_fields(fields: FieldSet, out: str | os.PathLike) -> Path:
    """Write ``fields`` as ``out/00000.png``... (8-bit grey, lossless), their ownership maps
    under ``out/owners/`` (when every field has one) and ``out/labels.csv``
    (with a header), each file atomically, the labels file last; returns the labels file."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(len(fields) - 1)))
    names = [f"{i:0{width}d}.png" for i in range(len(fields))]
    owners = all(f.owner is not None for f in fields.fields)
    if owners:
        (out / OWNERS).mkdir(exist_ok=True)
    for name, f in zip(names, fields.fields, strict=True):
        _write_png(out / name, f.image)
        if owners:
            _write_png(owner_path(out, name), (f.owner.astype(np.int16) + 1).astype(np.uint8))
    with atomic_write(out / LABELS) as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(zip(names, fields.texts, strict=True))
    return out / LABELS


def _write_png(path: Path, image: np.ndarray) -> None:
    from PIL import Image

    with atomic_write(path, "wb") as f:
        Image.fromarray(np.ascontiguousarray(image, np.uint8), "L").save(f, format="PNG")


def write_predictions(
    path: str | os.PathLike,
    entries: list[Entry],
    readings: list[tuple[str, float]],
) -> Path:
    """CSV ``filename,amount,confidence`` (plus ``truth,correct`` when the entries carry
    amounts), one line per field in the entries' order, written atomically."""
    path = Path(path)
    labelled = all(e.amount is not None for e in entries)
    with atomic_write(path) as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerow(HEADER + ("confidence",) + (("truth", "correct") if labelled else ()))
        for e, (amount, conf) in zip(entries, readings, strict=True):
            row = [e.filename, amount, f"{conf:.6f}"]
            if labelled:
                row += [e.amount, int(amount == e.amount)]
            writer.writerow(row)
    return path
