"""Fuzz targets run by test_fuzz.py in a subprocess under an address-space cap.

``python -m tests.hostile._fuzz_targets NAME EXAMPLES``: imports everything, caps the address
space at what is mapped now plus HEADROOM, then throws hypothesis-generated files at one loader.
A loader may return or raise ValueError / OSError (a named, clean refusal); anything else,
including MemoryError from a tiny file asking for gigabytes, fails the run (exit status != 0).
"""

from __future__ import annotations

import io
import math
import resource
import struct
import sys
import tempfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from scipy.io import wavfile

import decoders
import gtn
from apps._common import media
from decoders.emissions import EmissionsFile, not_energies

HEADROOM = 1 << 30  # 1 GiB more than the interpreter has mapped once everything is imported
CLEAN = (ValueError, OSError)
FOLDER = Path(tempfile.mkdtemp(prefix="ebgtn-fuzz-"))
GRAPH = gtn.Graph.from_arrays(
    2, [0, 0, 1], [1, 0, 1], [0, 1, 1], [3, gtn.EPSILON, 4], torch.zeros(3, dtype=torch.float64),
    start=[0], final=[1],
)  # fmt: skip


def _vm_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize in /proc/self/status")


def _cap() -> None:
    limit = _vm_bytes() + HEADROOM
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _write(name: str, data: bytes) -> Path:
    path = FOLDER / name
    path.write_bytes(data)
    return path


def _mutate(data: bytes, edits: list[tuple[int, int]]) -> bytes:
    out = bytearray(data)
    for at, value in edits:
        if out:
            out[at % len(out)] = value
    return bytes(out)


EDITS = st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=4)

# -- emission archives -----------------------------------------------------------------------

DTYPES = ["float64", "float32", "float16", "int8", "int64", "uint8", "bool", "complex64"]
VALUES = st.sampled_from([0.0, 1.0, -1.0, 0.5, 30.0, math.nan, math.inf, -math.inf, 1e300])


@st.composite
def emission_archive(draw) -> bytes:
    buffer = io.BytesIO()
    arrays = {}
    for k in range(draw(st.integers(0, 3))):
        shape = tuple(draw(st.lists(st.integers(0, 5), min_size=0, max_size=3)))
        values = draw(st.lists(VALUES, min_size=1, max_size=8))
        flat = np.resize(np.array(values), math.prod(shape))
        with np.errstate(all="ignore"):
            arrays[f"u{k}"] = flat.astype(draw(st.sampled_from(DTYPES))).reshape(shape)
    if draw(st.booleans()):
        np.savez_compressed(buffer, **arrays)
    else:
        np.savez(buffer, **arrays)
    data = buffer.getvalue()
    if draw(st.booleans()):  # a member whose header declares an enormous shape
        member = io.BytesIO()
        declared = (draw(st.sampled_from([10**6, 10**9, 2**40])), draw(st.integers(1, 10**6)))
        header = {"descr": "<f8", "fortran_order": False, "shape": declared}
        np.lib.format.write_array_header_1_0(member, header)
        member.write(b"\0" * draw(st.integers(0, 64)))
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", draw(st.sampled_from([0, zipfile.ZIP_DEFLATED]))) as z:
            z.writestr("huge.npy", member.getvalue())
        data = out.getvalue()
    return _mutate(data, draw(EDITS))


@given(emission_archive())
def emissions(data: bytes) -> None:
    path = _write("e.npz", data)
    try:
        file = EmissionsFile(path)
        for uid in file.ids:
            e = decoders.check_emissions(file.load(uid), decoders.search_graph(GRAPH))
            not_energies(e)
            decoders.decode(e, GRAPH, num_hypotheses=2)
    except CLEAN:
        pass


# -- WAV headers -----------------------------------------------------------------------------


@st.composite
def wav_file(draw) -> bytes:
    u16, u32 = st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
    tag = draw(st.sampled_from([1, 3, 0xFFFE]) | u16)
    channels = draw(st.sampled_from([0, 1, 2, 3, 8, 0xFFFF]) | u16)
    rate = draw(st.sampled_from([0, 8000, 16000, 44100, 10**9, 0xFFFFFFFF]) | u32)
    bits = draw(st.sampled_from([0, 8, 16, 24, 32, 64, 0xFFFF]) | u16)
    block_align = draw(st.sampled_from([0, 1, 2, 4, 6, 0xFFFF]) | u16)
    fmt = struct.pack("<HHIIHH", tag, channels, rate, draw(u32), block_align, bits)
    fmt += draw(st.binary(max_size=30))
    samples = draw(st.binary(max_size=256))
    size = draw(st.sampled_from([len(samples), 0, 0xFFFFFFFF]) | u32)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    if draw(st.booleans()):
        body += b"LIST" + struct.pack("<I", 4) + b"INFO"
    body += b"data" + struct.pack("<I", size) + samples
    return _mutate(b"RIFF" + struct.pack("<I", len(body)) + body, draw(EDITS))


@given(wav_file())
def wavs(data: bytes) -> None:
    try:
        wave, rate = media.read_wav(_write("a.wav", data))
        assert wave.ndim == 1 and np.isfinite(wave).all() and rate > 0
    except CLEAN:
        pass


# -- PNG headers -----------------------------------------------------------------------------


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


@st.composite
def png_file(draw) -> bytes:
    width = draw(st.sampled_from([1, 7, 100, 65535, 10**5, 2**31 - 1]) | st.integers(0, 2**32 - 1))
    height = draw(st.sampled_from([1, 7, 100, 65535, 10**5]) | st.integers(0, 2**32 - 1))
    depth = draw(st.sampled_from([1, 2, 4, 8, 16]))
    colour = draw(st.sampled_from([0, 2, 3, 4, 6]))
    interlace = draw(st.sampled_from([0, 1]))
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour, 0, 0, interlace)
    raw = draw(st.binary(max_size=200))
    chunks = _chunk(b"IHDR", ihdr)
    if colour == 3:
        chunks += _chunk(b"PLTE", draw(st.binary(min_size=3, max_size=48)))
    chunks += _chunk(b"IDAT", zlib.compress(raw)) + _chunk(b"IEND", b"")
    return _mutate(b"\x89PNG\r\n\x1a\n" + chunks, draw(EDITS))


@given(png_file())
def images(data: bytes) -> None:
    try:
        grey = media.read_grey(_write("i.png", data))
        assert grey.ndim == 2 and np.isfinite(grey).all()
        assert grey.min() >= 0.0 and grey.max() <= 1.0
    except CLEAN:
        pass


TARGETS = {"emissions": emissions, "wavs": wavs, "images": images}

if __name__ == "__main__":
    name, examples = sys.argv[1], int(sys.argv[2])
    target = TARGETS[name]
    target = settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )(target)
    # compile (or load) the kernels first
    decoders.decode(np.zeros((2, 2)), GRAPH, num_hypotheses=2)
    Image.preinit()  # Pillow's common format plugins, and scipy's reader, before the cap
    assert wavfile.read is not None
    _cap()
    target()
    print(f"{name}: {examples} examples, all clean")
