"""Image files from strangers: read_grey opens only the formats the apps document (never
PostScript, which Pillow hands to Ghostscript), and every image that fails to open or decode
is one line naming the file, and the labels line when a folder lists it."""

from __future__ import annotations

import io

import pytest
from PIL import EpsImagePlugin, Image

from apps._common import media
from apps.check_reading import folder
from apps.cli import main

EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n(hello) print quit\n"


def _truncated_header_png() -> bytes:
    """A PNG whose IHDR chunk declares 62221 bytes: Pillow's open raises OSError."""
    buffer = io.BytesIO()
    Image.new("L", (16, 16)).save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[10] = 0xF3  # IHDR length 0x0000000d -> 0x0000f30d
    return bytes(data)


def _windows_media_photo_tiff() -> bytes:
    """A TIFF carrying the JPEG XR tag (0xBC01): Pillow's open raises OSError."""
    buffer = io.BytesIO()
    Image.new("L", (16, 16)).save(buffer, "TIFF", tiffinfo={0xBC01: b"abcd"})
    return buffer.getvalue()


@pytest.fixture
def no_ghostscript(monkeypatch):
    """Records every attempt to run Ghostscript (none may happen)."""
    calls = []
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", lambda *a, **k: calls.append(a))
    return calls


def test_postscript_named_png_is_refused_without_running_ghostscript(tmp_path, no_ghostscript):
    (tmp_path / "eps.png").write_bytes(EPS)
    with pytest.raises(ValueError, match=r"eps\.png is not an image file in a format the apps"):
        media.read_grey(tmp_path / "eps.png")
    assert no_ghostscript == []


@pytest.mark.parametrize("kind", ["TGA", "ICO", "PCX"])
def test_formats_outside_the_documented_ones_are_refused(tmp_path, kind):
    Image.new("L", (16, 16), 200).save(tmp_path / "field.png", kind)
    with pytest.raises(ValueError, match=r"field\.png is not an image file .*PNG, JPEG, TIFF"):
        media.read_grey(tmp_path / "field.png")


@pytest.mark.parametrize(
    ("kind", "suffix"),
    [("PNG", "png"), ("JPEG", "jpg"), ("TIFF", "tif"), ("BMP", "bmp"), ("GIF", "gif")]
    + [("WEBP", "webp"), ("PPM", "pgm"), ("PPM", "ppm")],
)
def test_documented_formats_read(tmp_path, kind, suffix):
    Image.new("L", (16, 16), 204).save(tmp_path / f"field.{suffix}", kind, lossless=True)
    assert media.read_grey(tmp_path / f"field.{suffix}") == pytest.approx(0.8, abs=1 / 255)


@pytest.mark.parametrize(
    ("make", "problem"),
    [(_truncated_header_png, "Truncated File Read"), (_windows_media_photo_tiff, "Windows Media")],
)
def test_an_image_pillow_fails_to_open_names_the_file(tmp_path, make, problem):
    (tmp_path / "scan.png").write_bytes(make())
    with pytest.raises(ValueError, match=rf"scan\.png: corrupt image header \({problem}"):
        media.read_grey(tmp_path / "scan.png")


def test_a_folder_with_a_broken_image_names_the_labels_line_in_one_line(tmp_path, capsys):
    Image.new("L", (40, 20), 255).save(tmp_path / "a.png")
    (tmp_path / "b.png").write_bytes(_truncated_header_png())
    (tmp_path / "labels.csv").write_text("a.png,1\nb.png,2\n")
    with pytest.raises(ValueError, match=r"labels\.csv line 2: .*b\.png: corrupt image header"):
        folder.read_fields(tmp_path)
    argv = ["check-reading", "read", str(tmp_path), "--checkpoint", str(tmp_path / "none.pt")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "labels.csv line 2" in err and "b.png" in err


def test_a_folder_without_labels_names_the_broken_image(tmp_path, capsys):
    Image.new("L", (40, 20), 255).save(tmp_path / "a.png")
    (tmp_path / "b.tif").write_bytes(_windows_media_photo_tiff())
    argv = ["check-reading", "read", str(tmp_path), "--checkpoint", str(tmp_path / "none.pt")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "b.tif: corrupt image header" in err


def test_segment_clean_names_the_broken_image(tmp_path, capsys):
    (tmp_path / "cells.png").write_bytes(_truncated_header_png())
    argv = ["segment", "clean", str(tmp_path / "cells.png"), "--model", str(tmp_path / "m.pt")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cells.png: corrupt image header" in err


def test_an_ownership_map_is_read_as_png_only(tmp_path, no_ghostscript):
    Image.new("L", (40, 20), 255).save(tmp_path / "a.png")
    (tmp_path / "labels.csv").write_text("a.png,1\n")
    (tmp_path / "owners").mkdir()
    (tmp_path / "owners" / "a.png").write_bytes(EPS)
    unreadable = r"labels\.csv line 1: ownership map .*a\.png is unreadable"
    with pytest.raises(ValueError, match=unreadable):
        folder.read_fields(tmp_path)
    assert no_ghostscript == []
