"""Hostile and unusual image and audio files (issue 15): decompression bombs, 16-bit grey,
colour, palette and transparency, one RGB array given as a stack, WAV headers with absurd
sample rates or channel counts. Each is read correctly or refused with one line naming the
file, before anything large is allocated or scipy is called."""

from __future__ import annotations

import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from apps._common import media
from apps.cli import main


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG whose header declares width x height 1-bit grey pixels."""
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    idat = zlib.compress(b"\0" * 64, 9)
    chunks = _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", idat) + _chunk(b"IEND", b"")
    return b"\x89PNG\r\n\x1a\n" + chunks


def test_bomb_png_is_small():
    assert len(_bomb_png()) < 80


def test_decompression_bomb_names_the_file_and_its_declared_size(tmp_path):
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png())
    with pytest.raises(ValueError, match=r"bomb\.png: the image declares 100000×100000 pixels"):
        media.read_grey(path)


@pytest.mark.parametrize(
    ("width", "height", "depth", "colour"),
    [(1, 1 << 26, 8, 6), (1 << 26, 1, 16, 4), (1, 1 << 26, 1, 0)],
)
def test_a_shape_whose_decoding_takes_gigabytes_is_refused_under_a_memory_cap(
    tmp_path, width, height, depth, colour
):
    """Under the pixel limit, but one pixel wide (a row pointer per line) or four bytes a pixel:
    refused from the header, inside an address space of 1 GiB more than the imports take."""
    path = tmp_path / "tall.png"
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, 0)
    chunks = (
        _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(b"\0" * 64)) + _chunk(b"IEND", b"")
    )
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunks)
    script = (
        "import resource, sys\n"
        "from PIL import Image\n"
        "from apps._common import media\n"
        "Image.preinit()\n"
        "size = int(open('/proc/self/status').read().split('VmSize:')[1].split()[0]) * 1024\n"
        "resource.setrlimit(resource.RLIMIT_AS, (size + (1 << 30), size + (1 << 30)))\n"
        "try:\n"
        "    media.read_grey(sys.argv[1])\n"
        "except ValueError as err:\n"
        "    print(err)\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                          text=True, cwd=root, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("\n") == 1 and "tall.png" in done.stdout
    assert (
        f"{width}×{height} pixels of mode" in done.stdout
        and "MB, more than the limit" in done.stdout
    )


@pytest.mark.parametrize(
    "argv",
    [
        ["check-reading", "read", "{image}", "--checkpoint", "{tmp}/none.pt"],
        ["segment", "clean", "{image}", "--model", "{tmp}/none.pt"],
    ],
)
def test_decompression_bomb_through_the_apps_is_one_line(tmp_path, capsys, argv):
    path = tmp_path / "bomb.png"
    path.write_bytes(_bomb_png())
    argv = [a.format(image=path, tmp=tmp_path) for a in argv]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bomb.png" in err and "100000×100000" in err


def test_sixteen_bit_grey_is_scaled_not_clipped(tmp_path):
    values = np.array([[0, 256, 32768, 65535]] * 4, np.uint16)
    path = tmp_path / "deep.png"
    Image.fromarray(values).save(path)
    grey = media.read_grey(path)
    assert grey.dtype == np.float32 and grey.shape == (4, 4)
    np.testing.assert_allclose(grey[0], values[0] / 65535.0, atol=1e-6)


def test_eight_bit_grey_and_one_bit(tmp_path):
    values = np.array([[0, 1, 128, 255]] * 3, np.uint8)
    Image.fromarray(values).save(tmp_path / "grey.png")
    np.testing.assert_allclose(media.read_grey(tmp_path / "grey.png")[0], values[0] / 255.0)
    Image.fromarray(values > 100).save(tmp_path / "bits.png")
    np.testing.assert_array_equal(media.read_grey(tmp_path / "bits.png")[0], [0, 0, 1, 1])


def test_colour_is_luminance(tmp_path):
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[:, 0] = (255, 0, 0)
    rgb[:, 1] = (0, 255, 0)
    rgb[:, 2] = (255, 255, 255)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    grey = media.read_grey(tmp_path / "rgb.png")
    np.testing.assert_allclose(grey[0], [0.299, 0.587, 1.0], atol=2 / 255)


def test_palette_image_uses_its_colours(tmp_path):
    im = Image.new("P", (4, 2))
    im.putpalette([0, 0, 0, 255, 255, 255, 0, 0, 255] + [0] * (256 * 3 - 9))
    im.putdata([0, 1, 2, 1] * 2)
    im.save(tmp_path / "palette.png")
    grey = media.read_grey(tmp_path / "palette.png")
    np.testing.assert_allclose(grey[0], [0.0, 1.0, 0.114, 1.0], atol=2 / 255)


def test_transparent_pixels_read_as_white_paper(tmp_path):
    rgba = np.zeros((2, 2, 4), np.uint8)  # black ink...
    rgba[0, :, 3] = 255  # ...opaque in row 0, fully transparent in row 1
    Image.fromarray(rgba, "RGBA").save(tmp_path / "alpha.png")
    grey = media.read_grey(tmp_path / "alpha.png")
    np.testing.assert_allclose(grey, [[0, 0], [1, 1]], atol=1 / 255)


def test_not_an_image_and_truncated_image_name_the_file(tmp_path):
    (tmp_path / "notes.png").write_text("hello")
    with pytest.raises(ValueError, match="notes.png is not an image file"):
        media.read_grey(tmp_path / "notes.png")
    Image.fromarray(np.zeros((64, 64), np.uint8) + 7).save(tmp_path / "full.png")
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="cut.png"):
        media.read_grey(tmp_path / "cut.png")


def test_one_rgb_array_is_not_read_as_a_stack_of_grey_images():
    from apps.segmentation.inputs import check_images

    with pytest.raises(ValueError, match=r"one colour image \[H, W, 3\]"):
        check_images(np.zeros((20, 30, 3), np.float32))
    assert len(check_images(np.zeros((2, 20, 30), np.float32))) == 2


def test_segmenter_refuses_one_rgb_image():
    import torch

    from apps.segmentation import Segmenter
    from apps.segmentation.cleanup import CleanupModel
    from apps.segmentation.labeller import Labeller

    torch.manual_seed(0)
    segmenter = Segmenter(Labeller(2, channels=4, dilations=(1,)), CleanupModel(2, 4), ("a", "b"))
    with pytest.raises(ValueError, match="colour image"):
        segmenter.segment(np.zeros((12, 15, 3), np.float32))


# -- WAV -------------------------------------------------------------------------------------


def _wav(rate=16000, channels=1, bits=16, block_align=None, samples=b"\0\0" * 8, tag=1):
    block_align = channels * ((bits + 7) // 8) if block_align is None else block_align
    fmt = struct.pack("<HHIIHH", tag, channels, rate, rate * block_align, block_align, bits)
    body = b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt
    body += b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


@pytest.fixture
def no_scipy(monkeypatch):
    """Fail the test if scipy's WAV reader is reached."""
    from scipy.io import wavfile

    def reached(*args, **kwargs):
        raise AssertionError("scipy was called before the header was checked")

    monkeypatch.setattr(wavfile, "read", reached)


