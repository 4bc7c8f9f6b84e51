import pytest

from headstart.data.fashion_mnist import CLASSES, DEBIAN_DIR, load_fashion_mnist

pytestmark = pytest.mark.skipif(not DEBIAN_DIR.is_dir(), reason="apt-get install dataset-fashion-mnist")


def test_full_dataset_has_the_official_splits():
    splits = load_fashion_mnist()
    assert len(splits.train) == 60_000 and len(splits.test) == 10_000
    assert splits.classes == sorted(CLASSES)
    assert splits.test.class_counts() == {c: 1000 for c in CLASSES}
    assert splits.train.items[0].shape == (28, 28)


def test_subsampling_per_class():
    splits = load_fashion_mnist(per_class=10, test_per_class=5, seed=1)
    assert splits.train.class_counts() == {c: 10 for c in CLASSES}
    assert len(splits.test) == 50
    assert splits.train.ids[0].startswith("train/")
