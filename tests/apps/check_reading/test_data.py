import numpy as np
import pytest

from apps.check_reading import data, heldout_phone, mnist
from apps.check_reading.amounts import is_valid_amount
from apps.check_reading.render import FieldStyle

from .rendering import touching_fraction


def test_split_is_last_100_of_each_class_block():
    test_rows = mnist.split_indices("test")
    train_rows = mnist.split_indices("train")
    assert len(test_rows) == 1000 and len(train_rows) == 4000
    assert not set(test_rows) & set(train_rows)
    assert set(test_rows) == {c * 500 + k for c in range(10) for k in range(400, 500)}
    _, labels, _ = mnist.digits("test")
    assert np.array_equal(np.bincount(labels), np.full(10, 100))


def test_fields_use_only_their_split_digits():
    test_rows = set(mnist.split_indices("test").tolist())
    for split in ("train", "test"):
        fields = data.generate(split, 40, seed=3)
        rows = np.concatenate([f.digit_rows for f in fields.fields])
        rows = rows[rows >= 0]
        assert rows.size > 40
        inside = np.isin(rows, list(test_rows))
        assert inside.all() if split == "test" else not inside.any()


def test_fields_are_valid_amounts_rendered_dark_on_white():
    fields = data.generate("train", 50, seed=4)
    for f in fields.fields:
        assert is_valid_amount(f.text)
        assert f.image.dtype == np.uint8 and f.image.shape[0] >= 12
        assert np.median(f.image) > 140 and f.image.min() < np.median(f.image) - 40
        assert f.owner.shape == f.image.shape and f.boxes.shape == (len(f.text), 2)
        assert set(np.unique(f.owner)) <= set(range(-1, len(f.text)))


def test_every_character_of_the_text_shows_ink():
    # A character with no ink of its own would make the text unreadable from the image
    # (broken strokes once wiped out small periods).
    fields = data.generate("train", 300, seed=6)
    for i, f in enumerate(fields.fields):
        owned = np.bincount(f.owner[f.owner >= 0].astype(np.int64), minlength=len(f.text))
        assert owned.min() > 0, f"field {i} {f.text!r}: character {owned.argmin()} has no ink"


def test_at_least_a_quarter_of_adjacent_digit_pairs_touch():
    fields = data.generate("train", 200, seed=5)
    frac = touching_fraction([f.boxes for f in fields.fields], fields.texts)
    assert 0.25 <= frac <= 0.6


def test_generation_is_deterministic_and_cached_atomically(tmp_path):
    a = data.load_or_generate("test", 12, 7, cache_dir=tmp_path)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and not any(p.name.startswith(".") for p in files)
    b = data.load_or_generate("test", 12, 7, cache_dir=tmp_path)
    c = data.generate("test", 12, 7)
    for x, y, z in zip(a.fields, b.fields, c.fields, strict=True):
        assert x.text == y.text == z.text
        assert np.array_equal(x.image, y.image) and np.array_equal(x.image, z.image)
        assert np.array_equal(x.owner, y.owner) and np.array_equal(x.digit_rows, y.digit_rows)


def test_cache_key_changes_with_settings():
    base = data.cache_key("train", 10, 0, FieldStyle())
    assert base != data.cache_key("train", 10, 1, FieldStyle())
    assert base != data.cache_key("train", 10, 0, FieldStyle(broken=0.2))
    assert base != data.cache_key("test", 10, 0, FieldStyle())


def test_damaged_cache_file_is_regenerated(tmp_path):
    a = data.load_or_generate("train", 5, 2, cache_dir=tmp_path)
    (path,) = list(tmp_path.iterdir())
    path.write_bytes(b"not an npz")
    b = data.load_or_generate("train", 5, 2, cache_dir=tmp_path)
    assert b.texts == a.texts


def _rewrite(edit):
    """A damage that rewrites the cache file with ``edit`` applied to its members."""

    def damage(path):
        with np.load(path) as z:
            members = dict(z)
        edit(members)
        with path.open("wb") as f:
            np.savez(f, **members)

    return damage


def _overwrite(path):  # 60 bytes of the archive (a member's header and data) overwritten
    data = bytearray(path.read_bytes())
    data[200:260] = b"\xff" * 60
    path.write_bytes(bytes(data))


