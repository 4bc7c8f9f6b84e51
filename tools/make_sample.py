"""Regenerate the embedded sample: a seeded slice of Fashion-MNIST (MIT licence) as an image folder.

Run from the repository root: ``python tools/make_sample.py``. The sample ships inside the package so that
``headstart demo`` and the tests work on real photos with no download.
"""

from pathlib import Path

from PIL import Image

from headstart.data.fashion_mnist import load_fashion_mnist

TRAIN_PER_CLASS, TEST_PER_CLASS, SEED = 30, 20, 2024
OUT = Path("src/headstart/data/sample/fashion-mnist")

splits = load_fashion_mnist(per_class=TRAIN_PER_CLASS, test_per_class=TEST_PER_CLASS, seed=SEED)
for name, part in (("train", splits.train), ("test", splits.test)):
    for array, label, item_id in zip(part.items, part.labels, part.ids, strict=True):
        target = OUT / name / label / f"{item_id.split('/')[1]}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(array, mode="L").save(target, optimize=True)
print(f"wrote {len(splits.train)} train and {len(splits.test)} test images to {OUT}")