@pytest.mark.parametrize("rate", [0, 10**9, 999])
def test_absurd_sample_rate_names_the_file_before_scipy(tmp_path, no_scipy, rate):
    path = tmp_path / "odd.wav"
    path.write_bytes(_wav(rate=rate))
    declared = rf"odd\.wav: the WAV header declares a sample rate of {rate} Hz"
    with pytest.raises(ValueError, match=declared):
        media.read_wav(path)


@pytest.mark.parametrize(
    "header, problem",
    [
        (dict(channels=0, block_align=2), "0 channels"),
        (dict(block_align=0), "inconsistent"),
        (dict(bits=0), "inconsistent"),
        (dict(channels=3, block_align=4), "inconsistent"),
    ],
)
def test_inconsistent_headers_are_refused_before_scipy(tmp_path, no_scipy, header, problem):
    path = tmp_path / "odd.wav"
    path.write_bytes(_wav(**header))
    with pytest.raises(ValueError, match=f"odd.wav.*{problem}"):
        media.read_wav(path)


def test_speech_decode_names_the_wav_with_an_absurd_rate(tmp_path, capsys, monkeypatch):
    import apps.speech.api as recognizer

    class Unused:  # the checkpoint is not the point here; the WAV is refused first
        @staticmethod
        def load(*args, **kwargs):
            return Unused()

    monkeypatch.setattr(recognizer, "SpeechRecognizer", Unused)
    (tmp_path / "odd.wav").write_bytes(_wav(rate=10**9))
    argv = ["speech", "decode", str(tmp_path / "odd.wav"), "--checkpoint", "unused.pt"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "odd.wav" in err and "1000000000" in err


def test_recognizer_refuses_an_absurd_rate_naming_the_utterance():
    from apps.speech.api import _rates

    with pytest.raises(ValueError, match="utterance 1: sample rate 1000000000 Hz is outside"):
        _rates([16000, 10**9], 2)


@pytest.mark.parametrize("channels", [1, 2, 3, 6])
def test_any_channel_count_is_averaged(tmp_path, channels):
    from scipy.io import wavfile

    data = np.zeros((10, channels), np.int16)
    data[:, 0] = 16384  # channel 0 at half scale, the others silent
    wavfile.write(tmp_path / "c.wav", 8000, data if channels > 1 else data[:, 0])
    wave, rate = media.read_wav(tmp_path / "c.wav")
    assert rate == 8000 and wave.shape == (10,)
    np.testing.assert_allclose(wave, 0.5 / channels)


def test_eight_bit_wav_spans_minus_one_to_one(tmp_path):
    path = tmp_path / "u8.wav"
    path.write_bytes(_wav(bits=8, samples=bytes([0, 128, 255, 128])))
    wave, _ = media.read_wav(path)
    np.testing.assert_allclose(wave, [-1.0, 0.0, 127 / 128, 0.0])


def test_float_wav_with_nan_is_refused(tmp_path):
    samples = np.array([0.0, np.nan, 0.5], "<f4").tobytes()
    path = tmp_path / "nan.wav"
    path.write_bytes(_wav(bits=32, tag=3, samples=samples))
    with pytest.raises(ValueError, match="nan.wav: sample 1 of channel 0 is nan"):
        media.read_wav(path)


def test_empty_and_foreign_files_are_refused(tmp_path):
    (tmp_path / "empty.wav").write_bytes(_wav(samples=b""))
    with pytest.raises(ValueError, match="empty.wav: the file holds no samples"):
        media.read_wav(tmp_path / "empty.wav")
    (tmp_path / "text.wav").write_text("not audio at all")
    with pytest.raises(ValueError, match="text.wav is not a WAV file"):
        media.read_wav(tmp_path / "text.wav")


def test_a_data_chunk_claiming_gigabytes_reads_only_what_the_file_holds(tmp_path):
    data = bytearray(_wav(samples=b"\1\0" * 4))
    at = data.index(b"data") + 4
    data[at : at + 4] = struct.pack("<I", 0xFFFFFFF0)  # streaming writers leave this unknown
    (tmp_path / "stream.wav").write_bytes(bytes(data))
    wave, rate = media.read_wav(tmp_path / "stream.wav")
    assert rate == 16000 and wave.shape == (4,)


# -- WAV sample formats, ranges and limits (issue 17: recordings as speech people keep them) --


def _fmt_wav(fmt: bytes, samples: bytes, riff=b"RIFF", order="<", extra=b"") -> bytes:
    body = b"WAVE" + extra + b"fmt " + struct.pack(order + "I", len(fmt)) + fmt
    body += b"data" + struct.pack(order + "I", len(samples)) + samples
    return riff + struct.pack(order + "I", len(body)) + body


@pytest.mark.parametrize("order, riff", [("<", b"RIFF"), (">", b"RIFX")])
def test_24_bit_stereo_in_either_byte_order(tmp_path, order, riff):
    values = np.array([[0, 1 << 22], [-(1 << 23), (1 << 23) - 1], [-1, 5]], np.int64)  # [3, 2]
    raw = b"".join(int(v).to_bytes(3, "little" if order == "<" else "big", signed=True)
                   for v in values.reshape(-1))  # fmt: skip
    fmt = struct.pack(order + "HHIIHH", 1, 2, 8000, 8000 * 6, 6, 24)
    (tmp_path / "a.wav").write_bytes(_fmt_wav(fmt, raw, riff, order))
    wave, rate = media.read_wav(tmp_path / "a.wav")
    assert rate == 8000
    np.testing.assert_array_equal(wave, values.mean(1) / float(1 << 23))


def test_wave_format_extensible_float(tmp_path):
    x = np.array([[0.25, -0.5], [1.0, 0.0]], "<f4")
    guid_tail = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
    fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 2, 44100, 44100 * 8, 8, 32, 22, 32, 3)
    fmt += struct.pack("<H", 3) + guid_tail  # sub-format: IEEE float
    (tmp_path / "ext.wav").write_bytes(_fmt_wav(fmt, x.tobytes()))
    info = media.wav_info(tmp_path / "ext.wav")
    assert (info.encoding, info.channels, info.rate, info.frames) == ("float", 2, 44100, 2)
    np.testing.assert_allclose(media.read_wav(tmp_path / "ext.wav")[0], [-0.125, 0.5])


