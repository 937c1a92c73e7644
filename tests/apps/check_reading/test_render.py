"""Each parameter of the broad field renderer does what its name says (measured on the images,
the ownership maps and the ink boxes it returns)."""

from dataclasses import replace

import numpy as np
import pytest

from apps.check_reading import glyphs, mnist
from apps.check_reading.normalise import normalise
from apps.check_reading.render import (
    DEFAULT_STYLE,
    FieldStyle,
    _coarse_scan,
    jpeg_round_trip,
    render_field,
)

from .rendering import LEGACY_STYLE, touching_fraction

# A quiet style: every nuisance off, so that one parameter at a time can be switched on.
QUIET = replace(
    LEGACY_STYLE,
    digit_px=(30.0, 30.0),
    scale=0.0,
    baseline_jitter=0.0,
    slant=(0.0, 0.0),
    slant_jitter=0.0,
    touch_probability=0.0,
    gap=(0.3, 0.3),
    symbol_gap=(0.3, 0.3),
    broken=0.0,
    margin=(0.5, 0.5),
    paper=(1.0, 1.0),
    ink=(1.0, 1.0),
    noise=(0.0, 0.0),
    specks_per_pixel=(0.0, 0.0),
)


@pytest.fixture(scope="module")
def pool():
    return mnist.digits("train")


def fields(pool, style, n=12, text="4071.58", seed=0):
    rng = np.random.default_rng(seed)
    return [render_field(text, pool, rng, style) for _ in range(n)]


def digit_ink_rows(field, k):
    rows = np.flatnonzero((field.owner == k).any(1))
    return rows[0], rows[-1] + 1


def test_rendering_is_seeded(pool):
    a, b = fields(pool, DEFAULT_STYLE, 3), fields(pool, DEFAULT_STYLE, 3)
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x.image, y.image) and np.array_equal(x.owner, y.owner)


def test_every_default_field_shows_every_character(pool):
    rng = np.random.default_rng(5)
    from apps.check_reading.amounts import sample_amount

    for _ in range(80):
        f = render_field(sample_amount(rng), pool, rng, DEFAULT_STYLE)
        owned = np.bincount(f.owner[f.owner >= 0].astype(np.int64), minlength=len(f.text))
        assert owned.min() > 0, f.text


def test_spacing_from_wide_gaps_to_heavy_overlap(pool):
    text = "4071"
    apart = fields(pool, replace(QUIET, gap=(0.8, 0.9)), text=text)
    touching = fields(pool, replace(QUIET, touch_probability=1.0, overlap=0.3), text=text)
    assert touching_fraction([f.boxes for f in apart], [text] * 12) == 0
    assert touching_fraction([f.boxes for f in touching], [text] * 12) > 0.8


def test_periods_may_sit_close_to_their_neighbours(pool):
    def gap_to_period(style):
        out = []
        for f in fields(pool, style, text="40.71"):
            out.append(f.boxes[2, 0] - f.boxes[1, 1])  # period's left - digit's right
        return np.mean(out)

    assert gap_to_period(replace(QUIET, symbol_gap=(-0.2, -0.2))) < 0
    assert gap_to_period(replace(QUIET, symbol_gap=(0.6, 0.6))) > 5


def test_point_gap_spaces_periods_and_commas_alone(pool):
    text = "$4,071.58"
    style = replace(QUIET, symbol_gap=(0.6, 0.6), point_gap=(-0.2, -0.2))
    for f in fields(pool, style, text=text):
        after_dollar = f.boxes[1, 0] - f.boxes[0, 1]
        beside_points = [f.boxes[i + 1, 0] - f.boxes[i, 1] for i in (1, 2, 5, 6)]
        assert after_dollar > 5 and max(beside_points) <= 0  # the clamp keeps a third clear
    unset = fields(pool, replace(style, point_gap=None), text=text)
    same = fields(pool, replace(style, point_gap=(0.6, 0.6)), text=text)
    for x, y in zip(unset, same, strict=True):  # None: the periods take symbol_gap
        assert np.array_equal(x.image, y.image)


def test_digit_px_sets_the_digit_height(pool):
    for px in (16.0, 48.0):
        f = fields(pool, replace(QUIET, digit_px=(px, px)), n=4)
        heights = [np.subtract(*digit_ink_rows(x, 0)[::-1]) for x in f]
        assert abs(np.mean(heights) - px) <= 0.1 * px + 1


def test_aspect_widens_the_digits(pool):
    def width(a):
        f = fields(pool, replace(QUIET, aspect=(a, a)), text="0000")
        return np.mean([np.diff(x.boxes, axis=1).mean() for x in f])

    assert width(1.3) > 1.5 * width(0.75)


