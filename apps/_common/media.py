"""Reading image and audio files from strangers: grey images and mono waveforms.

Every problem is a ``ValueError`` naming the file (OS errors keep their file name); nothing is
decoded before the sizes a file declares have been checked against limits proportional to what
an application can use, so a tiny file cannot ask for gigabytes.

- :func:`read_grey`: a PNG, JPEG, TIFF, BMP, GIF, WebP or PBM/PGM/PPM image (:data:`IMAGE_FORMATS`)
  -> float32 [H, W] in [0, 1] (0 black, 1 white).
  8-bit grey is v / 255; 16-bit grey v / 65535 (not clipped to 8 bits); 1-bit 0 / 1; colour
  and palette images by luminance (ITU-R 601-2, as Pillow's ``convert("L")``); transparency is
  composited onto white (a transparent pixel reads as paper, not as ink); an EXIF orientation
  tag is applied (phones and scanners store the pixels rotated and say so in the tag).
- :func:`read_wav`: PCM, float, A-law or mu-law WAV, or uncompressed NIST SPHERE -> (float64
  [N] in [-1, 1], sample rate), channels averaged; :func:`wav_info` reads the header alone.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import warnings
from dataclasses import dataclass

import numpy as np

# 64 Mpixel: a 8k x 8k scan; as float32 that is 256 MB, the most a one-image command should use.
MAX_PIXELS = 1 << 26
# What decoding and converting one image may take. Pillow keeps 1 byte per pixel for modes 1,
# L and P, 2 for I;16, 4 for every other mode, and a row pointer per line (a 1 x 64M image is
# 512 MB of pointers); converting to grey makes up to four copies and the float32 result.
MAX_DECODE_BYTES = 1 << 29
# The image formats read_grey opens, whatever a file's name says: those of scans and photos (the
# check reader's folder suffixes; PBM/PGM/PPM are Pillow's "PPM"). Pillow's other formats stay
# closed: EPS and PS run Ghostscript on the file's PostScript, and every other parser is attack
# surface that no field image needs.
IMAGE_FORMATS = ("PNG", "JPEG", "TIFF", "BMP", "GIF", "WEBP", "PPM")
_FORMAT_NAMES = "PNG, JPEG, TIFF, BMP, GIF, WebP or PBM/PGM/PPM"
# Telephone speech is 8 kHz; studio audio rarely exceeds 192 kHz. Outside these, a rate is a
# corrupt header (and resampling to the recogniser's rate would be meaningless or enormous).
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000


def read_grey(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """float32 [H, W] in [0, 1] (1 = white) from an image file.

    Raises:
        ValueError: not an image of :data:`IMAGE_FORMATS` (whatever its name), a header Pillow
            cannot parse, more than ``max_pixels`` pixels declared
            (e.g. a decompression bomb: the message gives the declared width x height) or a
            shape whose decoding would take more than ``MAX_DECODE_BYTES``, a
            truncated or corrupt image, or pixel values that are not intensities (32-bit
            integer or float images outside [0, 1]).
        OSError: the file cannot be opened.
    """
    from PIL import Image, UnidentifiedImageError

    where = str(path)
    with open(path, "rb") as f:  # OSError names the file
        try:
            im = _open_unchecked(Image, f)
        except UnidentifiedImageError:
            raise ValueError(
                f"{where} is not an image file in a format the apps read ({_FORMAT_NAMES})"
            ) from None
        except MemoryError:
            raise
        except Exception as err:  # Pillow's parsers fail on hostile headers in many ways
            raise ValueError(f"{where}: corrupt image header ({err})") from None
        with im:
            width, height = im.size
            if width * height > max_pixels:
                raise ValueError(
                    f"{where}: the image declares {width}×{height} pixels, more than the limit "
                    f"of {max_pixels} (a decompression bomb, or too large for this command)"
                )
            if width == 0 or height == 0:
                raise ValueError(f"{where}: the image declares {width}×{height} pixels")
            pixel = 1 if im.mode in ("1", "L", "P") else 2 if im.mode.startswith("I;16") else 4
            needs = width * height * (4 * pixel + 4) + 16 * height
            if needs > MAX_DECODE_BYTES:
                raise ValueError(
                    f"{where}: the image declares {width}×{height} pixels of mode {im.mode}; "
                    f"reading it would take about {needs >> 20} MB, more than the limit of "
                    f"{MAX_DECODE_BYTES >> 20} MB"
                )
            try:
                im.seek(0)
                im.load()
                grey = _to_grey(_upright(im), where)
            except (ValueError, MemoryError):
                raise
            except Exception as err:  # Pillow's decoders fail on hostile bytes in many ways
                raise ValueError(f"{where}: corrupt or truncated image ({err})") from None
    return grey


def _open_unchecked(image_module, f):
    """``Image.open`` of :data:`IMAGE_FORMATS` only, without Pillow's own pixel limit (it
    raises a bare DecompressionBombError that names neither the file nor the size);
    :func:`read_grey` applies its own limit before any pixel is decoded. Only the header is
    read here."""
    saved = image_module.MAX_IMAGE_PIXELS
    image_module.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", image_module.DecompressionBombWarning)
            return image_module.open(f, formats=IMAGE_FORMATS)
    finally:
        image_module.MAX_IMAGE_PIXELS = saved


def _upright(im):
    """The image as it is meant to be seen: its EXIF orientation (tag 0x0112) applied."""
    from PIL import ImageOps

    orientation = im.getexif().get(0x0112, 1)
    return im if orientation in (1, None) else ImageOps.exif_transpose(im)


def _to_grey(im, where: str) -> np.ndarray:
    """float32 [H, W] in [0, 1] from a loaded Pillow image of any mode."""
    mode = im.mode
    if mode == "1":
        return np.asarray(im, dtype=np.float32)
    if mode == "L":
        return np.asarray(im, dtype=np.float32) / 255.0
    if mode.startswith("I;16"):  # 16-bit grey (PNG, TIFF): the full 0..65535 range
        return np.asarray(im).astype(np.float32) / 65535.0
    if mode == "I":  # 32-bit signed container; 16-bit files open this way in some formats
        values = np.asarray(im)
        if values.min() < 0 or values.max() > 65535:
            raise ValueError(
                f"{where}: 32-bit integer pixels in [{values.min()}, {values.max()}]; "
                "save the image with 8 or 16 bits per pixel"
            )
        return values.astype(np.float32) / 65535.0
    if mode == "F":
        values = np.asarray(im, dtype=np.float32)
        if not np.isfinite(values).all() or values.min() < 0 or values.max() > 1:
            raise ValueError(f"{where}: floating-point pixels must be finite and in [0, 1]")
        return values
    if mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in im.info:
        from PIL import Image

        paper = Image.new("RGBA", im.size, (255, 255, 255, 255))
        im = Image.alpha_composite(paper, im.convert("RGBA"))
    elif mode not in ("RGB", "P"):
        im = im.convert("RGB")  # CMYK, YCbCr, LAB, HSV: to RGB first, then luminance
    return np.asarray(im.convert("L"), dtype=np.float32) / 255.0


# -- WAV ---------------------------------------------------------------------------------------

# The most frames one read returns (after a segment is cut out of a recording): 2^25 frames is
# 35 min at 16 kHz or 12.7 min at 44.1 kHz, 256 MB as float64 mono. A longer recording is read
# a segment at a time (a Kaldi ``segments`` file), never whole.
MAX_WAV_FRAMES = 1 << 25
_BLOCK_BYTES = 1 << 20  # samples are decoded and down-mixed this many bytes at a time
_FMT_BYTES = 64  # enough for WAVE_FORMAT_EXTENSIBLE (40 bytes); the rest of a fmt chunk is unused
_TAGS = {1: "pcm", 3: "float", 6: "alaw", 7: "mulaw"}
_EXTENSIBLE = 0xFFFE
_UNKNOWN_SIZES = (0xFFFFFFFF,)  # RF64's placeholder; the true size is in its ds64 chunk
_SPHERE_HEADER_LIMIT = 1 << 16  # SPHERE headers are 1,024 bytes, rarely a few times that


@dataclass(frozen=True)
class WavInfo:
    """What a WAV header declares, checked against the file.

    ``channels``; ``rate`` in Hz; ``encoding`` "pcm" (integers, 8-bit unsigned), "float",
    "alaw" or "mulaw" (G.711, telephone speech); ``sample_bytes`` the container size of one
    sample; ``order`` "<" (RIFF, RF64) or ">" (RIFX); ``data_offset`` the byte where samples
    start; ``frames`` the complete frames the file holds (a data chunk that declares more, as
    streaming writers do, is cut to what the file holds)."""

    channels: int
    rate: int
    encoding: str
    sample_bytes: int
    order: str
    data_offset: int
    frames: int

    @property
    def frame_bytes(self) -> int:
        return self.channels * self.sample_bytes

    @property
    def seconds(self) -> float:
        return self.frames / self.rate


def wav_info(source, where: str | None = None) -> WavInfo:
    """The checked header of a WAV file (a path, or a seekable binary file object) without
    reading its samples. ``where`` names the source in errors (default: the path).

    Raises:
        ValueError: naming ``where``, for anything :func:`read_wav` refuses in a header.
        OSError: the file cannot be read.
    """
    where = str(source) if where is None else where
    with _opened(source) as f:
        return _parse_header(f, where)


def read_wav(
    source,
    start: float = 0.0,
    end: float | None = None,
    max_frames: int = MAX_WAV_FRAMES,
    where: str | None = None,
) -> tuple[np.ndarray, int]:
    """(float64 waveform [N] in [-1, 1], sample rate in Hz) of a WAV file (a path, or a
    seekable binary file object), all channels averaged to one; only the frames from
    ``start`` to ``end`` seconds (None: the end of the file) are read, in blocks, so memory is
    that of the result. Integers are scaled by their container's full range (8-bit WAV is
    unsigned; 24-bit in 3 bytes); float samples are kept; A-law and mu-law are expanded by
    G.711. A NIST SPHERE file (uncompressed) is read the same way. ``where`` names the source
    in errors (default: the path).

    Raises:
        ValueError: naming the file, for a file that is not RIFF/RIFX/RF64 WAVE, a sample rate
            outside [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE], no channels, an inconsistent or
            unsupported sample format, no samples, a range outside the file or holding no
            frame, more than ``max_frames`` frames to read (checked before anything is
            allocated), or NaN / infinite samples.
        OSError: the file cannot be read.
    """
    where = str(source) if where is None else where
    with _opened(source) as f:
        info = _parse_header(f, where)
        if info.frames == 0:
            raise ValueError(f"{where}: the file holds no samples")
        first, last = frame_range(info, start, end, where)
        if last - first > max_frames:
            raise ValueError(
                f"{where}: {last - first} frames ({(last - first) / info.rate:.0f} s) to read, "
                f"more than the limit of {max_frames}; cut the recording into segments "
                "(a Kaldi segments file)"
            )
        wave = np.empty(last - first, np.float64)
        step = max(1, _BLOCK_BYTES // info.frame_bytes)
        f.seek(info.data_offset + first * info.frame_bytes)
        for k in range(0, last - first, step):
            m = min(step, last - first - k)
            raw = f.read(m * info.frame_bytes)
            if len(raw) < m * info.frame_bytes:
                raise ValueError(f"{where}: the file ended early (was it changed while read?)")
            block = _decode(raw, info)  # [m, channels]
            if info.encoding == "float":
                bad = ~np.isfinite(block)
                if bad.any():
                    n, c = (int(x) for x in np.argwhere(bad)[0])
                    raise ValueError(
                        f"{where}: sample {first + k + n} of channel {c} is {block[n, c]}"
                    )
            wave[k : k + m] = block.mean(axis=1)
    return wave, info.rate


def _opened(source):
    if hasattr(source, "read"):
        return contextlib.nullcontext(source)
    return open(source, "rb")  # OSError names the file


def frame_range(info: WavInfo, start: float, end: float | None, where: str) -> tuple[int, int]:
    """[first, last) frames of ``start``..``end`` seconds (None: the end of the recording)
    described by ``info``, each rounded to the nearest frame. ValueError naming ``where`` for
    a range that is not inside the recording, or that holds no frame once rounded (shorter
    than one frame: 1e-05 to 2e-05 s at 16 kHz)."""
    start = float(start)
    stop = info.seconds if end is None else float(end)
    what = f"{start:g} to {stop:g} s" if end is not None else f"from {start:g} s"
    outside = f"{where}: the range {what} is outside the recording (0 to {info.seconds:.3f} s)"
    # compared in seconds first: a huge or NaN number of seconds has no frame number
    if not 0 <= start <= stop <= info.seconds + 1 or start >= info.seconds:
        raise ValueError(outside)
    first = int(round(start * info.rate))
    last = info.frames if end is None else int(round(stop * info.rate))
    if last > info.frames:
        raise ValueError(outside)
    if last <= first:
        raise ValueError(
            f"{where}: the range {what} is shorter than one frame at {info.rate} Hz "
            "(it holds no sample)"
        )
    return first, last


def _parse_header(f, where: str) -> WavInfo:
    """Walk the RIFF chunks up to ``data`` (seeking, never reading a chunk's body except fmt's
    first bytes and ds64's); ValueError naming ``where``."""
    size = f.seek(0, io.SEEK_END)
    f.seek(0)
    head = f.read(12)
    if head[:8] == b"NIST_1A\n":
        return _parse_sphere(f, size, where)
    if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX", b"RF64") or head[8:12] != b"WAVE":
        raise ValueError(f"{where} is not a WAV file (no RIFF/WAVE or NIST SPHERE header)")
    order = ">" if head[:4] == b"RIFX" else "<"
    fmt, ds64_data = None, None
    pos = 12
    while pos + 8 <= size:
        f.seek(pos)
        chunk, length = struct.unpack(order + "4sI", f.read(8))
        if chunk == b"data":
            if fmt is None:
                break
            if length in _UNKNOWN_SIZES and ds64_data is not None:
                length = ds64_data
            frame_bytes = fmt[0] * fmt[3]
            frames = min(length, size - pos - 8) // frame_bytes
            return WavInfo(*fmt, order, pos + 8, frames)
        if chunk == b"fmt ":
            body = f.read(min(length, _FMT_BYTES))
            if length < 16 or len(body) < 16:
                raise ValueError(f"{where}: the WAV fmt chunk is truncated ({length} bytes)")
            fmt = _check_fmt(body, order, where)
        elif chunk == b"ds64" and head[:4] == b"RF64":
            body = f.read(min(length, 16))
            if len(body) == 16:
                ds64_data = struct.unpack("<Q", body[8:16])[0]
        pos += 8 + length + (length & 1)
    if fmt is None:
        raise ValueError(f"{where}: no WAV fmt chunk before the samples")
    raise ValueError(f"{where}: no WAV data chunk")


def _parse_sphere(f, size: int, where: str) -> WavInfo:
    """The header of a NIST SPHERE file (TIDIGITS, TIMIT, WSJ keep their audio so): an ASCII
    header of ``name -type value`` lines up to ``end_head``, its size on the second line.
    Uncompressed PCM, mu-law and A-law are read; shorten-compressed files are refused with
    the command that decompresses them."""
    f.seek(0)
    lines = f.read(min(size, 64)).split(b"\n")
    try:
        header_bytes = int(lines[1])
    except (IndexError, ValueError):
        header_bytes = -1
    if not 16 <= header_bytes <= min(size, _SPHERE_HEADER_LIMIT):
        raise ValueError(f"{where}: the NIST SPHERE header declares {lines[1][:20]!r} bytes")
    f.seek(0)
    fields = {}
    for line in f.read(header_bytes).decode("ascii", "replace").split("\n")[2:]:
        parts = line.strip().split(None, 2)
        if parts == ["end_head"]:
            break
        if len(parts) == 3:
            fields[parts[0]] = parts[2]
    try:
        rate = int(fields["sample_rate"])
        channels = int(fields.get("channel_count", "1"))
        width = int(fields.get("sample_n_bytes", "2"))
        declared = int(fields["sample_count"]) if "sample_count" in fields else None
    except KeyError as err:
        raise ValueError(f"{where}: the NIST SPHERE header has no {err.args[0]}") from None
    except ValueError:
        raise ValueError(
            f"{where}: the NIST SPHERE header holds a field that is not a number"
        ) from None
    coding = fields.get("sample_coding", "pcm").lower()
    byte_format = fields.get("sample_byte_format", "01" if width > 1 else "1")
    _check_channels_and_rate(channels, rate, f"{where}: the SPHERE header")
    encoding = {"pcm": "pcm", "ulaw": "mulaw", "mu-law": "mulaw", "alaw": "alaw"}.get(coding)
    if encoding is None:
        raise ValueError(
            f"{where}: SPHERE sample coding {coding!r} is not read here; decompress it with "
            "`sph2pipe -f wav FILE |` in wav.scp (run with --allow-wav-commands)"
        )
    order = None
    if width in ((2, 3, 4) if encoding == "pcm" else (1,)):
        natural = "".join(str(i) for i in range(width))
        # one-byte samples have no byte order (SPHERE writes "1")
        order = "<" if width == 1 else {natural: "<", natural[::-1]: ">"}.get(byte_format)
    if order is None:
        raise ValueError(
            f"{where}: unsupported SPHERE samples ({coding}, {width} bytes, byte order "
            f"{byte_format!r})"
        )
    frames = (size - header_bytes) // (channels * width)
    if declared is not None and 0 <= declared < frames:
        frames = declared
    return WavInfo(channels, rate, encoding, width, order, header_bytes, frames)


def _check_channels_and_rate(channels: int, rate: int, header: str) -> None:
    """ValueError "<header> declares ..." unless there is a channel and the rate is plausible."""
    if channels < 1:
        raise ValueError(f"{header} declares {channels} channels")
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"{header} declares a sample rate of {rate} Hz; expected "
            f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz"
        )


