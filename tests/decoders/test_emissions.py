"""Emission files: what a .npy or .npz header says is checked before anything is built from it."""

from __future__ import annotations

import re
import struct

import numpy as np
import pytest

import gtn
from decoders.emissions import EmissionsFile


def _header_only(path, shape, descr="<f4"):
    """A .npy whose header claims ``shape`` but which holds no data after it."""
    header = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    header += b" " * (63 - (10 + len(header)) % 64) + b"\n"
    path.write_bytes(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
    return path


def _refused(path, match):
    with pytest.raises(gtn.FormatError, match=match) as err:
        EmissionsFile(path)
    assert str(err.value).startswith(f"{path}: ") and "\n" not in str(err.value)


def test_npy_single_and_stacked_emissions_keep_their_ids_and_values(tmp_path):
    stack = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.save(tmp_path / "s.npy", stack)
    np.save(tmp_path / "one.npy", stack[1].astype(np.float16))
    f = EmissionsFile(tmp_path / "s.npy")
    assert f.shapes == {"s-0": (3, 4), "s-1": (3, 4)}
    np.testing.assert_array_equal(f.load("s-1"), stack[1])
    assert EmissionsFile(tmp_path / "one.npy").shapes == {"one": (3, 4)}


@pytest.mark.parametrize("shape", [(10**8, 0, 2), (10**7, 0, 2), (3, 2, 0), (10**12, 0)])
def test_npy_with_no_frames_in_a_stack_or_no_labels_is_refused_from_its_header(tmp_path, shape):
    # (10**8, 0, 2) used to build 10**8 utterance ids (5 GB) from a 128-byte file.
    _refused(_header_only(tmp_path / "e.npy", shape), "no frames|no labels per frame")


def test_a_stack_larger_than_its_file_is_refused_as_truncated(tmp_path):
    path = _header_only(tmp_path / "e.npy", (10**8, 1, 1))
    _refused(path, r"needs 400000000 bytes of data, but the file holds 0 .*truncated")


def test_npz_member_with_no_labels_is_refused_naming_the_utterance(tmp_path):
    np.savez(tmp_path / "e.npz", good=np.ones((2, 2)), empty=np.zeros((5, 0)))
    _refused(tmp_path / "e.npz", "utterance empty: shape .5, 0.: no labels per frame")


@pytest.mark.parametrize(
    "array",
    [
        np.array([[1 + 1j, 2], [3, 4]]),
        np.array([[True, False], [False, True]]),
        np.array([[1, 2], [3, 4]], dtype="datetime64[s]"),
        np.array([["a", "b"], ["c", "d"]]),
        np.zeros((2, 2), dtype=[("a", "<f4"), ("b", "<f4")]),
    ],
    ids=["complex", "bool", "datetime", "str", "structured"],
)
@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_energies_that_are_not_real_numbers_are_refused_naming_the_file(tmp_path, array, suffix):
    path = tmp_path / f"e{suffix}"
    if suffix == ".npy":
        np.save(path, array)
    else:
        np.savez(path, u=array)
    _refused(path, re.escape(f"dtype {array.dtype} is not a number type"))
