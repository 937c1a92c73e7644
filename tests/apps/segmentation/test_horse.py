"""The horse task: exact binary silhouettes under random crops, deterministic per seed."""

import numpy as np

from apps.segmentation import horse


def test_labels_are_binary_and_show_the_horse_and_ground():
    images, labels = horse.generate(6, seed=3)
    assert labels.shape == (6, *horse.DEFAULT_SETTINGS.size)
    assert set(np.unique(labels).tolist()) == {0, 1}
    fraction = labels.mean((1, 2))
    assert (fraction > 0.1).all() and (fraction < 0.9).all()
    assert images.dtype == np.float32 and 0 <= images.min() and images.max() <= 1


def test_the_label_is_a_crop_of_the_silhouette():
    # Every crop's horse pixels come from the (scaled) silhouette: it has a single main body.
    from scipy import ndimage

    _, labels = horse.generate(4, seed=5)
    for m in labels:
        sizes = np.bincount(ndimage.label(m)[0].ravel())[1:]
        assert sizes.max() >= 0.6 * m.sum()


def test_deterministic_per_seed_and_seeds_differ():
    a = horse.generate(3, seed=11)
    b = horse.generate(3, seed=11)
    c = horse.generate(3, seed=12)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert (a[1] != c[1]).any()
