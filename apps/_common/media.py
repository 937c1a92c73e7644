"""Reading image and audio files from strangers: grey images and mono waveforms.

Every problem is a ``ValueError`` naming the file (OS errors keep their file name); nothing is
decoded before the sizes a file declares have been checked against limits proportional to what
an application can use, so a tiny file cannot ask for gigabytes.

- :func:`read_grey`: any image Pillow reads -> float32 [H, W] in [0, 1] (0 black, 1 white).
  8-bit grey is v / 255; 16-bit grey v / 65535 (not clipped to 8 bits); 1-bit 0 / 1; colour
  and palette images by luminance (ITU-R 601-2, as Pillow's ``convert("L")``); transparency is
  composited onto white (a transparent pixel reads as paper, not as ink); an EXIF orientation
  tag is applied (phones and scanners store the pixels rotated and say so in the tag).
- :func:`read_wav`: PCM or float WAV -> (float64 [N] in [-1, 1], sample rate), channels
  averaged; the header (sample rate, channels, sample size) is checked before scipy decodes
  the samples.
"""

from __future__ import annotations

import io
import os
import struct
import warnings
from pathlib import Path

import numpy as np

# 64 Mpixel: a 8k x 8k scan; as float32 that is 256 MB, the most a one-image command should use.
MAX_PIXELS = 1 << 26
# Telephone speech is 8 kHz; studio audio rarely exceeds 192 kHz. Outside these, a rate is a
# corrupt header (and resampling to the recogniser's rate would be meaningless or enormous).
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000


def read_grey(path: str | os.PathLike, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """float32 [H, W] in [0, 1] (1 = white) from an image file.

    Raises:
        ValueError: not an image Pillow can read, more than ``max_pixels`` pixels declared
            (e.g. a decompression bomb: the message gives the declared width x height), a
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
            raise ValueError(f"{where} is not an image file Pillow can read") from None
        except (SyntaxError, struct.error, EOFError, IndexError, ValueError) as err:
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
    """``Image.open`` without Pillow's own pixel limit (it raises a bare DecompressionBombError
    that names neither the file nor the size); :func:`read_grey` applies its own limit before
    any pixel is decoded. Only the header is read here."""
    saved = image_module.MAX_IMAGE_PIXELS
    image_module.MAX_IMAGE_PIXELS = None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", image_module.DecompressionBombWarning)
            return image_module.open(f)
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


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """(float64 waveform [N] in [-1, 1], sample rate in Hz) of a WAV file; all channels are
    averaged to one. Integer samples are scaled by their full range (8-bit WAV is unsigned).

    Raises:
        ValueError: naming the file, for a file that is not RIFF/WAVE, a sample rate outside
            [MIN_SAMPLE_RATE, MAX_SAMPLE_RATE], no channels, an inconsistent sample size,
            no samples, or NaN / infinite samples.
        OSError: the file cannot be read.
    """
    from scipy.io import wavfile

    where = str(path)
    data = Path(path).read_bytes()  # the decoder below never reads more than the file holds
    channels, rate = _check_wav_header(data, where)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", wavfile.WavFileWarning)
            _, samples = wavfile.read(io.BytesIO(data))
    except MemoryError:
        raise
    except Exception as err:  # scipy's parser fails on hostile bytes in many ways
        raise ValueError(f"{where} is not a WAV file scipy can read ({err})") from None
    samples = np.asarray(samples)
    if samples.ndim == 1:
        samples = samples[:, None]
    if samples.ndim != 2 or samples.shape[1] != channels:
        raise ValueError(f"{where}: samples of shape {samples.shape} for {channels} channels")
    if samples.shape[0] == 0:
        raise ValueError(f"{where}: the file holds no samples")
    if samples.dtype.kind in "iu":
        info = np.iinfo(samples.dtype)
        middle = (int(info.max) + int(info.min) + 1) / 2  # 128 for unsigned 8-bit, else 0
        half = (int(info.max) - int(info.min) + 1) / 2
        wave = (samples.astype(np.float64) - middle) / half
    else:
        wave = samples.astype(np.float64)
        bad = ~np.isfinite(wave)
        if bad.any():
            n, c = (int(x) for x in np.argwhere(bad)[0])
            raise ValueError(f"{where}: sample {n} of channel {c} is {wave[n, c]}")
    return wave.mean(axis=1), rate


def _check_wav_header(data: bytes, where: str) -> tuple[int, int]:
    """(channels, sample rate) from the fmt chunk, checked; ValueError naming ``where``."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX", b"RF64") or data[8:12] != b"WAVE":
        raise ValueError(f"{where} is not a WAV file (no RIFF/WAVE header)")
    order = ">" if data[:4] == b"RIFX" else "<"
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack(order + "I", data[pos + 4 : pos + 8])[0]
        if chunk == b"data":
            break
        if chunk == b"fmt ":
            if size < 16 or pos + 24 > len(data):
                raise ValueError(f"{where}: the WAV fmt chunk is truncated ({size} bytes)")
            _, channels, rate, _, block_align, bits = struct.unpack(
                order + "HHIIHH", data[pos + 8 : pos + 24]
            )
            if channels < 1:
                raise ValueError(f"{where}: the WAV header declares {channels} channels")
            if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
                raise ValueError(
                    f"{where}: the WAV header declares a sample rate of {rate} Hz; expected "
                    f"{MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz"
                )
            if bits < 1 or block_align % channels or bits > 8 * (block_align // channels):
                raise ValueError(
                    f"{where}: the WAV header declares {bits}-bit samples in {block_align}-byte "
                    f"frames of {channels} channels, which is inconsistent"
                )
            return channels, rate
        pos += 8 + size + (size & 1)
    raise ValueError(f"{where}: no WAV fmt chunk before the samples")
