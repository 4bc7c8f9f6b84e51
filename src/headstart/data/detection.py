"""Box-labelled images: the YOLO txt layout (``data.yaml`` + ``images/`` + ``labels/``, as Ultralytics) and COCO JSON.

Every reader returns ``DataSplits`` of :class:`BoxData`: image paths with their boxes as ``xyxy`` pixel coordinates
and class indices into ``classes``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml
from PIL import Image

from headstart.data.dataset import DataSplits
from headstart.data.images import IMAGE_EXTENSIONS
from headstart.errors import HeadstartError

SAMPLE_DETECT_DIR = Path(__file__).resolve().parent / "sample_detect"  # nine hand-labelled photos


@dataclass
class Boxes:
    """One image's labels: ``boxes`` (N, 4) xyxy in pixels, ``labels`` (N,) class indices."""

    boxes: np.ndarray
    labels: np.ndarray

    @classmethod
    def empty(cls) -> Boxes:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.int64))


@dataclass
class BoxData:
    """Images (paths or PIL images) with their boxes; the same shape of container as ``LabeledData``."""

    items: list
    targets: list[Boxes]
    ids: list[str]
    classes: list[str]
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def labels(self) -> list[str]:
        """Every box's class name (what a classification report would count)."""
        return [self.classes[i] for t in self.targets for i in t.labels.tolist()]

    def class_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))

    def subset(self, indices) -> BoxData:
        pick = list(indices)
        return BoxData([self.items[i] for i in pick], [self.targets[i] for i in pick], [self.ids[i] for i in pick],
                       self.classes, self.source)

    def join(self, other: BoxData) -> BoxData:
        """This data followed by ``other`` (same classes)."""
        return BoxData(self.items + other.items, self.targets + other.targets, self.ids + other.ids, self.classes,
                       self.source)


def read_detection(source: str | Path) -> DataSplits:
    """A YOLO ``data.yaml`` (or the folder holding it), or a COCO ``.json`` annotation file."""
    path = Path(source).expanduser()
    if path.is_dir():
        found = [p for p in (path / "data.yaml", path / "data.yml") if p.is_file()]
        if not found:
            raise HeadstartError(f"no data.yaml in {path}; detection data is a YOLO data.yaml or a COCO .json file")
        path = found[0]
    if not path.is_file():
        raise HeadstartError(f"detection data not found: {path}; pass a YOLO data.yaml or a COCO .json file")
    if path.suffix.lower() == ".json":
        data = read_coco(path)
        return DataSplits(data, record={"layout": "coco"})
    return read_yolo_yaml(path)


def _names(config: dict, path: Path) -> list[str]:
    names = config.get("names")
    if isinstance(names, dict):
        try:
            return [str(names[i]) for i in range(len(names))]
        except KeyError as exc:
            raise HeadstartError(f"{path}: names must be numbered 0..{len(names) - 1} without gaps") from exc
    if isinstance(names, list) and names:
        return [str(n) for n in names]
    raise HeadstartError(f"{path} has no class names; add `names: [cat, dog]` (or a 0: cat mapping)")


def read_yolo_yaml(path: Path) -> DataSplits:
    """Ultralytics' layout: ``train``/``val``/``test`` folders of images (or .txt lists), labels beside them."""
    try:
        config = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise HeadstartError(f"cannot parse {path}: {str(exc).splitlines()[0]}") from exc
    names = _names(config, path)
    root = (path.parent / str(config.get("path", ""))).resolve()
    parts = {}
    for split in ("train", "val", "test"):
        if config.get(split):
            parts[split] = read_yolo_split(root / str(config[split]), names)
    if "train" not in parts:
        raise HeadstartError(f"{path} has no train entry; add `train: images/train`")
    warnings = [w for part in parts.values() for w in part.warnings]
    return DataSplits(parts["train"], parts.get("val"), parts.get("test"), {"layout": "yolo"}, warnings)


def _label_file(image: Path) -> Path:
    """``.../images/x.jpg`` -> ``.../labels/x.txt`` (the last ``images`` folder in the path), as Ultralytics."""
    parts = list(image.parts)
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    return Path(*parts).with_suffix(".txt")