def test_g711_a_law_and_mu_law_match_the_standard(tmp_path):
    # ITU-T G.711 reference points (16-bit scale)
    cases = {7: ([0xFF, 0x7F, 0x00, 0x80], [0, 0, -32124, 32124]),
             6: ([0xD5, 0x55, 0xAA, 0x2A], [8, -8, 32256, -32256])}  # fmt: skip
    for tag, (codes, want) in cases.items():
        fmt = struct.pack("<HHIIHH", tag, 1, 8000, 8000, 1, 8)
        (tmp_path / "g.wav").write_bytes(_fmt_wav(fmt, bytes(codes)))
        np.testing.assert_array_equal(media.read_wav(tmp_path / "g.wav")[0] * 32768, want)


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
@pytest.mark.parametrize("encoding", ["mu-law", "a-law"])
def test_g711_matches_sox_on_every_code(tmp_path, encoding):
    fmt = struct.pack("<HHIIHH", 7 if encoding == "mu-law" else 6, 1, 8000, 8000, 1, 8)
    (tmp_path / "g.wav").write_bytes(_fmt_wav(fmt, bytes(range(256))))
    subprocess.run(["sox", str(tmp_path / "g.wav"), "-e", "signed", "-b", "16",
                    str(tmp_path / "pcm.wav")], check=True)  # fmt: skip
    from scipy.io import wavfile

    _, pcm = wavfile.read(tmp_path / "pcm.wav")
    np.testing.assert_array_equal(media.read_wav(tmp_path / "g.wav")[0] * 32768, pcm)


