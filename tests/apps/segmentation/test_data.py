"""Cached data sets: splits use distinct seeds, the cache returns exactly what was generated."""

import numpy as np
import pytest

from apps.segmentation import data


def test_cache_round_trip_is_exact(tmp_path):
    first = data.load_or_generate("horse", "validation", 3, tmp_path)
    files = list(tmp_path.iterdir())
    assert len(files) == 1
    again = data.load_or_generate("horse", "validation", 3, tmp_path)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.labels, again.labels)
    assert again.labels.dtype == np.int64


def test_a_damaged_cache_file_is_regenerated(tmp_path):
    first = data.load_or_generate("embryo", "test", 2, tmp_path)
    (path,) = tmp_path.iterdir()
    path.write_bytes(b"not an npz file")
    again = data.load_or_generate("embryo", "test", 2, tmp_path)
    np.testing.assert_array_equal(first.labels, again.labels)


@pytest.mark.parametrize(
    "edit",
    [
        lambda z: z.update(labels=z["labels"][:, :-1]),
        lambda z: z.update(images=z["images"][0]),
        lambda z: z.update(images=z["images"][:1], labels=z["labels"][:1]),
        lambda z: z.update(images=(z["images"] * 255).astype(np.uint8)),
        lambda z: z.pop("labels"),
    ],
    ids=["labels-shape", "images-2d", "one-image-short", "images-integer", "labels-missing"],
)
def test_a_cache_file_with_members_of_the_wrong_shape_is_regenerated(tmp_path, edit):
    first = data.load_or_generate("embryo", "test", 2, tmp_path)
    (path,) = tmp_path.iterdir()
    with np.load(path) as z:
        members = dict(z)
    edit(members)
    with path.open("wb") as f:
        np.savez(f, **members)
    again = data.load_or_generate("embryo", "test", 2, tmp_path)
    np.testing.assert_array_equal(first.images, again.images)
    np.testing.assert_array_equal(first.labels, again.labels)


def test_splits_are_different_images():
    seeds = {data.seed_of(t, s) for t in data.TASKS for s in data.SPLITS}
    assert len(seeds) == len(data.TASKS) * len(data.SPLITS)
    a = data.generate("embryo", "train", 2)
    b = data.generate("embryo", "test", 2)
    assert (a.labels != b.labels).any()


def test_unknown_task_or_split_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown task 'cats'"):
        data.generate("cats", "train", 1)
    with pytest.raises(ValueError, match="unknown split 'dev'"):
        data.generate("horse", "dev", 1)