def test_baseline_drift_moves_the_digits_up_and_down(pool):
    def spread(drift):
        out = []
        for f in fields(pool, replace(QUIET, baseline_drift=drift), text="000000"):
            out.append(np.std([digit_ink_rows(f, k)[1] for k in range(6)]))
        return np.mean(out)

    assert spread(0.0) <= 1.0 and spread(0.15) > 3.0


def test_slant_is_the_shear_the_normaliser_finds(pool):
    # the same digits (same seed) written upright and at two shears; the digits' own slant
    # cancels in the difference (36 fields: with 12 the median moves by 0.15 between seeds)
    def found(s):
        shear = fields(pool, replace(QUIET, slant=(s, s)), n=36)
        return np.array([normalise(f.image).slant for f in shear])

    upright = found(0.0)
    for s in (-0.2, 0.4):
        assert abs(np.median(found(s) - upright) - s) <= 0.1, s


def test_rotation_tilts_the_line_of_characters(pool):
    def slope(angle):
        out = []
        for f in fields(pool, replace(QUIET, rotation=(angle, angle)), text="000000"):
            ys, xs = np.nonzero(f.owner >= 0)
            out.append(np.polyfit(xs, ys, 1)[0])
        return np.median(out)

    assert abs(slope(0.0)) < 0.02
    # scipy's rotation by a positive angle lifts the right end (image rows grow downwards)
    assert abs(slope(6.0) + np.tan(np.radians(6.0))) < 0.04


def test_stroke_thickens_and_thins_the_digits(pool):
    def area(change):
        f = fields(pool, replace(QUIET, stroke=(change, change)), text="4071")
        return np.mean([(x.owner >= 0).sum() for x in f])

    assert area(0.06) > 1.3 * area(0.0) > 1.3 * area(-0.03)


def test_symbols_are_written_with_the_digits_pen(pool):
    # "$" and "*" (characters 0 and 1) thin and thicken with the digits; the dot stays visible
    def areas(change):
        f = fields(pool, replace(QUIET, stroke=(change, change)), text="$*4.5")
        return np.mean([[(x.owner == k).sum() for k in (0, 1, 3)] for x in f], 0)

    thin, plain, thick = areas(-0.03), areas(0.0), areas(0.06)
    assert (thick[:2] > 1.3 * plain[:2]).all() and (plain[:2] > 1.3 * thin[:2]).all()
    assert thin[2] >= 4
    ink = [glyphs.symbol_glyph("$", 30, np.random.default_rng(2), 0, c)[0].sum() for c in (-2, 2)]
    assert ink[1] > 1.5 * ink[0]


def test_restroke_keeps_the_shape_and_keeps_thin_glyphs():
    ink = np.zeros((20, 20), np.float32)
    ink[5:15, 9:11] = 1.0
    assert glyphs.restroke(ink, 1.5).shape == ink.shape
    assert glyphs.restroke(ink, 1.5).sum() > ink.sum()
    assert glyphs.restroke(ink, -3.0).max() >= 0.5  # would vanish: left as it was


def test_ink_darkness_and_paper_tint(pool):
    faint = fields(pool, replace(QUIET, ink=(0.4, 0.4)), n=2)
    dark = fields(pool, replace(QUIET, ink=(1.0, 1.0)), n=2)
    assert min(f.image.min() for f in faint) >= 140 and max(f.image.min() for f in dark) <= 10
    tinted = fields(pool, replace(QUIET, paper=(0.8, 0.8)), n=1)[0]
    assert abs(np.median(tinted.image) - 204) <= 2


def test_noise_specks_blur_and_gamma(pool):
    def paper_std(style):
        f = fields(pool, style, n=1)[0]
        return f.image[: digit_ink_rows(f, 0)[0] - 2].std()  # the blank top margin

    grey = replace(QUIET, paper=(0.85, 0.85))  # no clipping at white
    assert paper_std(grey) < 1 and paper_std(replace(grey, noise=(0.08, 0.08))) > 15
    clean = fields(pool, QUIET, n=1)[0]
    specked = fields(pool, replace(QUIET, specks_per_pixel=(0.01, 0.01)), n=1)[0]
    dark_paper = lambda f: (f.image[: digit_ink_rows(f, 0)[0] - 2] < 180).sum()  # noqa: E731
    assert dark_paper(specked) > dark_paper(clean) + 20

    def sharpness(f):
        return np.abs(np.diff(f.image.astype(float), axis=1)).mean()

    blurred = fields(pool, replace(QUIET, blur=(0.08, 0.08)), n=1)[0]
    assert sharpness(blurred) < 0.7 * sharpness(clean)
    light = fields(pool, replace(QUIET, paper=(0.9, 0.9), gamma=(0.5, 0.5)), n=1)[0]
    heavy = fields(pool, replace(QUIET, paper=(0.9, 0.9), gamma=(2.0, 2.0)), n=1)[0]
    assert np.median(light.image) >= 240 and np.median(heavy.image) <= 210  # 0.9 ** 0.5, 0.9 ** 2


