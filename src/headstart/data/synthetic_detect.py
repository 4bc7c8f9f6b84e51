"""A semi-synthetic detection set of any size: real object cut-outs pasted onto real backgrounds.

The objects are the hand-labelled boxes of the shipped sample (``data/sample_detect``: a cup, a cat, a motorcycle,
a rocket, flowers, people), cut out as rectangles (with the bit of their own background the box holds), flipped and
scaled at random. The backgrounds are random crops of real photos and textures from scikit-image (grass, gravel,
brick, Hubble deep field) and scikit-learn (the temple photo, which holds none of the classes). Every box is exact
by construction. It is *not* a natural-image benchmark: it measures how fast a detector learns new objects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from headstart.data.dataset import DataSplits
from headstart.data.detection import SAMPLE_DETECT_DIR, BoxData, Boxes, read_yolo_yaml
from headstart.data.images import load_image

CANVAS = 320


def _cutouts() -> tuple[list[tuple[Image.Image, int]], list[str]]:
    splits = read_yolo_yaml(SAMPLE_DETECT_DIR / "data.yaml")
    found = []
    for part in (splits.train, splits.val):
        for item, target in zip(part.items, part.targets, strict=True):
            image = load_image(item)
            found += [(image.crop(tuple(map(round, box))), int(label))
                      for box, label in zip(target.boxes.tolist(), target.labels.tolist(), strict=True)]
    return found, list(splits.train.classes)


def _backgrounds() -> list[Image.Image]:
    from skimage import data
    from sklearn.datasets import load_sample_images

    arrays = [data.grass(), data.gravel(), data.brick(), data.hubble_deep_field(), load_sample_images().images[0]]
    return [Image.fromarray(a).convert("RGB") for a in arrays]


def make_synthetic(n_images: int, seed: int = 0, max_objects: int = 3) -> BoxData:
    """``n_images`` images of ``CANVAS`` pixels, each with 1 to ``max_objects`` pasted objects (seeded)."""
    rng = np.random.default_rng(seed)
    cutouts, classes = _cutouts()
    backgrounds = _backgrounds()
    items, targets = [], []
    for _ in range(n_images):
        background = backgrounds[rng.integers(len(backgrounds))]
        side = int(rng.integers(CANVAS, min(background.size) + 1)) if min(background.size) > CANVAS else min(background.size)
        x, y = rng.integers(background.width - side + 1), rng.integers(background.height - side + 1)
        canvas = background.crop((x, y, x + side, y + side)).resize((CANVAS, CANVAS), Image.BILINEAR)
        boxes, labels = [], []
        for _ in range(int(rng.integers(1, max_objects + 1))):
            patch, label = cutouts[rng.integers(len(cutouts))]
            scale = rng.uniform(0.2, 0.55) * CANVAS / max(patch.size)
            patch = patch.resize((max(8, round(patch.width * scale)), max(8, round(patch.height * scale))), Image.BILINEAR)
            if rng.random() < 0.5:
                patch = patch.transpose(Image.FLIP_LEFT_RIGHT)
            for _attempt in range(10):  # a place that hides no earlier object by more than a third
                px, py = int(rng.integers(CANVAS - patch.width + 1)), int(rng.integers(CANVAS - patch.height + 1))
                box = [px, py, px + patch.width, py + patch.height]
                if all(_covered(old, box) < 1 / 3 for old in boxes):
                    canvas.paste(patch, (px, py))
                    boxes.append(box)
                    labels.append(label)
                    break
        items.append(canvas)
        targets.append(Boxes(np.asarray(boxes, np.float32).reshape(-1, 4), np.asarray(labels, np.int64)))
    ids = [f"synthetic/{seed}/{i:05d}" for i in range(n_images)]
    return BoxData(items, targets, ids, classes, source=f"semi-synthetic (seed {seed})")


def _covered(old: list[int], new: list[int]) -> float:
    """The share of ``old`` that ``new`` would hide."""
    w = max(0, min(old[2], new[2]) - max(old[0], new[0]))
    h = max(0, min(old[3], new[3]) - max(old[1], new[1]))
    return w * h / ((old[2] - old[0]) * (old[3] - old[1]))


def synthetic_splits(n_train: int, n_val: int = 0, n_test: int = 0, seed: int = 0) -> DataSplits:
    """Train, validation and test sets drawn with different seeds (no image repeats across them)."""
    parts = [make_synthetic(n, seed * 3 + offset) if n else None for offset, n in enumerate((n_train, n_val, n_test))]
    return DataSplits(parts[0], parts[1], parts[2], {"layout": "semi-synthetic", "seed": seed})


def write_yolo(data: DataSplits, root: Path) -> Path:
    """Save splits as a YOLO folder (``data.yaml``, ``images/<split>``, ``labels/<split>``); returns data.yaml."""
    names = {"train": data.train, "val": data.val, "test": data.test}
    lines = []
    for split, part in names.items():
        if part is None:
            continue
        for folder in ("images", "labels"):
            (root / folder / split).mkdir(parents=True, exist_ok=True)
        for index, (image, target) in enumerate(zip(part.items, part.targets, strict=True)):
            image.save(root / "images" / split / f"{index:05d}.jpg", quality=90)
            rows = [f"{c} {(b[0] + b[2]) / 2 / image.width:.6f} {(b[1] + b[3]) / 2 / image.height:.6f} "
                    f"{(b[2] - b[0]) / image.width:.6f} {(b[3] - b[1]) / image.height:.6f}\n"
                    for b, c in zip(target.boxes.tolist(), target.labels.tolist(), strict=True)]
            (root / "labels" / split / f"{index:05d}.txt").write_text("".join(rows))
        lines.append(f"{split}: images/{split}\n")
    names_yaml = "".join(f"  {i}: {c}\n" for i, c in enumerate(data.train.classes))
    (root / "data.yaml").write_text("".join(lines) + "names:\n" + names_yaml)
    return root / "data.yaml"
