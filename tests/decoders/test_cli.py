"""``ebgtn decode`` end to end on tiny files, its error messages, and atomic output."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import decoders
import decoders.cli
import gtn
from apps.cli import main

F64 = torch.float64

# Labels a b c; words "ab" (a b) and "cc" (c c) in a loop: every word takes exactly two
# frames, so an utterance with an odd number of frames has no path.
GRAPH = """0 1 a ab
1 0 b <eps>
0 2 c cc 0.5
2 0 c <eps>
0
"""
ISYMS = "<eps> 0\na 1\nb 2\nc 3\n"
OSYMS = "<eps> 0\nab 1\ncc 2\n"


def _energies(labels: str, noise: float, rng) -> np.ndarray:
    """-log_softmax of logits that favour the given label sequence ("abcc" -> 4 frames)."""
    logits = rng.normal(0.0, noise, (len(labels), 3))
    logits[np.arange(len(labels)), ["abc".index(x) for x in labels]] += 3.0
    return -(logits - np.log(np.exp(logits).sum(1, keepdims=True)))


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "G.txt").write_text(GRAPH)
    (tmp_path / "in.syms").write_text(ISYMS)
    (tmp_path / "words.syms").write_text(OSYMS)
    utts = {"u1": "abcc", "u2": "ccab", "u3": "abab", "odd": "abc"}
    utts.update({f"x{k}": "ccabcc"[: 2 * (k % 3 + 1)] for k in range(7)})
    np.savez(tmp_path / "feats.npz", **{u: _energies(s, 0.5, rng) for u, s in utts.items()})
    return tmp_path


def _args(d, *extra) -> list[str]:
    return [
        "decode", "--graph", str(d / "G.txt"), "--isymbols", str(d / "in.syms"),
        "--osymbols", str(d / "words.syms"), "--emissions", str(d / "feats.npz"),
        "--beam", "12", "--max-active", "2000", *extra,
    ]  # fmt: skip


def _lines(path) -> dict[str, dict]:
    return {line["id"]: line for line in map(json.loads, path.read_text().splitlines())}


def test_decode_writes_hypotheses_lattices_and_a_summary(files, capsys):
    out = files / "hyps.jsonl"
    assert main(_args(files, "--nbest", "3", "--lattice-dir", str(files / "lats"),
                      "--output", str(out))) == 0  # fmt: skip
    lines = _lines(out)
    assert len(lines) == 11
    assert lines["u1"]["text"] == "ab cc" and lines["u2"]["text"] == "cc ab"
    assert lines["u3"]["text"] == "ab ab"
    assert 0.0 <= lines["u1"]["confidence"] <= 1.0
    nbest = lines["u1"]["nbest"]
    assert nbest[0]["text"] == "ab cc" and len({h["text"] for h in nbest}) == len(nbest) == 3
    assert [h["energy"] for h in nbest] == sorted(h["energy"] for h in nbest)
    # The lattice file reads back with the symbol tables and has the utterance's frames.
    isyms = gtn.io.read_symbols(files / "in.syms")
    osyms = gtn.io.read_symbols(files / "words.syms")
    text = files / "lats" / "u1.txt"
    lat = decoders.Lattice.from_graph(gtn.read_att(text, isyms, osyms, dtype=F64))
    assert lat.num_frames == 4
    assert float(gtn.min_energy(lat.graph)) == pytest.approx(lines["u1"]["energy"], abs=1e-9)
    err = capsys.readouterr().err
    assert "decoded 11 utterances (1 without a path)" in err and "real-time factor" in err


def test_an_utterance_without_a_path_is_reported_not_fatal(files, capsys):
    out = files / "hyps.jsonl"
    assert main(_args(files, "--output", str(out))) == 0
    line = _lines(out)["odd"]
    assert line["status"] == "no path" and line["text"] is None and line["frames"] == 3
    assert f"{files / 'feats.npz'}, utterance odd: no path" in capsys.readouterr().err


def test_jobs_shard_utterances_with_the_same_answers(files):
    one, two = files / "one.jsonl", files / "two.jsonl"
    assert main(_args(files, "--nbest", "2", "--output", str(one))) == 0
    assert main(_args(files, "--nbest", "2", "--jobs", "2", "--output", str(two))) == 0
    assert one.read_text() == two.read_text()


def test_npy_emissions_and_text_output(files):
    np.save(files / "one.npy", np.load(files / "feats.npz")["u2"])
    argv = _args(files, "--format", "text", "--output", str(files / "hyps.txt"))
    argv[argv.index("--emissions") + 1] = str(files / "one.npy")
    assert main(argv) == 0
    assert (files / "hyps.txt").read_text() == "one cc ab\n"


def _fails(argv, capsys) -> str:
    assert main(argv) == 2
    return capsys.readouterr().err


def test_missing_symbol_table_is_named(files, capsys):
    argv = _args(files)
    argv[argv.index("--isymbols") + 1] = str(files / "missing.syms")
    err = _fails(argv, capsys)
    assert "missing.syms" in err and "cannot read the input symbol table" in err


def test_symbol_not_in_the_table_names_file_and_line(files, capsys):
    (files / "words.syms").write_text("<eps> 0\nab 1\n")  # no "cc"
    err = _fails(_args(files), capsys)
    assert f"{files / 'G.txt'}, line 3" in err and "unknown output symbol 'cc'" in err


def test_graph_with_names_needs_symbol_tables(files, capsys):
    argv = [a for a in _args(files) if not a.endswith(".syms") and "symbols" not in a]
    err = _fails(argv, capsys)
    assert f"{files / 'G.txt'}, line 1" in err and "pass symbol tables" in err


def test_graph_with_input_names_needs_the_input_table(files, capsys):
    argv = _args(files)
    del argv[argv.index("--isymbols") : argv.index("--isymbols") + 2]
    err = _fails(argv, capsys)
    assert f"{files / 'G.txt'}, line 1: input label 'a' is not an integer" in err


def test_emissions_with_the_wrong_label_count_name_file_and_utterance(files, capsys):
    np.savez(files / "feats.npz", good=np.zeros((2, 3)), wide=np.zeros((2, 4)))
    err = _fails(_args(files), capsys)
    assert f"{files / 'feats.npz'}, utterance wide: 4 labels per frame" in err
    assert "in.syms names 3" in err


def test_emissions_narrower_than_a_numeric_graph_name_file_and_utterance(tmp_path, capsys):
    (tmp_path / "G.txt").write_text("0 1 3 1\n1 0 2 0\n0\n")  # OpenFst ids: labels 2 and 1
    np.savez(tmp_path / "feats.npz", narrow=np.zeros((2, 2)))
    argv = [
        "decode",
        "--graph",
        str(tmp_path / "G.txt"),
        "--emissions",
        str(tmp_path / "feats.npz"),
    ]
    err = _fails(argv, capsys)
    assert f"{tmp_path / 'feats.npz'}, utterance narrow: 2 labels per frame" in err
    assert f"the graph {tmp_path / 'G.txt'} uses input label 2" in err


def test_corrupt_emissions_file_is_named(files, capsys):
    (files / "feats.npz").write_bytes(b"not a zip archive")
    assert "feats.npz: not a readable numpy file" in _fails(_args(files), capsys)


def test_failed_run_leaves_the_previous_output_untouched(files, monkeypatch, capsys):
    out = files / "hyps.jsonl"
    out.write_text("previous results\n")
    calls = []

    def interrupted(self, uid):
        calls.append(uid)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return original(self, uid)

    original = decoders.cli.Decoder.decode
    monkeypatch.setattr(decoders.cli.Decoder, "decode", interrupted)
    with pytest.raises(KeyboardInterrupt):
        main(_args(files, "--output", str(out)))
    assert out.read_text() == "previous results\n"
    assert sorted(p.name for p in files.iterdir() if p.name.startswith(".")) == []


def test_draw_still_works(files, capsys):
    dot = files / "G.dot"
    argv = ["draw", str(files / "G.txt"), "--isymbols", str(files / "in.syms"),
            "--osymbols", str(files / "words.syms"), "-o", str(dot)]  # fmt: skip
    assert main(argv) == 0
    assert "cc" in dot.read_text()