def test_jpeg_round_trip_leaves_block_artefacts(pool):
    f = fields(pool, replace(QUIET, noise=(0.03, 0.03)), n=1)[0]
    low = jpeg_round_trip(f.image, 10)
    assert low.shape == f.image.shape and np.abs(low.astype(int) - f.image).mean() > 2
    style = replace(QUIET, jpeg=1.0, jpeg_quality=(10, 10))
    assert not np.array_equal(fields(pool, style, n=1)[0].image, f.image)


def test_guide_lines_underline_and_box(pool):
    def line_rows(f):  # rows inked over most of the width (dashed lines: half of it)
        return ((f.image < 200).mean(1) > 0.45).sum()

    assert all(line_rows(f) == 0 for f in fields(pool, QUIET, n=3))
    assert all(line_rows(f) > 0 for f in fields(pool, replace(QUIET, underline=1.0), n=3))
    assert all(line_rows(f) > 0 for f in fields(pool, replace(QUIET, top_line=1.0), n=3))
    boxed = fields(pool, replace(QUIET, box=1.0), n=3)
    for f in boxed:
        dark_cols = (f.image < 200).mean(0) > 0.5
        assert dark_cols[: f.boxes[0, 0]].any() and dark_cols[f.boxes[-1, 1] :].any()


def test_printed_lines_range_from_faint_to_black(pool):
    def line_grey(darkness):  # the median grey of the rows inked over most of the width
        style = replace(QUIET, underline=1.0, dashed=0.0, line_ink=(darkness, darkness))
        greys = []
        for f in fields(pool, style, n=3):
            rows = (f.image < 250).mean(1) > 0.9
            greys.append(np.median(f.image[rows]))
        return np.median(greys)

    assert line_grey(0.15) > 200 > 100 > line_grey(1.0)


def test_a_coarse_scan_turns_fine_strokes_grey(pool):
    # digits 12-30 px; a coarse scan at 1/2 of the resolution, never below 12 px
    fine = replace(QUIET, stroke=(-0.03, -0.03), digit_px=(12.0, 30.0))
    coarse_style = replace(fine, coarse_scan=1.0, scan_factor=(2.0, 2.0))
    scanned = 0
    for seed in range(8):  # one field per seed: the same draws until the scan
        s, c = (fields(pool, style, n=1, seed=seed)[0] for style in (fine, coarse_style))
        assert c.owner.shape == c.image.shape and (c.boxes[:, 1] <= c.image.shape[1]).all()
        assert s.image.shape[0] / 2 - 1 <= c.image.shape[0] <= s.image.shape[0]
        scanned += c.image.shape[0] < s.image.shape[0]
    assert scanned >= 3
    ink, owner = np.zeros((20, 20), np.float32), np.full((20, 20), -1, np.int8)
    ink[:, 9], owner[:, 9] = 1.0, 0  # a stroke one pixel wide
    grey, owned = _coarse_scan(ink, owner, 2.0)
    assert grey.shape == owned.shape == (10, 10) and grey.max() == pytest.approx(0.5)
    assert (owned == 0).sum() == 10 and grey.sum() == pytest.approx(ink.sum() / 4)


def test_margins_make_canvases_of_any_height(pool):
    tight = fields(pool, replace(QUIET, margin=(0.05, 0.05)), n=3)
    wide = fields(pool, replace(QUIET, margin=(1.5, 1.5)), n=3)
    assert max(f.image.shape[0] for f in tight) < 0.7 * min(f.image.shape[0] for f in wide)
    for f in wide:
        top, _ = digit_ink_rows(f, 0)
        assert top >= 1.2 * 30


def test_symbol_styles_differ_and_are_checked():
    for char in "$*.,":
        inks = [glyphs.symbol_glyph(char, 30, np.random.default_rng(1), s)[0] for s in range(3)]
        sizes = {ink.shape for ink in inks}
        assert len(sizes) > 1 or not np.allclose(inks[0], inks[1])
    with pytest.raises(ValueError, match="symbol style 3"):
        glyphs.symbol_glyph("$", 30, np.random.default_rng(1), 3)


def test_symbol_styles_restrict_the_drawings(pool):
    one = replace(QUIET, symbol_styles=(1,))
    f = fields(pool, one, n=1, text="$1")[0]
    g = glyphs.symbol_glyph("$", 30, np.random.default_rng(0), 1)[0]
    assert isinstance(FieldStyle().symbol_styles, tuple) and g.size and f.image.size
