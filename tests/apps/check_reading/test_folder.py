"""Fields on disk (issue 18, part 4): image folders plus labels.csv, written and read back.

Rendered fields are saved in many formats (16-bit TIFF, palette PNG, RGBA, grey+alpha,
colour JPEG, odd sizes) by the tests themselves; every lossless format must read back bit for
bit in the reader's convention (uint8, dark ink on white), and reading the folder must give
what reading the same fields in memory gives. Hostile labels files and images are refused
with one line naming the file and line.
"""

from __future__ import annotations

import csv
import os
import struct
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from apps.check_reading import CheckReader, SdnnReader, data, folder
from apps.check_reading.amounts import same_amount
from apps.check_reading.data import prepare
from apps.check_reading.experiment import evaluate_model
from apps.cli import main
from tests.fresh_interpreter import run_python

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def fields():
    return data.generate("test", 8, seed=5)


def _write_labels(path: Path, rows, header=True) -> Path:
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream, lineterminator="\n")
        writer.writerows(([("filename", "amount")] if header else []) + list(rows))
    return path


# -- formats: each saver writes uint8 [H, W] (dark on white) so that it reads back exactly ----


def _grey8_png(image, path):
    Image.fromarray(image).save(path.with_suffix(".png"))
    return path.with_suffix(".png")


def _grey16_tiff(image, path):
    Image.fromarray(image.astype(np.uint16) * 257).save(path.with_suffix(".tif"))
    return path.with_suffix(".tif")


def _grey16_png(image, path):
    Image.fromarray(image.astype(np.uint16) * 257).save(path.with_suffix(".png"))
    return path.with_suffix(".png")


def _palette_png(image, path):
    im = Image.fromarray(image).convert("P")  # an exact grey ramp (no more than 256 greys)
    im.putpalette([v for g in range(256) for v in (g, g, g)])
    im.putdata(image.ravel().tolist())
    im.save(path.with_suffix(".png"))
    return path.with_suffix(".png")


def _rgb_tiff(image, path):
    Image.fromarray(np.repeat(image[:, :, None], 3, axis=2)).save(path.with_suffix(".tiff"))
    return path.with_suffix(".tiff")


def _rgba_png(image, path):
    rgba = np.zeros(image.shape + (4,), np.uint8)
    rgba[..., :3] = image[..., None]
    rgba[..., 3] = 255  # opaque ink and paper
    rgba[:, -1] = (0, 0, 0, 0)  # a transparent last column reads as white paper
    Image.fromarray(rgba, "RGBA").save(path.with_suffix(".png"))
    return path.with_suffix(".png")


def _grey_alpha_png(image, path):
    Image.fromarray(np.stack([image, np.full_like(image, 255)], 2), "LA").save(
        path.with_suffix(".png")
    )
    return path.with_suffix(".png")


def _bmp(image, path):
    Image.fromarray(image).save(path.with_suffix(".bmp"))
    return path.with_suffix(".bmp")


LOSSLESS = [
    _grey8_png,
    _grey16_tiff,
    _grey16_png,
    _palette_png,
    _rgb_tiff,
    _rgba_png,
    _grey_alpha_png,
    _bmp,
]


def _expected(saver, image):
    """What a saver's file must read back as: the image, with the RGBA file's transparent
    last column as white paper."""
    if saver is _rgba_png:
        image = image.copy()
        image[:, -1] = 255
    return image


@pytest.fixture(scope="module")
def mixed_folder(fields, tmp_path_factory):
    """The fields saved each in a different lossless format, in a subfolder, with labels."""
    root = tmp_path_factory.mktemp("mixed")
    (root / "scans").mkdir()
    rows = []
    for i, (f, saver) in enumerate(zip(fields.fields, LOSSLESS, strict=True)):
        path = saver(f.image, root / "scans" / f"field {i}")  # a space in the name, too
        rows.append((f"scans/{path.name}", f.text))
    _write_labels(root / "labels.csv", rows)
    return root


