import numpy as np
from scipy import ndimage

import gtn
from apps.check_reading import data
from apps.check_reading.normalise import CORE, HEIGHT, normalise
from apps.check_reading.render import FieldStyle
from apps.check_reading.segment import (
    SegmenterSettings,
    _clean,
    blob_cuts,
    find_paths,
    path_cuts,
    segment,
    segment_normalised,
)
from apps.check_reading.truth import segment_truth, true_path


def test_segmentation_graph_is_a_left_to_right_dag_within_limits(small_prepared):
    settings = SegmenterSettings()
    for seg in small_prepared.segmentations[:20]:
        g = seg.graph()
        assert np.all(np.diff(seg.cuts) > 0)
        assert gtn.is_acyclic(g) and np.all(g.dst > g.src)
        left, right = seg.paths[seg.start], seg.paths[seg.end]
        assert np.all(right >= left) and np.all((right > left).any(1))  # cuts never cross
        # pieces: the cuts inside a segment's region, + 1
        le = np.all(seg.paths[:, None] <= seg.paths[None], axis=2)
        inner = le[seg.start] & le[:, seg.end].T
        inner[np.arange(seg.num_segments), seg.start] = False
        inner[np.arange(seg.num_segments), seg.end] = False
        pieces = 1 + inner.sum(1)
        width = right.max(1) - left.min(1)
        within = (pieces <= settings.max_pieces) & (
            width <= settings.max_width * (CORE[1] - CORE[0])
        )
        # the nearest cut to the right of each cut is always reachable: a complete path exists
        nearest = {i: min(np.flatnonzero(le[i] & (np.arange(len(le)) > i))) for i in seg.start}
        kept = np.array([nearest[i] == j for i, j in zip(seg.start, seg.end, strict=True)])
        assert np.all(within | kept)
        assert np.isfinite(float(gtn.min_energy(g)))  # a complete path exists
        assert seg.images.shape == (seg.num_segments, 32, 32) and seg.images.dtype == np.uint8


def test_segmenter_over_segments(small_prepared, small_train):
    cuts = sum(len(s.cuts) - 1 for s in small_prepared.segmentations)
    chars = sum(len(t) for t in small_train.texts)
    assert cuts > 1.2 * chars


def test_true_segmentation_is_a_path_when_characters_are_apart():
    apart = FieldStyle(touch_probability=0.0, broken=0.0, symbol_gap=(0.1, 0.7), jpeg=0.0)
    fields = data.generate("train", 40, seed=8, style=apart)
    found = 0
    for f in fields.fields:
        # the renderer's ownership map goes through the same warp as the image
        norm = normalise(f.image)
        seg = segment_normalised(norm)
        labels, char = segment_truth(seg, norm.warp(f.owner), f.text)
        path = true_path(seg, char, len(f.text))
        if path is not None:
            found += 1
            assert seg.start[path[0]] == 0 and seg.end[path[-1]] == len(seg.cuts) - 1
            assert all(seg.end[a] == seg.start[b] for a, b in zip(path, path[1:], strict=False))
            assert "".join(f.text[c] for c in char[path]) == f.text
    assert found >= 0.85 * len(fields)


def test_truth_labels_characters_and_rubbish(small_train, small_prepared):
    labels = np.concatenate(small_prepared.segment_labels)
    assert (labels == 14).mean() > 0.2 and ((labels >= 0) & (labels < 14)).mean() > 0.15


def test_blank_image_has_no_segments():
    seg = segment(np.full((40, 100), 250, np.uint8))
    assert seg.num_segments == 0


def overhang_field() -> tuple[np.ndarray, np.ndarray]:
    """A "7"-like glyph whose top arm reaches over the next glyph (a blob below it): they
    overlap in columns, so no straight cut separates them, but a gap runs down between them.
    (image uint8 [H, W], owner int8 [H, W])"""
    owner = np.full((110, 120), -1, np.int8)
    owner[15:35, 20:70] = 0  # the arm
    owner[15:90, 20:27] = 0  # the stem
    owner[62:90, 50:76] = 1  # the blob under the arm's end
    image = np.where(owner >= 0, 0, 255).astype(np.uint8)
    return image, owner


def isolated(seg, norm, owner, text):
    return set(segment_truth(seg, norm.warp(owner), text)[1].tolist()) - {-1}


def test_shortest_path_cuts_separate_glyphs_that_overlap_in_columns():
    image, owner = overhang_field()
    norm = normalise(image)
    straight = segment_normalised(norm, SegmenterSettings(curve_radius=0.0))
    assert isolated(straight, norm, owner, "71") == set()  # the rule is needed here
    seg = segment_normalised(norm)
    assert isolated(seg, norm, owner, "71") == {0, 1}
    _, char = segment_truth(seg, norm.warp(owner), "71")
    assert true_path(seg, char, 2) is not None
    curved = np.ptp(seg.paths, axis=1) > 0
    assert curved.any() and np.all(np.diff(seg.paths.mean(1)) > 0)


def test_candidate_cuts_contain_the_true_segmentation_of_most_broad_fields(small_train):
    found = 0
    for f in small_train.fields:
        norm = normalise(f.image)
        seg = segment_normalised(norm)
        _, char = segment_truth(seg, norm.warp(f.owner), f.text)
        found += true_path(seg, char, len(f.text)) is not None
    assert found >= 0.55 * len(small_train)