@pytest.mark.parametrize(
    "tag, bits, block, problem",
    [(2, 4, 1, "format tag 0x0002"), (1, 64, 8, "pcm samples of 8 bytes"),
     (3, 16, 2, "float samples of 2 bytes")],
)  # fmt: skip
def test_unsupported_encodings_are_named(tmp_path, tag, bits, block, problem):
    fmt = struct.pack("<HHIIHH", tag, 1, 8000, 8000 * block, block, bits)
    (tmp_path / "u.wav").write_bytes(_fmt_wav(fmt, b"\0" * block * 4))
    with pytest.raises(ValueError, match=rf"u.wav: unsupported WAV encoding \({problem}\)"):
        media.read_wav(tmp_path / "u.wav")


def test_a_range_reads_only_its_frames_and_is_checked(tmp_path):
    samples = np.arange(-400, 400, dtype=np.int16) * 40
    path = tmp_path / "r.wav"
    path.write_bytes(_wav(rate=1000, samples=samples.astype("<i2").tobytes()))
    wave, _ = media.read_wav(path, 0.1, 0.25)
    np.testing.assert_array_equal(wave, samples[100:250] / 32768.0)
    with pytest.raises(
        ValueError, match=r"r.wav: the range 0.5 to 0.9 s is outside the recording \(0 to 0.800 s\)"
    ):
        media.read_wav(path, 0.5, 0.9)
    with pytest.raises(
        ValueError, match=r"r.wav: 800 frames \(1 s\) to read, more than the limit of 100"
    ):
        media.read_wav(path, max_frames=100)


def test_huge_declared_sizes_allocate_nothing_large(tmp_path):
    """RF64 whose ds64 chunk declares a terabyte of samples, read under a 1.5 GB address-space
    cap in a subprocess: only the 4 frames the file holds are read."""
    ds64 = b"ds64" + struct.pack("<I", 28) + struct.pack("<QQQI", 1 << 40, 1 << 40, 1 << 39, 0)
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    data = bytearray(_fmt_wav(fmt, b"\1\0" * 4, riff=b"RF64", extra=ds64))
    at = data.index(b"data") + 4
    data[at : at + 4] = struct.pack("<I", 0xFFFFFFFF)
    (tmp_path / "big.wav").write_bytes(bytes(data))
    assert _read_capped(tmp_path / "big.wav") == "(4,) 16000"


def _read_capped(path: Path) -> str:
    """What ``media.read_wav(path)`` gives (shape and rate, or the error) in a subprocess whose
    address space is capped at 1.5 GB, so that a blow-up fails the test, not the machine."""
    script = (
        "import resource; resource.setrlimit(resource.RLIMIT_AS, (1536 << 20, 1536 << 20))\n"
        "from apps._common import media\n"
        "try:\n"
        f"    w, r = media.read_wav({str(path)!r})\n"
        "    print(w.shape, r)\n"
        "except ValueError as e:\n"
        "    print('ValueError', e)\n"
    )
    root = Path(media.__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=120, cwd=root)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip()