def test_every_lossless_format_reads_back_bit_for_bit(fields, mixed_folder):
    back = folder.read_fields(mixed_folder)
    assert back.texts == fields.texts
    for f, g, saver in zip(fields.fields, back.fields, LOSSLESS, strict=True):
        assert g.image.dtype == np.uint8 and g.image.shape == f.image.shape, saver.__name__
        np.testing.assert_array_equal(g.image, _expected(saver, f.image), err_msg=saver.__name__)
        assert g.owner is None  # real images: no ownership maps


def test_sixteen_bit_tiff_is_scaled_by_its_full_range(tmp_path):
    values = np.array([[0, 257, 32768, 65535, 1000, 64000, 12345, 54321]] * 8, np.uint16)
    Image.fromarray(values).save(tmp_path / "deep.tif")
    image = folder.load_field_image(tmp_path / "deep.tif")
    np.testing.assert_array_equal(image[0], np.round(values[0] / 65535 * 255).astype(np.uint8))


def test_colour_jpeg_is_luminance_of_blue_ink_on_cream_paper(tmp_path):
    luminance = np.array([0.299, 0.587, 0.114])
    paper, blue = np.array([250, 245, 225]), np.array([20, 40, 160])
    rgb = np.tile(paper, (40, 100, 1)).astype(np.uint8)
    rgb[10:30, 20:60] = blue  # a block of ink
    Image.fromarray(rgb).save(tmp_path / "f.jpg", quality=95)
    image = folder.load_field_image(tmp_path / "f.jpg")
    assert image.shape == (40, 100) and image.dtype == np.uint8
    assert np.abs(image - rgb @ luminance).mean() < 2.0  # JPEG's loss, not a wrong conversion
    # luminance of the blue (65), not e.g. its mean channel (73) or its red (20)
    assert abs(image[14:26, 24:56].mean() - blue @ luminance) < 2.0
    assert abs(image[:, 70:].mean() - paper @ luminance) < 2.0


def test_odd_sizes_and_exif_orientation(tmp_path):
    rng = np.random.default_rng(0)
    for height, width in [(8, 8), (9, 1001), (333, 17)]:
        image = rng.integers(0, 256, (height, width), dtype=np.uint8)
        Image.fromarray(image).save(tmp_path / "odd.png")
        np.testing.assert_array_equal(folder.load_field_image(tmp_path / "odd.png"), image)
    image = np.full((10, 20), 255, np.uint8)
    image[0, 0] = 0  # a dark top-left pixel, stored rotated: tag 6 = turn 90° clockwise
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(image).save(tmp_path / "phone.png", exif=exif)
    upright = folder.load_field_image(tmp_path / "phone.png")
    assert upright.shape == (20, 10) and upright[0, -1] == 0 and upright.min() == upright[0, -1]


# -- round trips: generate -> folder -> read/evaluate equals the same fields in memory --------


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "fields"
    assert (
        main(["check-reading", "generate", "--out", str(out), "--fields", "10", "--seed", "3"]) == 0
    )
    return out


def test_generate_writes_the_generator_fields_with_ownership_maps(generated):
    memory = data.generate("test", 10, seed=3)
    back = folder.read_fields(generated)
    assert back.texts == memory.texts
    for f, g in zip(memory.fields, back.fields, strict=True):
        np.testing.assert_array_equal(g.image, f.image)
        np.testing.assert_array_equal(g.owner, f.owner)
    rows = list(csv.reader((generated / "labels.csv").open()))
    assert rows[0] == ["filename", "amount"] and rows[1] == ["00000.png", memory.texts[0]]


def test_generate_reports_zero_fields_in_one_line(tmp_path, capsys):
    argv = ["check-reading", "generate", "--out", str(tmp_path / "x"), "--fields", "0"]
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_folder_fields_prepare_like_memory_fields_for_local_training(generated):
    memory = prepare(data.generate("test", 10, seed=3))
    back = prepare(folder.read_fields(generated))
    for a, b, la, lb in zip(
        memory.segmentations,
        back.segmentations,
        memory.segment_labels,
        back.segment_labels,
        strict=True,
    ):
        np.testing.assert_array_equal(a.cuts, b.cuts)
        np.testing.assert_array_equal(la, lb)
    assert back.targets == memory.targets