def read_yolo_split(folder: Path, names: list[str]) -> BoxData:
    if folder.suffix == ".txt" and folder.is_file():
        images = [folder.parent / line.strip() for line in folder.read_text().splitlines() if line.strip()]
    elif folder.is_dir():
        images = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS)
    else:
        raise HeadstartError(f"image folder not found: {folder}; fix the path in data.yaml")
    if not images:
        raise HeadstartError(f"no images in {folder}")
    targets, missing = [], []
    for image in images:
        label = _label_file(image)
        if not label.is_file():
            missing.append(label)
            targets.append(Boxes.empty())
            continue
        with Image.open(image) as opened:
            size = opened.size
        targets.append(read_yolo_labels(label, size, len(names)))
    data = BoxData([str(p) for p in images], targets, [p.relative_to(folder).as_posix() for p in images], names,
                   str(folder))
    if len(missing) == len(images):
        raise HeadstartError(f"no label files for the images in {folder}: expected e.g. {missing[0]} "
                             "(one `class cx cy w h` row per box, normalised to 0-1)")
    if missing:
        data.warnings.append(f"{len(missing)} image(s) in {folder} have no label file (read as no boxes), "
                             f"e.g. {missing[0]}")
    return data


def read_yolo_labels(path: Path, size: tuple[int, int], num_classes: int) -> Boxes:
    """Rows ``class cx cy w h`` (normalised) to pixel xyxy boxes; a bad row names its file and line."""
    boxes, labels = [], []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        try:
            cls, cx, cy, w, h = int(fields[0]), *map(float, fields[1:5])
            if len(fields) != 5:
                raise ValueError
        except (ValueError, IndexError):
            raise HeadstartError(
                f"{path}, line {number}: '{line.strip()}' is not `class cx cy w h` (an integer and 4 numbers)"
            ) from None
        if not 0 <= cls < num_classes:
            raise HeadstartError(f"{path}, line {number}: class {cls} is not in data.yaml's names (0..{num_classes - 1})")
        if not (0 <= cx <= 1 and 0 <= cy <= 1 and 0 < w <= 1 and 0 < h <= 1):
            raise HeadstartError(f"{path}, line {number}: box values must be normalised to 0-1 (got {line.strip()})")
        boxes.append([(cx - w / 2) * size[0], (cy - h / 2) * size[1], (cx + w / 2) * size[0], (cy + h / 2) * size[1]])
        labels.append(cls)
    if not boxes:
        return Boxes.empty()
    return Boxes(np.clip(np.asarray(boxes, np.float32), 0, [size[0], size[1]] * 2), np.asarray(labels, np.int64))


def read_coco(path: Path) -> BoxData:
    """A COCO instances file: ``images`` (file_name relative to the JSON's folder, or to ``images/`` beside it),
    ``annotations`` (bbox ``[x, y, w, h]`` in pixels) and ``categories``."""
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        categories = sorted(coco["categories"], key=lambda c: c["id"])
        images = coco["images"]
        annotations = coco.get("annotations", [])
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise HeadstartError(f"{path} is not a COCO annotation file ({exc}); it needs images and categories") from exc
    index = {c["id"]: i for i, c in enumerate(categories)}
    per_image: dict[int, list] = {img["id"]: [] for img in images}
    for number, ann in enumerate(annotations):
        if ann.get("category_id") not in index:
            raise HeadstartError(f"{path}: annotation {number} has category_id {ann.get('category_id')}, "
                                 "which is not in categories")
        if ann.get("image_id") not in per_image:
            raise HeadstartError(f"{path}: annotation {number} refers to image_id {ann.get('image_id')}, not in images")
        x, y, w, h = ann["bbox"]
        per_image[ann["image_id"]].append(([x, y, x + w, y + h], index[ann["category_id"]]))
    items, targets = [], []
    for img in images:
        file = path.parent / img["file_name"]
        if not file.is_file() and (path.parent / "images" / img["file_name"]).is_file():
            file = path.parent / "images" / img["file_name"]
        if not file.is_file():
            raise HeadstartError(f"{path}: image {img['file_name']} not found next to the JSON file (or in images/)")
        items.append(str(file))
        rows = per_image[img["id"]]
        targets.append(Boxes(np.asarray([r[0] for r in rows], np.float32).reshape(-1, 4),
                             np.asarray([r[1] for r in rows], np.int64)) if rows else Boxes.empty())
    return BoxData(items, targets, [img["file_name"] for img in images], [str(c["name"]) for c in categories], str(path))