def period_field() -> tuple[np.ndarray, np.ndarray]:
    """ "1.1" and a tall stroke: a "1" with a foot, a period close after it, a "1" close after
    the period. The tall stroke widens the ink band, so the two straight cuts in the narrow
    gaps around the period are closer than ``min_gap`` and one is merged away.
    (image uint8 [H, W], owner int8 [H, W])"""
    owner = np.full((120, 190), -1, np.int8)
    owner[20:95, 20:28] = 0  # the "1"
    owner[87:95, 20:50] = 0  # its foot
    owner[84:95, 55:65] = 1  # the period, on the baseline
    owner[20:95, 70:78] = 2  # the next "1"
    owner[5:115, 108:112] = 3  # the tall stroke
    return np.where(owner >= 0, 0, 255).astype(np.uint8), owner


def test_a_period_close_to_its_neighbours_gets_a_cut_on_each_side():
    image, owner = period_field()
    norm = normalise(image)
    text = "1.11"
    without = segment_normalised(norm, SegmenterSettings(blob_size=0.0))
    assert 1 not in isolated(without, norm, owner, text)  # the blob cuts are needed here
    seg = segment_normalised(norm)
    assert 1 in isolated(seg, norm, owner, text)
    assert seg.num_segments > without.num_segments


def test_blob_cuts_pass_beside_periods_on_the_baseline_but_not_beside_a_dotted_rule():
    ink = np.zeros((HEIGHT, 120), np.float32)
    ink[CORE[0] : CORE[1], 10:16] = 1.0  # a digit's stem
    ink[CORE[1] - 6 : CORE[1], 19:25] = 1.0  # a period against it, on the baseline
    for x in range(40, 110, 12):  # a dotted rule below the baseline
        ink[CORE[1] + 6 : CORE[1] + 8, x : x + 6] = 1.0
    _, components, _ = _clean(ink, 1)
    band = (CORE[0], CORE[1] + 8)
    paths = blob_cuts(ink, components, band, 10, SegmenterSettings())
    assert paths.shape == (2, HEIGHT)  # the dashes get none
    left, right = paths[:, CORE[1] - 3]
    margin = SegmenterSettings().blob_margin
    assert left == 19 - 1 - margin and right == 25 + margin  # beside the period, at its row
    period = slice(CORE[1] - 6, CORE[1])
    assert np.all(paths[0, period] < 19) and np.all(paths[1, period] >= 25)
    assert np.all(paths[0, CORE[0] : CORE[1]] >= 16)  # and clear of the stem
    assert blob_cuts(ink, components, band, 10, SegmenterSettings(blob_size=0.0)).shape[0] == 0


def test_an_anchored_path_cut_passes_its_seed_at_its_row():
    ink = np.zeros((HEIGHT, 60), np.float32)
    ink[:, 30] = 1.0  # a wall at the seed's column except at row 40
    ink[40, 30] = 0.0
    free, _ = path_cuts(ink, np.array([30]), 5, (0, HEIGHT))
    pinned, cost = path_cuts(ink, np.array([30]), 5, (0, HEIGHT), np.array([20]))
    assert free[0, 20] != 30  # left alone, the path avoids the wall
    assert pinned[0, 20] == 30 and cost[0] >= 1.0  # through the anchor, across the wall


def test_with_blob_strong_a_period_joined_to_its_digit_by_faint_ink_gets_its_cuts():
    ink = np.zeros((HEIGHT, 60), np.float32)
    ink[CORE[0] : CORE[1], 10:16] = 1.0  # a digit's stem
    ink[CORE[1] - 6 : CORE[1], 22:28] = 1.0  # a period
    ink[CORE[1] - 4 : CORE[1] - 2, 16:22] = 0.5  # a faint smear joining them
    settings = SegmenterSettings(blob_strong=0.6)
    faint_kept = _clean(ink, 1)[1]
    assert blob_cuts(ink, faint_kept, (CORE[0], CORE[1]), 10, settings).shape[0] == 0
    dark = ndimage.label(ink > 0.6, structure=np.ones((3, 3)))[0]
    wanted = blob_cuts(ink, dark, (CORE[0], CORE[1]), 10, settings)
    assert wanted.shape[0] == 2

    def has_all(paths):
        return all(np.any(np.all(paths == w, axis=1)) for w in wanted)

    assert has_all(find_paths(ink, settings)[0])
    assert not has_all(find_paths(ink, SegmenterSettings(blob_strong=0.0))[0])


def test_a_narrow_glyph_between_wide_gaps_gets_a_segment_from_gap_to_gap():
    # "101", 70 px tall (the core band), far apart: the "0"'s segment runs from the middle of
    # one gap to the middle of the next, about 2.35 core heights, and a cut at its waist
    # (a projection minimum) means the nearest-cut rule does not keep it anyway
    owner = np.full((110, 360), -1, np.int8)
    owner[20:90, 20:27] = 0
    owner[20:90, 160:190] = 1
    owner[26:84, 166:184] = -1
    owner[20:90, 330:337] = 2
    image = np.where(owner >= 0, 0, 255).astype(np.uint8)
    norm = normalise(image)
    for settings, found in ((SegmenterSettings(), True), (SegmenterSettings(max_width=2.0), False)):
        seg = segment_normalised(norm, settings)
        _, char = segment_truth(seg, norm.warp(owner), "101")
        assert (true_path(seg, char, 3) is not None) == found
