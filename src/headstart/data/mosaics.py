"""Fashion-MNIST mosaics: a semi-synthetic multi-label set (issue 29) built from real photos.

Each mosaic is a 2x2 grid of Fashion-MNIST cells (56x56 pixels, greyscale); each cell holds an item or stays black,
0 to 4 items per mosaic (equally likely), and its labels are the set of the classes present (an empty set for a
black mosaic). Training mosaics are made of items of the official training split only, test mosaics of the test
split only, each item used at most once, so that no test photo is ever seen in training. Semi-synthetic: real photos,
arranged by a program; what it measures is whether a model finds several objects in one input.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from headstart.data.dataset import DataSplits, LabelSets
from headstart.data.fashion_mnist import CLASSES, find_fashion_mnist, read_idx
from headstart.data.label_sets import sample_per_label

MOSAICS = {"train": 12_000, "test": 2_000}  # built per split (drawing from 60,000 and 10,000 items)
CELL = 28


def build_mosaics(images: np.ndarray, labels: np.ndarray, count: int, seed: int, split: str) -> LabelSets:
    """``count`` mosaics of ``images`` (n x 28 x 28) with their label sets, drawn with ``seed``."""
    rng = np.random.default_rng(seed)
    order = iter(rng.permutation(len(images)))
    items, sets = [], []
    for _ in range(count):
        mosaic = np.zeros((2 * CELL, 2 * CELL), np.uint8)
        present = set()
        for cell in rng.choice(4, size=int(rng.integers(0, 5)), replace=False):
            index = next(order)
            row, column = divmod(int(cell), 2)
            mosaic[row * CELL : (row + 1) * CELL, column * CELL : (column + 1) * CELL] = images[index]
            present.add(CLASSES[labels[index]])
        items.append(mosaic)
        sets.append(tuple(sorted(present)))
    return LabelSets(items, sets, [f"{split}/mosaic-{i:05d}" for i in range(count)],
                     source=f"fashion-mnist mosaics ({split})")


def load_fashion_mosaics(root: str | Path | None = None, per_class: int | None = None,
                         test_per_class: int | None = None, seed: int = 0) -> DataSplits:
    """Training and test mosaics (``MOSAICS`` of each, fixed: seed 0), then ``per_class`` mosaics per label drawn
    with ``seed`` (each label on at least that many; see sample_per_label)."""
    folder = find_fashion_mnist(root)
    parts = {}
    for offset, split in enumerate(("train", "test")):
        images, labels = read_idx(folder, split)
        data = build_mosaics(images, labels, MOSAICS[split], offset, split)
        limit = per_class if split == "train" else test_per_class
        parts[split] = sample_per_label(data, limit, seed) if limit else data
    record = {"layout": "fashion-mnist mosaics (semi-synthetic: 2x2 grids of real photos)", "per_class": per_class,
              "test_per_class": test_per_class, "seed": seed}
    return DataSplits(parts["train"], None, parts["test"], record)