def _sphere(fields: dict[str, str], samples: bytes, header_bytes: int = 1024) -> bytes:
    types = {"sample_coding": "-s", "sample_byte_format": "-s", "database_id": "-s"}
    lines = [f"NIST_1A\n{header_bytes:7d}\n"]
    for name, value in fields.items():
        t = types.get(name, "-i")
        lines.append(f"{name} {t}{len(value) if t == '-s' else ''} {value}\n")
    head = "".join(lines) + "end_head\n"
    return head.encode().ljust(header_bytes, b" ") + samples


@pytest.mark.parametrize("byte_format, order", [("01", "<"), ("10", ">")])
def test_nist_sphere_pcm_as_tidigits_keeps_it(tmp_path, byte_format, order):
    values = np.array([[100, -200], [32767, -32768], [0, 7]], np.int16)
    fields = {
        "sample_count": "3",
        "sample_rate": "20000",
        "channel_count": "2",
        "sample_n_bytes": "2",
        "sample_byte_format": byte_format,
        "sample_coding": "pcm",
    }
    raw = values.astype(order + "i2").tobytes()
    (tmp_path / "mae_1a.wav").write_bytes(_sphere(fields, raw + b"\0\0"))  # a stray trailing sample
    wave, rate = media.read_wav(tmp_path / "mae_1a.wav")
    assert rate == 20000
    np.testing.assert_array_equal(wave, values.mean(1) / 32768.0)


def test_nist_sphere_mu_law_and_refusals(tmp_path):
    fields = {"sample_rate": "8000", "sample_n_bytes": "1", "sample_coding": "ulaw"}
    (tmp_path / "u.sph").write_bytes(_sphere(fields, bytes([0xFF, 0x00])))
    np.testing.assert_array_equal(media.read_wav(tmp_path / "u.sph")[0] * 32768, [0, -32124])
    shorten = {"sample_rate": "16000", "sample_coding": "pcm,embedded-shorten-v2.00"}
    (tmp_path / "s.sph").write_bytes(_sphere(shorten, b"\0" * 40))
    with pytest.raises(ValueError, match=r"s.sph: SPHERE sample coding .*shorten.*sph2pipe"):
        media.read_wav(tmp_path / "s.sph")
    (tmp_path / "h.sph").write_bytes(_sphere({"sample_rate": "16000"}, b"", 1 << 30)[:2048])
    with pytest.raises(ValueError, match=r"h.sph: the NIST SPHERE header declares"):
        media.read_wav(tmp_path / "h.sph")
    (tmp_path / "r.sph").write_bytes(_sphere({"channel_count": "1"}, b"\0" * 8))
    with pytest.raises(ValueError, match=r"r.sph: the NIST SPHERE header has no sample_rate"):
        media.read_wav(tmp_path / "r.sph")
    (tmp_path / "x.sph").write_bytes(_sphere({"sample_rate": "10000000"}, b"\0" * 8))
    with pytest.raises(ValueError, match=r"x.sph: the SPHERE header declares a sample rate"):
        media.read_wav(tmp_path / "x.sph")


@pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")
def test_nist_sphere_written_by_sox_reads_like_its_wav(tmp_path):
    from scipy.io import wavfile

    x = (np.sin(np.arange(3000)[:, None] * [0.01, 0.03]) * 20000).astype(np.int16)
    wavfile.write(tmp_path / "a.wav", 16000, x)
    subprocess.run(["sox", str(tmp_path / "a.wav"), str(tmp_path / "a.sph")], check=True)
    assert (tmp_path / "a.sph").read_bytes()[:8] == b"NIST_1A\n"
    wave, rate = media.read_wav(tmp_path / "a.sph")
    assert rate == 16000
    np.testing.assert_array_equal(wave, media.read_wav(tmp_path / "a.wav")[0])


def test_nist_sphere_declaring_absurd_sample_sizes_allocates_nothing(tmp_path):
    # a header field sized the byte-order check once (range(width) of a huge width)
    fields = {"sample_rate": "16000", "sample_n_bytes": "99999999999999"}
    (tmp_path / "w.sph").write_bytes(_sphere(fields, b"\0" * 8))
    said = _read_capped(tmp_path / "w.sph")
    assert said.startswith("ValueError ") and "unsupported SPHERE samples (pcm, 9999" in said
