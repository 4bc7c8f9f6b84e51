"""Fashion-MNIST (Zalando, MIT licence): 70,000 28x28 greyscale product photos in 10 classes.

Read offline from the Debian package ``dataset-fashion-mnist``, from a folder holding the four original ``.gz``
files, or downloaded from the original source when a network is there.
"""

from __future__ import annotations

import gzip
import os
import urllib.request
from pathlib import Path

import numpy as np

from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.splits import sample_per_class
from headstart.errors import HeadstartError
from headstart.network import require_network
from headstart.paths import cache_root

CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
SOURCE_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
FILES = {
    split: (f"{kind}-images-idx3-ubyte.gz", f"{kind}-labels-idx1-ubyte.gz")
    for split, kind in (("train", "train"), ("test", "t10k"))
}


def find_fashion_mnist(root: str | Path | None = None, download: bool = True) -> Path:
    """The folder holding the four ``.gz`` files: ``root``, $HEADSTART_FASHION_MNIST, Debian's, or a download."""
    candidates = [Path(p) for p in (root, os.environ.get("HEADSTART_FASHION_MNIST")) if p] + [DEBIAN_DIR]
    for folder in candidates:
        if all((folder / name).is_file() for pair in FILES.values() for name in pair):
            return folder
    if root is not None:
        raise HeadstartError(f"Fashion-MNIST files not found in {root}; expected {', '.join(FILES['train'])} ...")
    cache = cache_root() / "fashion-mnist"
    if all((cache / name).is_file() for pair in FILES.values() for name in pair):
        return cache
    if not download:
        raise HeadstartError("Fashion-MNIST is not installed; run `apt-get install dataset-fashion-mnist`")
    require_network(
        "fashion-mnist.s3-website.eu-central-1.amazonaws.com",
        "Fashion-MNIST",
        "install it offline with `apt-get install dataset-fashion-mnist` or pass its folder",
    )
    cache.mkdir(parents=True, exist_ok=True)
    for name in (n for pair in FILES.values() for n in pair):
        partial = cache / (name + ".part")
        urllib.request.urlretrieve(SOURCE_URL + name, partial)
        partial.replace(cache / name)
    return cache


def read_idx(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images (n, 28, 28) uint8 and label indices (n,) of the ``train`` or ``test`` split."""
    images_name, labels_name = FILES[split]
    with gzip.open(folder / labels_name) as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8)
    with gzip.open(folder / images_name) as handle:
        images = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    if len(images) != len(labels):
        raise HeadstartError(f"damaged Fashion-MNIST files in {folder}: {len(images)} images, {len(labels)} labels")
    return images, labels


def load_fashion_mnist(
    root: str | Path | None = None,
    per_class: int | None = None,
    test_per_class: int | None = None,
    seed: int = 0,
) -> DataSplits:
    """Fashion-MNIST as train and (official) test splits, optionally subsampled per class with ``seed``."""
    folder = find_fashion_mnist(root)
    parts = {}
    for split in ("train", "test"):
        images, labels = read_idx(folder, split)
        data = LabeledData(
            items=list(images),
            labels=[CLASSES[i] for i in labels],
            ids=[f"{split}/{i:05d}" for i in range(len(labels))],
            source=f"fashion-mnist:{folder}",
        )
        limit = per_class if split == "train" else test_per_class
        parts[split] = sample_per_class(data, limit, seed) if limit else data
    record = {"layout": "fashion-mnist", "per_class": per_class, "test_per_class": test_per_class, "seed": seed}
    return DataSplits(parts["train"], None, parts["test"], record)