def _check_fmt(body: bytes, order: str, where: str) -> tuple[int, int, str, int]:
    """(channels, rate, encoding, sample bytes) of a fmt chunk's body, checked."""
    tag, channels, rate, _, block_align, bits = struct.unpack(order + "HHIIHH", body[:16])
    _check_channels_and_rate(channels, rate, f"{where}: the WAV header")
    if bits < 1 or block_align % channels or bits > 8 * (block_align // channels):
        raise ValueError(
            f"{where}: the WAV header declares {bits}-bit samples in {block_align}-byte "
            f"frames of {channels} channels, which is inconsistent"
        )
    if tag == _EXTENSIBLE:
        if len(body) < 26:
            raise ValueError(f"{where}: the WAVE_FORMAT_EXTENSIBLE fmt chunk is truncated")
        tag = struct.unpack(order + "H", body[24:26])[0]  # the sub-format GUID's first field
    width = block_align // channels
    encoding = _TAGS.get(tag)
    supported = {"pcm": (1, 2, 3, 4), "float": (4, 8), "alaw": (1,), "mulaw": (1,)}
    if encoding is None or width not in supported[encoding]:
        kind = f"{encoding} samples of {width} bytes" if encoding else f"format tag {tag:#06x}"
        raise ValueError(
            f"{where}: unsupported WAV encoding ({kind}); convert it to PCM, e.g. "
            "`sox in.wav -e signed -b 16 out.wav`"
        )
    return channels, rate, encoding, width


def _g711_tables() -> dict[str, np.ndarray]:
    """float64 [256] sample value of each A-law and mu-law byte (ITU-T G.711, scaled by
    32768 like 16-bit PCM)."""
    u = ~np.arange(256, dtype=np.int64) & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    mulaw = np.where(u & 0x80, 0x84 - t, t - 0x84)
    a = np.arange(256, dtype=np.int64) ^ 0x55
    seg = (a & 0x70) >> 4
    t = ((a & 0x0F) << 4) + np.where(seg == 0, 8, 0x108)
    t = np.where(seg > 1, t << np.maximum(seg - 1, 0), t)
    alaw = np.where(a & 0x80, t, -t)
    return {"mulaw": mulaw / 32768.0, "alaw": alaw / 32768.0}


_G711 = _g711_tables()


def _decode(raw: bytes, info: WavInfo) -> np.ndarray:
    """float64 [frames, channels] of whole frames of raw sample bytes."""
    w, order = info.sample_bytes, info.order
    if info.encoding == "float":
        x = np.frombuffer(raw, f"{order}f{w}").astype(np.float64)
    elif info.encoding in _G711:
        x = _G711[info.encoding][np.frombuffer(raw, np.uint8)]
    elif w == 1:
        x = (np.frombuffer(raw, np.uint8).astype(np.float64) - 128.0) / 128.0
    elif w == 3:
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        if order == ">":
            b = b[:, ::-1]
        v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
        x = np.where(v >= 1 << 23, v - (1 << 24), v) / float(1 << 23)
    else:
        x = np.frombuffer(raw, f"{order}i{w}").astype(np.float64) / float(1 << (8 * w - 1))
    return x.reshape(-1, info.channels)