def test_real_fields_have_unknown_segment_labels(mixed_folder):
    prepared = prepare(folder.read_fields(mixed_folder))
    assert all((labels == -1).all() for labels in prepared.segment_labels)
    assert sum(len(labels) for labels in prepared.segment_labels) > 0


@pytest.fixture(scope="module")
def readers(tmp_path_factory):
    """Untrained but randomly initialised readers: their readings vary from field to field."""
    root = tmp_path_factory.mktemp("readers")
    torch.manual_seed(1)
    CheckReader().save(root / "seg.pt")
    SdnnReader().save(root / "sdnn.pt")
    return root


@pytest.mark.parametrize("kind", ["seg", "sdnn"])
def test_reading_a_folder_writes_what_reading_in_memory_gives(
    kind, generated, readers, tmp_path, capsys
):
    checkpoint = readers / f"{kind}.pt"
    out = tmp_path / "predictions.csv"
    argv = ["check-reading", "read", str(generated), "--checkpoint", str(checkpoint)]
    assert main([*argv, "--predictions", str(out)]) == 0
    memory = data.generate("test", 10, seed=3)
    reader = (SdnnReader if kind == "sdnn" else CheckReader).load(checkpoint)
    want = reader.read(memory.images)
    rows = list(csv.DictReader(out.open()))
    assert [r["filename"] for r in rows] == [f"{i:05d}.png" for i in range(10)]
    assert [r["amount"] for r in rows] == [a for a, _ in want]
    np.testing.assert_allclose(
        [float(r["confidence"]) for r in rows], [c for _, c in want], atol=1e-6
    )
    assert [r["truth"] for r in rows] == memory.texts
    assert [r["correct"] for r in rows] == [
        str(int(a == t)) for (a, _), t in zip(want, memory.texts, strict=True)
    ]
    assert len({a for a, _ in want}) > 1  # the readings differ: the test can tell fields apart
    pairs = [(a, t) for (a, _), t in zip(want, memory.texts, strict=True)]
    right = sum(a == t for a, t in pairs)
    worth = sum(same_amount(a, t) for a, t in pairs)
    assert f"{right} of 10 fields read correctly ({right / 10:.1%}), {worth} with the right " in (
        capsys.readouterr().out
    )


def test_reading_a_folder_without_labels_reads_every_image(mixed_folder, readers, tmp_path):
    scans = mixed_folder / "scans"
    out = tmp_path / "p.csv"
    assert (
        main(
            [
                "check-reading",
                "read",
                str(scans),
                "--checkpoint",
                str(readers / "seg.pt"),
                "--predictions",
                str(out),
            ]
        )
        == 0
    )
    rows = list(csv.reader(out.open()))
    assert rows[0] == ["filename", "amount", "confidence"]
    assert [r[0] for r in rows[1:]] == sorted(p.name for p in scans.iterdir())


def test_evaluating_a_folder_equals_evaluating_the_fields_in_memory(generated, readers, capsys):
    argv = [
        "check-reading",
        "evaluate",
        str(readers / "seg.pt"),
        "--test-folder",
        str(generated),
        "--out",
        str(generated.parent / "eval"),
        "--quiet",
    ]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    memory = data.generate("test", 10, seed=3)
    row, _ = evaluate_model(
        CheckReader.load(readers / "seg.pt").model, prepare(memory), memory.texts
    )
    line = next(x for x in printed.splitlines() if x.startswith("| seg |"))
    cells = [c.strip() for c in line.strip("|").split("|")]  # system, fields, correct, ...
    correct = 100 * row["zero_reject"].correct
    assert cells[1] == "10" and f"{correct:.1f}" == cells[2]
    assert f"{100 * row['char_accuracy']:.1f}" == cells[-1]