@pytest.mark.parametrize(
    "damage",
    [
        lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
        _overwrite,
        _rewrite(lambda z: z.update(shapes=np.array([5, 5]))),
        _rewrite(lambda z: z.update(shapes=-z["shapes"])),
        _rewrite(lambda z: z.update(images=z["images"][:-1])),
        _rewrite(lambda z: z.update(boxes=z["boxes"].ravel())),
        _rewrite(lambda z: z.update(rows=z["rows"][:-1])),
        _rewrite(lambda z: z.update(texts=np.arange(2))),
        _rewrite(lambda z: z.pop("owners")),
    ],
    ids=["truncated", "overwritten", "shapes-1d", "negative-shapes", "images-short"]
    + ["boxes-1d", "rows-short", "texts-numbers", "owners-missing"],
)
def test_every_damage_to_a_cache_file_regenerates_it(tmp_path, monkeypatch, damage):
    made = data.load_or_generate("train", 2, 0, cache_dir=tmp_path)
    (path,) = tmp_path.iterdir()
    damage(path)
    again = data.load_or_generate("train", 2, 0, cache_dir=tmp_path)
    monkeypatch.setattr(data, "generate", lambda *args: pytest.fail("not replaced"))
    replaced = data.load_or_generate("train", 2, 0, cache_dir=tmp_path)
    for x, y, z in zip(made.fields, again.fields, replaced.fields, strict=True):
        assert x.text == y.text == z.text and np.array_equal(x.image, z.image)
        assert np.array_equal(x.boxes, y.boxes) and np.array_equal(x.boxes, z.boxes)
        assert np.array_equal(x.owner, z.owner) and np.array_equal(x.digit_rows, z.digit_rows)


def test_every_heldout_style_is_cached_apart_under_its_name_and_version(tmp_path, monkeypatch):
    assert list(data.HELDOUT_STYLES) == ["ledger", "phone"]  # the order of the reports
    sets = {
        style: data.load_or_generate_heldout(3, 5, cache_dir=tmp_path, style=style)
        for style in data.HELDOUT_STYLES
    }
    assert sorted(p.name.split("-")[0] for p in tmp_path.iterdir()) == ["ledger", "phone"]
    assert data.load_or_generate_heldout(3, 5, cache_dir=tmp_path).texts == sets["ledger"].texts
    for style, fields in sets.items():
        module = data.HELDOUT_STYLES[style]
        made = module.generate_heldout(3, 5)
        with monkeypatch.context() as m:  # read back from the cache, not generated again
            m.setattr(module, "generate_heldout", lambda n, seed: pytest.fail("not cached"))
            again = data.load_or_generate_heldout(3, 5, cache_dir=tmp_path, style=style)
        for x, y, z in zip(fields.fields, again.fields, made.fields, strict=True):
            assert x.text == y.text == z.text and np.array_equal(x.owner, z.owner)
            assert np.array_equal(x.image, y.image) and np.array_equal(x.image, z.image)
    monkeypatch.setattr(heldout_phone, "VERSION", heldout_phone.VERSION + 1)
    data.load_or_generate_heldout(3, 5, cache_dir=tmp_path, style="phone")
    assert len(list(tmp_path.iterdir())) == 3  # a new version never reads the old file
    with pytest.raises(ValueError, match="no held-out style 'pen'"):
        data.load_or_generate_heldout(3, 5, cache_dir=tmp_path, style="pen")


def test_prepared_strips_are_the_sdnn_strips_of_the_fields(small_train, small_prepared):
    from apps.check_reading.sdnn import field_strip

    assert len(small_prepared.strips) == len(small_train)
    for f, strip in zip(small_train.fields[:10], small_prepared.strips, strict=False):
        np.testing.assert_array_equal(strip, field_strip(f.image))
    assert len(small_prepared.head(4).strips) == 4


def test_prepare_in_worker_processes_equals_prepare_in_one(
    small_train, small_prepared, monkeypatch
):
    monkeypatch.setattr(data, "PARALLEL_FIELDS", 8)
    sub = data.FieldSet(small_train.split, small_train.fields[:12])
    shared = data.prepare(sub, workers=2)
    assert len(shared.segmentations) == 12
    for a, b in zip(shared.segmentations, small_prepared.segmentations, strict=False):
        for name in ("cuts", "start", "end", "images", "aspect", "paths"):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    for x, y in zip(shared.segment_labels, small_prepared.segment_labels, strict=False):
        np.testing.assert_array_equal(x, y)
    for x, y in zip(shared.strips, small_prepared.strips, strict=False):
        np.testing.assert_array_equal(x, y)
    assert shared.targets == small_prepared.targets[:12]
