"""The check reader's studies (apps.check_reading.studies), on a few generated fields."""

import re

import numpy as np
import pytest
import torch

from apps.check_reading import data, mnist
from apps.check_reading.studies.ceiling import fields_read, perfectly_segmented, rendered_digits


@pytest.fixture(scope="module")
def fields():
    return data.generate("test", 8, seed=5)


def test_a_perfectly_segmented_field_is_right_when_every_digit_is(fields):
    _, labels, rows = mnist.digits("test")
    posterior = np.full((len(rows), 10), 0.01)
    posterior[np.arange(len(rows)), labels] = 0.91
    misread = next(r for r in fields.fields[0].digit_rows if r >= 0)  # one digit of field 0
    j = int(np.flatnonzero(rows == misread)[0])
    posterior[j] = np.roll(posterior[j], 1)  # now classified as the next class
    correct, confidence, appearances = perfectly_segmented(fields.fields, posterior, labels, rows)
    holds = np.array([misread in f.digit_rows for f in fields.fields])
    assert holds[0] and (correct == ~holds).all()
    digits = [int((f.digit_rows >= 0).sum()) for f in fields.fields]
    assert confidence == pytest.approx(0.91 ** np.array(digits))
    assert appearances.sum() == sum(digits) and appearances[j] == holds.sum()


def test_rendered_digits_are_each_digit_of_each_field_cut_out_with_its_own_ink(fields):
    x, aspect, labels, field, rows = rendered_digits(fields)
    digits = [
        (i, int(c), r)
        for i, f in enumerate(fields.fields)
        for c, r in zip(f.text, f.digit_rows, strict=True)
        if r >= 0
    ]
    assert [tuple(t) for t in zip(field, labels, rows, strict=True)] == digits
    assert x.shape == (len(digits), 1, 32, 32) and aspect.shape == (len(digits),)
    assert (x.amax((1, 2, 3)) > 0.2).all()  # every digit keeps some ink
    posterior = np.eye(10)[labels] * 0.9 + 0.01  # every digit right at 0.91 ...
    posterior[0] = np.roll(posterior[0], 1)  # ... but the first
    correct, confidence = fields_read(field, posterior, labels, len(fields))
    assert (correct == (np.arange(len(fields)) != field[0])).all()
    assert confidence == pytest.approx(0.91 ** np.bincount(field, minlength=len(fields)))


def test_the_ceiling_study_trains_the_width_it_is_given(capsys):
    from apps.check_reading.studies.ceiling import main, train_isolated

    x, y = torch.rand(128, 1, 32, 32), torch.arange(128) % 10
    net = train_isolated(x, y, epochs=1, width=1)
    assert net.width == 1 and net(x[:3], torch.zeros(3)).shape == (3, 10)
    assert train_isolated(x, y, epochs=1).width == 2  # the reader's, by default
    with pytest.raises(SystemExit):  # refused before anything is trained
        main(["--width", "17"])
    assert "--width" in capsys.readouterr().err


def test_the_segmentation_study_counts_covered_fields_and_names_a_cause_for_each_miss(fields):
    from apps.check_reading.studies.segmentation import STRAIGHT_ONLY, measure

    r = measure(fields, causes=True)
    assert 0 <= r["fails"] <= len(fields) and r["segments"] >= r["cuts"] > 0
    assert r["coverage"] == pytest.approx(100.0 * (len(fields) - r["fails"]) / len(fields))
    assert (r["fails"] > 0) == bool(r["causes"])  # every missed field has at least one cause
    straight = measure(fields, STRAIGHT_ONLY, causes=False)
    assert straight["segments"] <= r["segments"]  # curved cuts only add candidates


