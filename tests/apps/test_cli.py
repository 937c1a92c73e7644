"""The ebgtn command: tour, info and draw on small files."""

import re

import gtn
from apps.cli import main


def test_tour_matches_torch_ctc_loss(tmp_path, capsys):
    assert main(["tour", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    ours, torchs = re.search(r"= ([\d.]+); torch ctc_loss says (\d+\.\d+)", out).groups()
    assert ours == torchs
    assert (tmp_path / "collapse.fst.txt").exists() and (tmp_path / "collapse.dot").exists()


def test_info_describes_a_graph_file(tmp_path, capsys):
    path = tmp_path / "g.txt"
    gtn.write_att(gtn.linear([0, 2], weights=[1.0, 2.5]), path)
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert re.search(r"states\s+3", out) and re.search(r"min energy\s+3.5", out)


def test_bad_file_gets_a_message_naming_file_and_line(tmp_path, capsys):
    path = tmp_path / "bad.txt"
    path.write_text("0 1 a\n")
    assert main(["info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "bad.txt" in err and "line 1" in err
