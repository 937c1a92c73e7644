"""Hostile and broken input to the command lines (issue 15): one line on stderr naming the
problem and its file or argument, exit status 2, never a traceback; ``ebgtn decode`` prints
the file's ids, refuses meaningless options before decoding and says what emissions are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import decoders
import decoders.beam_search
from apps._common import guard
from apps.cli import main
from decoders.emissions import not_energies

ROOT = Path(__file__).resolve().parents[2]


def _fails(argv, capsys) -> str:
    """Run ``ebgtn argv`` in-process; it must exit 2 with exactly one line on stderr."""
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's argument errors
        status = exit_.code
    assert status == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n"), err
    assert "Traceback" not in err
    return err


# -- the guard -------------------------------------------------------------------------------


def test_missing_graph_file_is_one_line_naming_it(tmp_path, capsys):
    err = _fails(["info", str(tmp_path / "nowhere.txt")], capsys)
    assert err.startswith("ebgtn info: ") and "nowhere.txt" in err


@pytest.mark.parametrize("command", [["info"], ["draw", "-o", "g.dot"]])
def test_a_label_past_int32_is_one_line_naming_the_file(tmp_path, capsys, command):
    path = tmp_path / "big.txt"
    path.write_text("0 1 4000000000 1\n1\n")
    err = _fails([command[0], str(path), *command[1:]], capsys)
    assert "big.txt" in err


def test_draw_to_an_unknown_extension_is_one_line(tmp_path, capsys):
    path = tmp_path / "g.txt"
    path.write_text("0 1 1 1\n1\n")
    err = _fails(["draw", str(path), "-o", str(tmp_path / "g.xyz")], capsys)
    assert "g.xyz" in err and ".xyz" in err


def test_argument_errors_are_one_line(capsys):
    err = _fails(["decode"], capsys)
    assert "--graph" in err and "--emissions" in err
    err = _fails(["speech", "decode"], capsys)
    assert "--checkpoint" in err


def test_a_bug_keeps_its_traceback():
    parser = guard.ArgumentParser(prog="t")

    def buggy(args):
        return {}["missing"]  # KeyError: a programming error, not bad input

    parser.set_defaults(run=buggy)
    with pytest.raises(KeyError):
        guard.run_guarded(parser, [])


def test_debug_flag_anywhere_and_environment_variable_raise(tmp_path, monkeypatch):
    missing = str(tmp_path / "nowhere.txt")
    with pytest.raises(OSError):
        main(["info", missing, "--debug"])
    monkeypatch.setenv("EBGTN_DEBUG", "1")
    with pytest.raises(OSError):
        main(["info", missing])
    monkeypatch.setenv("EBGTN_DEBUG", "0")
    assert main(["info", missing]) == 2


def _run_cli(*argv, debug: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("EBGTN_DEBUG", None)
    if debug is not None:
        env["EBGTN_DEBUG"] = debug
    return subprocess.run(
        [sys.executable, "-m", "apps.cli", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def test_the_installed_command_exits_2_without_a_traceback(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("0 1 x\n")
    done = _run_cli("info", str(bad))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert "bad.txt" in done.stderr
    debug = _run_cli("info", str(bad), debug="1")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_each_app_module_entry_point_is_guarded(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("EBGTN_DEBUG", None)
    nowhere = str(tmp_path / "nowhere.png")
    for argv, named in (
        (["apps.segmentation", "clean", nowhere, "--model", "m.pt"], "nowhere.png"),
        (["apps.check_reading", "read", nowhere, "--checkpoint", "m.pt"], "nowhere.png"),
        (["apps.speech", "decode", "a.wav", "--checkpoint", str(tmp_path / "no.pt")], "no.pt"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", *argv], capture_output=True, text=True, env=env, timeout=300
        )
        assert done.returncode == 2, (argv, done.stderr)
        assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
        assert named in done.stderr


# -- ebgtn decode ----------------------------------------------------------------------------


def _numeric_files(tmp_path, emissions: dict[str, np.ndarray]) -> list[str]:
    # Input ids 1 and 2 (emission columns 0 and 1); output ids 7 and 3.
    (tmp_path / "G.txt").write_text("0 1 1 7\n1 2 2 3\n2\n")
    np.savez(tmp_path / "e.npz", **emissions)
    return ["decode", "--graph", str(tmp_path / "G.txt"), "--emissions", str(tmp_path / "e.npz")]


def _energies() -> np.ndarray:
    p = np.array([[0.9, 0.1], [0.2, 0.8]])
    return -np.log(p)


def test_numeric_graph_without_osymbols_prints_the_files_ids(tmp_path, capsys):
    argv = _numeric_files(tmp_path, {"u": _energies()})
    assert main([*argv, "--nbest", "1"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["text"] == "7 3" and line["nbest"][0]["text"] == "7 3"


def test_numeric_graph_text_format_prints_the_files_ids(tmp_path, capsys):
    argv = _numeric_files(tmp_path, {"u": _energies()})
    assert main([*argv, "--format", "text"]) == 0
    assert capsys.readouterr().out == "u 7 3\n"


@pytest.mark.parametrize(
    "option, value",
    [
        ("--lattice-beam", "-5"),
        ("--lattice-beam", "nan"),
        ("--beam", "0"),
        ("--beam", "nan"),
        ("--beta", "0"),
        ("--beta", "-1"),
        ("--beta", "inf"),
        ("--beta", "nan"),
        ("--max-active", "0"),
        ("--nbest", "-1"),
        ("--jobs", "0"),
        ("--frame-shift", "0"),
    ],
)
def test_meaningless_options_are_argument_errors_before_decoding(
    tmp_path, capsys, monkeypatch, option, value
):
    argv = _numeric_files(tmp_path, {"u": _energies()})

    def no_search(*args, **kwargs):
        raise AssertionError("decoding ran before the options were checked")

    monkeypatch.setattr(decoders.beam_search, "beam_search", no_search)
    err = _fails([*argv, option, value], capsys)
    assert f"argument {option}" in err and value in err


@pytest.mark.parametrize(
    "options, name",
    [
        ({"beta": 0.0}, "beta"),
        ({"beta": float("nan")}, "beta"),
        ({"lattice_beam": -5.0}, "lattice_beam"),
        ({"lattice_beam": float("nan")}, "lattice_beam"),
        ({"beam": float("nan")}, "beam"),
        ({"num_hypotheses": -1}, "num_hypotheses"),
    ],
)
def test_decode_refuses_bad_options_before_searching(monkeypatch, options, name):
    import gtn

    g = gtn.Graph.from_arrays(2, [0, 1], [1, 1], [0, 1], [5, gtn.EPSILON], final=[1])

    def no_search(*args, **kwargs):
        raise AssertionError("the search ran before the options were checked")

    monkeypatch.setattr(decoders.beam_search, "beam_search", no_search)
    with pytest.raises(ValueError, match=name):
        decoders.decode(np.zeros((2, 2)), g, **options)


def test_infinite_lattice_beam_still_decodes(tmp_path, capsys):
    argv = _numeric_files(tmp_path, {"u": _energies()})
    assert main([*argv, "--lattice-beam", "inf", "--beam", "inf"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert 0.0 < line["confidence"] <= 1.0


def test_help_says_energies_symbol_ids_and_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["decode", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "-log p" in text and "log-probabilities" in text
    assert "column k" in text and "id k+1" in text and "<blk> 0" in text
    assert "(default 16.0)" in text and "(default 10000)" in text and "(default 1.0)" in text


@pytest.mark.parametrize(
    "convert, looks_like",
    [(lambda e: -e, "log-probabilities"), (lambda e: np.exp(-e), "probabilities")],
)
def test_emissions_of_the_wrong_kind_warn_once(tmp_path, capsys, convert, looks_like):
    utts = {f"u{k}": convert(_energies()) for k in range(3)}
    argv = _numeric_files(tmp_path, utts)
    main(argv)
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1
    assert f"look like {looks_like}" in warnings[0] and "e.npz" in warnings[0]


def test_energies_do_not_warn(tmp_path, capsys):
    argv = _numeric_files(tmp_path, {"u": _energies(), "v": _energies()[::-1]})
    assert main(argv) == 0
    assert "warning" not in capsys.readouterr().err


def test_not_energies_never_flags_normalised_energies():
    rng = np.random.default_rng(0)
    for v in (2, 3, 30):
        logits = rng.normal(0, 3, (50, v))
        energies = -(logits - np.log(np.exp(logits).sum(1, keepdims=True)))
        assert not_energies(energies) is None
        assert not_energies(-energies).startswith("log-probabilities")
        assert not_energies(np.exp(-energies)).startswith("probabilities")


def test_a_corrupt_utterance_in_a_worker_process_is_one_line(tmp_path, capsys):
    rng = np.random.default_rng(0)
    argv = _numeric_files(tmp_path, {f"u{k}": rng.random((4000, 2)) + 1 for k in range(8)})
    data = bytearray((tmp_path / "e.npz").read_bytes())
    # Near the end of u6's stored samples: its header reads fine, its CRC fails when loaded.
    at = data.index(b"u6.npy") + len("u6.npy") + 128 + 60_000
    data[at] ^= 0xFF
    (tmp_path / "e.npz").write_bytes(bytes(data))
    err = _fails([*argv, "--jobs", "2"], capsys)
    assert "e.npz" in err and "utterance u6" in err


def test_an_archive_member_flagged_encrypted_is_one_line(tmp_path, capsys):
    # zipfile refuses an encrypted member with RuntimeError (found by the fuzz test)
    argv = _numeric_files(tmp_path, {"u": _energies()})
    data = bytearray((tmp_path / "e.npz").read_bytes())
    data[6] |= 1  # general-purpose flag bit 0 of the local header
    data[data.rindex(b"PK\x01\x02") + 8] |= 1  # and of the central directory entry
    (tmp_path / "e.npz").write_bytes(bytes(data))
    err = _fails(argv, capsys)
    assert "e.npz" in err and "encrypted" in err