def test_train_from_folders_equals_training_on_the_same_generated_fields(tmp_path):
    from apps.check_reading.experiment import Config, run

    train_dir, test_dir = tmp_path / "train", tmp_path / "test"
    folder.write_fields(data.generate("train", 24, seed=4), train_dir)
    folder.write_fields(data.generate("test", 6, seed=4), test_dir)
    tiny = dict(local_epochs=1, losses=(), sdnn_epochs=0, seed=4, heldout_fields=0)
    # run() draws the recogniser's initial weights from torch's global generator
    torch.manual_seed(0)
    memory = run(
        Config(train_fields=24, test_fields=6, cache_dir=str(tmp_path / "c"), **tiny),
        tmp_path / "a",
        progress=False,
        figure_fields=0,
    )
    torch.manual_seed(0)
    disk = run(
        Config(train_folder=str(train_dir), test_folder=str(test_dir / "labels.csv"), **tiny),
        tmp_path / "b",
        progress=False,
        figure_fields=0,
    )
    assert disk == memory


def test_real_images_train_the_global_systems_and_the_sdnn_from_a_local_checkpoint(
    mixed_folder, readers, tmp_path
):
    from apps.check_reading.experiment import Config, run

    config = Config(
        train_folder=str(mixed_folder),
        test_folder=str(mixed_folder / "labels.csv"),
        local_checkpoint=str(readers / "seg.pt"),
        losses=("nll",),
        global_epochs=1,
        batch_size=4,
        sdnn_epochs=1,
        heldout_fields=0,
    )
    rows = run(config, tmp_path / "out", progress=False, figure_fields=0)
    assert list(rows) == ["local", "global nll", "space displacement", "global nll x sdnn"]
    assert all(row["fields"] == 8 for row in rows.values())
    before = CheckReader.load(readers / "seg.pt").model.recognizer.state_dict()
    after = CheckReader.load(tmp_path / "out" / "global_nll.pt").model.recognizer.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it learned from them


