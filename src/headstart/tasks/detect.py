"""Object detection: box-labelled images (YOLO txt or COCO JSON), letterboxed to the detector's square input,
with box-aware augmentation (torchvision transforms v2) when training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from headstart.data.dataset import DataSplits
from headstart.data.detection import BoxData, Boxes, read_detection
from headstart.data.images import load_image
from headstart.detection.boxes import letterbox, to_tensor
from headstart.errors import HeadstartError
from headstart.tasks.base import register_task
from headstart.tasks.image import ImageTask

SAMPLE_DETECT_DIR = Path(__file__).resolve().parent.parent / "data" / "sample_detect"
STRIDE = 32  # the coarsest YOLO map: input sizes must be multiples of it


def box_augmentation() -> v2.Transform:
    """Flip, scale and shift, colour jitter; the boxes move with the image, and boxes pushed out are dropped."""
    return v2.Compose([
        v2.RandomHorizontalFlip(),
        v2.RandomAffine(degrees=0, translate=(0.1, 0.1), scale=(0.7, 1.3), fill=0.5),
        v2.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.4, hue=0.02),
        v2.SanitizeBoundingBoxes(min_size=4),
    ])


class DetectionDataset(Dataset):
    """``(image tensor, {"boxes": xyxy in input pixels, "labels"})`` per image, letterboxed to ``size``."""

    def __init__(self, items: Sequence[Any], targets: Sequence[Boxes] | None, size: int, train: bool) -> None:
        self.items, self.targets, self.size = items, targets, size
        self.augment = box_augmentation() if train else None

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, dict]:
        image, box = letterbox(load_image(self.items[index]), self.size)
        target = self.targets[index] if self.targets is not None else Boxes.empty()
        boxes = torch.as_tensor(target.boxes, dtype=torch.float32).reshape(-1, 4) * box.scale
        boxes[:, 0::2] += box.pad_x
        boxes[:, 1::2] += box.pad_y
        pixels = to_tensor(image)
        labels = torch.as_tensor(target.labels, dtype=torch.int64)
        if self.augment is not None:
            wrapped = tv_tensors.BoundingBoxes(boxes, format="XYXY", canvas_size=(self.size, self.size))
            pixels, target = self.augment(tv_tensors.Image(pixels), {"boxes": wrapped, "labels": labels})
            pixels, boxes, labels = pixels.as_subclass(torch.Tensor), target["boxes"].as_subclass(torch.Tensor), target["labels"]
        return pixels, {"boxes": boxes, "labels": labels}

    @staticmethod
    def collate_fn(batch: list[tuple[torch.Tensor, dict]]) -> tuple[torch.Tensor, list[dict]]:
        return torch.stack([image for image, _ in batch]), [target for _, target in batch]


def input_side(preprocessing: dict) -> int:
    return int(preprocessing.get("input_size", (3, 416, 416))[-1])


class DetectTask(ImageTask):
    name = "detect"
    default_model = "yolov3-tiny"
    augments = True
    curve_score = ("map50", "test mAP@0.5")
    size_unit = "images"
    compare_strategies = ("fine-tune", "scratch")

    def read(self, source: str | Path, seed: int = 0, **options: Any) -> DataSplits:
        """A YOLO data.yaml (or its folder), a COCO .json file, or ``detect-sample`` (the hand-labelled photos)."""
        return read_detection(SAMPLE_DETECT_DIR if str(source) == "detect-sample" else source)

    def preprocessing(self, spec, params: dict[str, Any]) -> dict:
        preprocessing = {k: v for k, v in spec.preprocessing.items() if k != "classes_from"}
        if params.get("image_size"):
            size = int(params["image_size"])
            if size % STRIDE:
                raise HeadstartError(f"--image-size {size} is not a multiple of {STRIDE}; use e.g. {size // STRIDE * STRIDE or STRIDE}")
            preprocessing["input_size"] = (3, size, size)
        return preprocessing

    def baseline(self, train: Any, test: Any) -> None:
        return None

    def draw_train(self, pool: BoxData, size: int, seed: int) -> BoxData:
        """``size`` images of ``pool`` (seeded, nested); detection data is counted in images, not per class."""
        if size > len(pool):
            raise HeadstartError(f"{pool.source or 'the data'} has {len(pool)} training images, fewer than the size "
                                 f"{size} asked for; give sizes up to {len(pool)}")
        return pool.subset(sorted(np.random.default_rng(seed).permutation(len(pool))[:size].tolist()))

    def hold_out(self, pool: BoxData, share: float, seed: int) -> tuple[BoxData, BoxData | None]:
        n_held = round(share * len(pool))
        if n_held < 1 or len(pool) - n_held < 2:
            return pool, None
        order = np.random.default_rng(seed).permutation(len(pool))
        return pool.subset(sorted(order[n_held:].tolist())), pool.subset(sorted(order[:n_held].tolist()))

    def inputs_dataset(self, items: Sequence[Any], targets: Sequence[Any] | None, preprocessing: dict,
                       train: bool) -> Dataset:
        return DetectionDataset(items, targets, input_side(preprocessing), train)


register_task(DetectTask())
