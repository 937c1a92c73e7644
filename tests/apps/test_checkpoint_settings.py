"""Numeric settings from a forged checkpoint (apps._common.checkpoint) and from callers: an
integer too large for a float (10**400) or too long to print (10**5000) is refused with the
usual one-line message naming the key, never an OverflowError or a traceback."""

from __future__ import annotations

import pytest
from PIL import Image

from apps._common.checkpoint import CheckpointError, Choice, Int, IntList, Real, Record
from apps.cli import main
from factors.checkpoint import read_checkpoint, write_checkpoint

HUGE = [10**400, -(10**400), 10**5000]
HUGE_IDS = ["1e400", "-1e400", "1e5000"]  # pytest cannot print 10**5000 either


@pytest.mark.parametrize("value", HUGE, ids=HUGE_IDS)
def test_a_real_setting_refuses_a_huge_integer_by_its_size(value):
    with pytest.raises(CheckpointError, match=r"^config\.beta = (a negative|an) integer of about"):
        Record({"beta": Real(1e-3, 1e3)}).check({"beta": value})


@pytest.mark.parametrize("value", HUGE, ids=HUGE_IDS)
def test_an_int_setting_refuses_a_huge_integer_by_its_size(value):
    with pytest.raises(CheckpointError, match=r"^config\.width = .*integer of about \d+ digits"):
        Record({"width": Int(1, 64)}).check({"width": value})
    with pytest.raises(CheckpointError, match=r"^config\.widths\[1\] = .*integer of about"):
        Record({"widths": IntList(1, 64, 1, 4)}).check({"widths": [3, value]})


def test_other_settings_show_a_huge_integer_without_printing_it():
    with pytest.raises(CheckpointError, match=r"config\.kind = an integer of about 5001 digits"):
        Record({"kind": Choice("hmm", "ctc")}).check({"kind": 10**5000})
    unprintable = r"config\.width must be an integer, got \.\.\. \(list\)"
    with pytest.raises(CheckpointError, match=unprintable):
        Record({"width": Int(1, 64)}).check({"width": [10**5000]})


def test_integers_and_floats_in_range_still_read_as_floats():
    schema = Record({"beta": Real(1e-3, 1e3)})
    assert schema.check({"beta": 7}) == {"beta": 7.0}
    assert schema.check({"beta": 0.5}) == {"beta": 0.5}
    with pytest.raises(CheckpointError, match="is not a finite number"):
        schema.check({"beta": float("inf")})


def test_a_checkpoint_with_a_huge_integer_beta_is_one_line(tmp_path, capsys):
    from apps.check_reading import CheckReader

    fmt = "ebgtn.check_reading.segmenting"
    path = tmp_path / "reader.pt"
    CheckReader().save(path)
    payload = read_checkpoint(path, fmt)
    payload["config"]["beta"] = 10**400
    write_checkpoint(path, fmt, payload)
    Image.new("L", (60, 20), 255).save(tmp_path / "field.png")
    assert main(["check-reading", "read", str(tmp_path / "field.png"), "--checkpoint", str(path)])
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "config.beta = an integer of about 401 digits" in err


@pytest.mark.parametrize("setting", ["word_penalty", "dither"])
def test_a_speech_checkpoint_with_a_huge_integer_setting_is_refused(tmp_path, setting):
    from apps.speech.api import SpeechRecognizer
    from apps.speech.graphs import Topology
    from apps.speech.network import TDNN

    fmt, path = "ebgtn.speech.recognizer", tmp_path / "speech.pt"
    topology = Topology("hmm", states_per_word=2)
    SpeechRecognizer(TDNN(topology.num_columns, width=8), topology).save(path)
    payload = read_checkpoint(path, fmt)
    payload["config"][setting] = 10**400
    write_checkpoint(path, fmt, payload)
    with pytest.raises(CheckpointError, match=rf"speech\.pt: config\.{setting} = an integer of"):
        SpeechRecognizer.load(path)


@pytest.mark.parametrize("setting", ["word_penalty", "dither"])
def test_a_caller_giving_a_huge_integer_setting_gets_a_value_error(setting):
    from apps.speech.api import SpeechRecognizer
    from apps.speech.graphs import Topology
    from apps.speech.network import TDNN

    topology = Topology("hmm", states_per_word=2)
    model = TDNN(topology.num_columns, width=8)
    with pytest.raises(ValueError, match=rf"{setting} must be a finite .* got a huge integer"):
        SpeechRecognizer(model, topology, **{setting: 10**400})


def test_a_warp_grid_with_a_huge_integer_is_refused():
    from apps.speech.vtln import check_grid

    with pytest.raises(ValueError, match=r"warp: a huge integer is outside \[0\.5, 2\]"):
        check_grid([1.0, 10**400])
