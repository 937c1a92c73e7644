"""The check reader's studies (apps.check_reading.studies), on a few generated fields."""

import numpy as np
import pytest

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


def test_the_segmentation_study_counts_covered_fields_and_names_a_cause_for_each_miss(fields):
    from apps.check_reading.studies.segmentation import STRAIGHT_ONLY, measure

    r = measure(fields, causes=True)
    assert 0 <= r["fails"] <= len(fields) and r["segments"] >= r["cuts"] > 0
    assert r["coverage"] == pytest.approx(100.0 * (len(fields) - r["fails"]) / len(fields))
    assert (r["fails"] > 0) == bool(r["causes"])  # every missed field has at least one cause
    straight = measure(fields, STRAIGHT_ONLY, causes=False)
    assert straight["segments"] <= r["segments"]  # curved cuts only add candidates