def test_the_segmentation_study_sets_segmenter_settings_within_a_checkpoints_ranges(capsys):
    from apps.check_reading.segment import DEFAULT_SEGMENTER
    from apps.check_reading.studies.segmentation import PREVIOUS, main, with_settings

    s = with_settings(PREVIOUS, ["min_gap=0.1", "max_pieces=16", "blob_strong=0"])
    assert (s.min_gap, s.max_pieces, s.blob_strong) == (0.1, 16, 0.0)
    assert s.max_width == PREVIOUS.max_width  # the rest of the chosen segmenter stays
    assert with_settings(DEFAULT_SEGMENTER, []) == DEFAULT_SEGMENTER
    for bad, says in [
        ("pieces=3", "expected NAME=VALUE"),
        ("max_pieces", "expected NAME=VALUE"),
        ("max_pieces=1.5", "max_pieces takes an integer"),
        ("min_gap=x", "min_gap takes a number"),
        ("min_gap=nan", "not a finite number"),
        ("max_pieces=17", "outside [1, 16]"),
    ]:
        with pytest.raises(ValueError, match=re.escape(says)):
            with_settings(DEFAULT_SEGMENTER, [bad])
    with pytest.raises(SystemExit):  # refused before any field is generated
        main(["--set", "max_pieces=0"])
    assert "max_pieces = 0 is outside [1, 16]" in capsys.readouterr().err


def test_each_heldout_factor_switched_off_changes_only_its_nuisance():
    from apps.check_reading import heldout

    default = heldout.generate_heldout(6, seed=2)
    for factor in heldout.FACTORS:
        variant = heldout.generate_heldout(6, seed=2, neutral=frozenset([factor]))
        assert variant.texts == default.texts, factor
        for v, d in zip(variant.fields, default.fields, strict=True):
            assert np.array_equal(v.digit_rows, d.digit_rows), factor
        assert any(
            v.image.shape != d.image.shape or not np.array_equal(v.image, d.image)
            for v, d in zip(variant.fields, default.fields, strict=True)
        ), factor
    full = heldout.generate_heldout(6, seed=2, neutral=frozenset(["scan"]))
    assert all(
        f.image.shape[0] >= 2 * d.image.shape[0]
        for f, d in zip(full.fields, default.fields, strict=True)
    )
    dark = heldout.generate_heldout(6, seed=2, neutral=frozenset(["ink"]))
    assert all(
        f.image.min() < d.image.min() for f, d in zip(dark.fields, default.fields, strict=True)
    )
    with pytest.raises(ValueError, match="'paper'"):
        heldout.generate_heldout(1, seed=2, neutral=frozenset(["paper"]))


def test_the_punctuation_misreadings_are_named():
    from apps.check_reading.studies.heldout_factors import misreading

    assert misreading("3026", "30.26") == "period dropped"
    assert misreading("$31185.38", "$31,185.38") == "comma dropped"
    assert misreading("45.00", "$5.00") == "$ read as a digit"
    assert misreading("$5.00", "$5.00") is None and misreading("$4.00", "$5.00") is None
    assert misreading("302.6", "30.26") is None and misreading("35.00", "$*5.00") is None


def test_the_factor_study_reads_each_variant_with_three_readers():
    from apps.check_reading import heldout
    from apps.check_reading.api import CheckReader
    from apps.check_reading.sdnn import SdnnReader
    from apps.check_reading.studies.heldout_factors import MISREADINGS, measure

    rows = measure(CheckReader(), SdnnReader(), heldout.generate_heldout(4, seed=3))
    assert {"segmenting", "sdnn", "product"} <= set(rows)
    assert all(rows[r]["fields"] == 4 for r in ("segmenting", "sdnn", "product"))
    assert set(rows["misreadings"]) == set(MISREADINGS)


def test_the_resolution_study_rescales_and_compares_with_x1():
    from apps.check_reading import heldout
    from apps.check_reading.api import CheckReader
    from apps.check_reading.sdnn import SdnnReader
    from apps.check_reading.studies.resolution import measure, rescale

    image = np.full((30, 90), 240, np.uint8)
    image[10:20, 20:70] = 30
    assert rescale(image, 2.0).shape == (60, 180) and rescale(image, 0.5).shape == (15, 45)
    back = rescale(image, -0.5)
    assert back.shape == image.shape and not np.array_equal(back, image)
    assert np.abs(back.astype(int) - image).mean() < 20
    rows = measure(CheckReader(), SdnnReader(), heldout.generate_heldout(3, seed=3), [1.0, 0.5])
    assert rows[1.0]["same"] == 100.0 and 0.0 <= rows[0.5]["same"] <= 100.0
    assert all(rows[f][r]["fields"] == 3 for f in rows for r in ("segmenting", "sdnn", "product"))