def test_training_locally_on_real_images_is_refused_before_any_work(mixed_folder, tmp_path, capsys):
    argv = [
        "check-reading",
        "train",
        "--train-folder",
        str(mixed_folder),
        "--out",
        str(tmp_path / "o"),
        "--quiet",
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ownership maps" in err and "--local-checkpoint" in err
    assert not (tmp_path / "o" / "local.pt").exists()


# -- hostile labels files ----------------------------------------------------------------------


@pytest.fixture
def scan_dir(tmp_path):
    """A folder with two 8-bit images a.png, b.png (blank 20 x 40 fields)."""
    for name in ("a.png", "b.png"):
        Image.fromarray(np.full((20, 40), 255, np.uint8)).save(tmp_path / name)
    return tmp_path


@pytest.mark.parametrize(
    "rows, line, problem",
    [
        ([("a.png", "1.00"), ("missing.png", "2.00")], 3, "image file 'missing.png' not found"),
        (
            [("a.png", "1.00"), ("b.png", "3"), ("./a.png", "2")],
            4,
            r"'\./a\.png' is listed twice \(first on line 2\)",
        ),
        ([("a.png", "12.3")], 2, "'12.3' is not an amount"),
        ([("a.png", "1,23")], 2, "'1,23' is not an amount"),
        ([("a.png", "$12.00USD")], 2, r"'\$12\.00USD' is not an amount"),
        ([("a.png", "")], 2, "'' is not an amount"),
        ([("../a.png", "1")], 2, r"'\.\./a\.png' leaves the folder"),
        ([("sub/../../etc/passwd", "1")], 2, "leaves the folder"),
        ([("/etc/passwd", "1")], 2, "'/etc/passwd' is an absolute path"),
        ([("C:\\scans\\a.png", "1")], 2, "is an absolute path"),
        ([("..\\a.png", "1")], 2, "leaves the folder"),
        ([("a.png", "1,000", "x")], 2, "3 columns; expected 2"),
        ([("a.png",)], 2, "1 columns; expected 2"),
        ([(".", "1")], 2, "is not a file"),
    ],
)
def test_a_bad_labels_line_is_one_error_naming_file_and_line(scan_dir, rows, line, problem):
    _write_labels(scan_dir / "labels.csv", rows)
    with pytest.raises(ValueError, match=rf"labels\.csv line {line}: .*{problem}") as err:
        folder.read_labels(scan_dir)
    assert "\n" not in str(err.value)


def test_header_is_optional_and_only_on_the_first_line(scan_dir):
    _write_labels(scan_dir / "labels.csv", [("a.png", "1.00"), ("b.png", "$2")], header=False)
    assert [e.amount for e in folder.read_labels(scan_dir)] == ["1.00", "$2"]
    (scan_dir / "labels.csv").write_text('\ufeffFilename, Amount\n\n"a.png", " 1,000.00 "\n')
    [entry] = folder.read_labels(scan_dir)
    assert (entry.line, entry.filename, entry.amount) == (3, "a.png", "1,000.00")
    (scan_dir / "labels.csv").write_text("a.png,1\nfilename,amount\n")
    with pytest.raises(ValueError, match="line 2: 'amount' is not an amount"):
        folder.read_labels(scan_dir)


def test_a_quoted_filename_may_hold_a_comma(scan_dir):
    (scan_dir / "a.png").rename(scan_dir / "a,1.png")
    (scan_dir / "labels.csv").write_text('"a,1.png","1,234.00"\n')
    assert folder.read_labels(scan_dir)[0].path == (scan_dir / "a,1.png").resolve()


def test_empty_non_utf8_and_absent_labels_files(scan_dir):
    with pytest.raises(ValueError, match=r"no labels\.csv in the folder"):
        folder.read_labels(scan_dir)
    (scan_dir / "labels.csv").write_text("filename,amount\n\n")
    with pytest.raises(ValueError, match="lists no fields"):
        folder.read_labels(scan_dir)
    (scan_dir / "labels.csv").write_bytes(b"a.png,1\nb\xff.png,2\n")
    with pytest.raises(ValueError, match=r"labels\.csv line 2: not UTF-8"):
        folder.read_labels(scan_dir)
    with pytest.raises(ValueError, match="no such folder or labels file"):
        folder.read_labels(scan_dir / "nowhere")


def test_a_link_out_of_the_folder_is_refused(scan_dir, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside") / "secret.png"
    Image.fromarray(np.zeros((20, 40), np.uint8)).save(outside)
    os.symlink(outside, scan_dir / "link.png")
    _write_labels(scan_dir / "labels.csv", [("link.png", "1")])
    with pytest.raises(ValueError, match="line 2: 'link.png' is a link to a file outside"):
        folder.read_labels(scan_dir)
    with pytest.raises(ValueError, match="'link.png' is a link to a file outside"):
        folder.list_images(scan_dir)


def test_a_labels_file_elsewhere_names_images_relative_to_its_folder(scan_dir):
    (scan_dir / "sets").mkdir()
    _write_labels(scan_dir / "sets" / "mine.csv", [("../a.png", "1")])
    with pytest.raises(ValueError, match=r"mine\.csv line 2: '\.\./a\.png' leaves the folder"):
        folder.read_labels(scan_dir / "sets" / "mine.csv")
    _write_labels(scan_dir / "mine.csv", [("b.png", "7")])
    [entry] = folder.read_labels(scan_dir / "mine.csv")
    assert entry.path == (scan_dir / "b.png").resolve()


# -- hostile images ----------------------------------------------------------------------------


def _png(width: int, height: int, rows: int | None = None) -> bytes:
    """An 8-bit grey PNG declaring width x height whose data holds ``rows`` white rows (all
    of them by default): a deflate bomb of real pixels."""

    def chunk(kind, body):
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    pack = zlib.compressobj(9)
    row = b"\0" + b"\xff" * width
    idat = b"".join(pack.compress(row) for _ in range(height if rows is None else rows))
    idat += pack.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    head = b"\x89PNG\r\n\x1a\n"
    return head + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_bomb_in_a_folder_is_refused_by_its_declared_size_under_a_memory_cap(tmp_path):
    # 20,000 x 20,000 real pixels in ~40 kB: decoding would take 400 MB (1.6 GB as float32).
    (tmp_path / "bomb.png").write_bytes(_png(20_000, 20_000))
    _write_labels(tmp_path / "labels.csv", [("bomb.png", "1.00")])
    script = textwrap.dedent(
        f"""
        import resource
        from pathlib import Path
        import numpy, PIL.Image, PIL.PngImagePlugin
        from apps.check_reading import folder
        vm = next(int(l.split()[1]) * 1024 for l in Path("/proc/self/status").read_text()
                  .splitlines() if l.startswith("VmSize:"))
        limit = vm + (200 << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        try:
            folder.read_fields({str(tmp_path)!r})
        except ValueError as err:
            print("refused:", err)
        """
    )
    done = run_python(script, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "refused: " in done.stdout and "labels.csv line 2" in done.stdout
    assert "20000×20000" in done.stdout


def test_the_folder_total_is_capped(scan_dir):
    _write_labels(scan_dir / "labels.csv", [("a.png", "1"), ("b.png", "2")])
    assert len(folder.read_fields(scan_dir, max_total_pixels=1600)) == 2
    with pytest.raises(ValueError, match=r"labels\.csv line 3: the images up to here hold 1600"):
        folder.read_fields(scan_dir, max_total_pixels=1599)


def test_tiny_truncated_and_foreign_images_name_the_line(scan_dir):
    Image.fromarray(np.zeros((5, 40), np.uint8)).save(scan_dir / "thin.png")
    (scan_dir / "notes.png").write_text("not an image")
    noise = np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8)
    Image.fromarray(noise).save(scan_dir / "full.png")
    (scan_dir / "cut.png").write_bytes((scan_dir / "full.png").read_bytes()[:2000])
    for name, problem in [
        ("thin.png", "40×5 pixels; a field image needs at least 8"),
        ("notes.png", "is not an image file"),
        ("cut.png", "cut.png"),
    ]:
        _write_labels(scan_dir / "labels.csv", [("a.png", "1"), (name, "2")])
        with pytest.raises(ValueError, match=rf"labels\.csv line 3: .*{problem}"):
            folder.read_fields(scan_dir)


def test_a_bad_ownership_map_is_refused(generated, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(generated, copy)
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(copy / "owners" / "00001.png")
    with pytest.raises(ValueError, match=r"line 3: ownership map .*00001\.png is L 3×3"):
        folder.read_fields(copy)
    (copy / "owners" / "00001.png").unlink()
    with pytest.raises(ValueError, match=r"line 3: no ownership map"):
        folder.read_fields(copy)


def test_cli_errors_on_folders_are_one_line(scan_dir, readers, capsys):
    _write_labels(scan_dir / "labels.csv", [("a.png", "1"), ("../x.png", "2")])
    for argv in (
        ["check-reading", "read", str(scan_dir), "--checkpoint", str(readers / "seg.pt")],
        ["check-reading", "evaluate", str(readers / "seg.pt"), "--test-folder", str(scan_dir)],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "labels.csv line 3" in err and "leaves the folder" in err


def test_evaluate_cuts_with_the_checkpoints_settings_as_read_does(generated, tmp_path, capsys):
    from apps.check_reading.segment import SegmenterSettings

    torch.manual_seed(1)
    narrow = CheckReader(settings=SegmenterSettings(max_width=1.0, blob_strong=0.0))
    narrow.save(tmp_path / "narrow.pt")
    argv = ["check-reading", "evaluate", str(tmp_path / "narrow.pt"), "--test-folder",
            str(generated), "--out", str(tmp_path / "eval"), "--quiet"]  # fmt: skip
    assert main(argv) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("| narrow |"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    memory = data.generate("test", 10, seed=3)
    mine, theirs = (
        evaluate_model(narrow.model, prepare(memory, settings=s), memory.texts)[0]
        for s in (narrow.settings, CheckReader().settings)
    )
    # the checkpoint's cuts, not the defaults (which read these fields otherwise)
    assert mine["char_accuracy"] != theirs["char_accuracy"]
    assert cells[-1] == f"{100 * mine['char_accuracy']:.1f}"
    assert cells[2] == f"{100 * mine['zero_reject'].correct:.1f}"
    CheckReader().save(tmp_path / "default.pt")
    assert main([*argv[:3], str(tmp_path / "default.pt"), *argv[3:]]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different segmenter settings" in err
