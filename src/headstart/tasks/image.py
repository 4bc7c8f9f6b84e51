"""Image classification: image folders, CSV files and named datasets; timm preprocessing from the model's spec."""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from timm.data import create_transform
from timm.data.transforms import RandomResizedCropAndInterpolation, ResizeKeepRatio
from torch import nn
from torch.utils.data import Dataset
from torchvision.transforms import (
    CenterCrop,
    Compose,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomVerticalFlip,
    Resize,
)

from headstart.data.dataset import DataSplits, LabeledData, Unlabeled
from headstart.data.dicom import parse_window
from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.data.images import (
    expand_image_inputs,
    image_header,
    image_key,
    load_image,
    read_image_csv,
    read_image_folder,
)
from headstart.data.pools import read_image_pool
from headstart.files import user_path
from headstart.models.registry import PREPROCESSING_NOTE
from headstart.progress import Reporter
from headstart.tasks.base import ExportGraph, register_task
from headstart.tasks.classification import ClassificationTask

IMAGE_CACHE_ENV = "HEADSTART_IMAGE_CACHE_MB"
DEFAULT_IMAGE_CACHE_MB = 1024
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "data" / "sample" / "fashion-mnist"
DEFAULT_CROP_PCT = 0.875  # timm's evaluation crop, for models whose record has none
STRONG_AUGMENT = "rand-m10-n2-mstd0.5"  # FixMatch's strong view: RandAugment, 2 operations at magnitude ~10 of 30


# Steps that treat every channel alike and draw the same random numbers whatever the channels: on a greyscale
# image they give the pixels they give on its RGB copy, with a third of the work.
CHANNEL_BLIND = (Resize, CenterCrop, RandomHorizontalFlip, RandomVerticalFlip, RandomResizedCrop,
                 RandomResizedCropAndInterpolation, ResizeKeepRatio)


class ToRGB:
    """Greyscale (or any mode) to RGB; placed after the channel-blind steps, so greyscale images are resized and
    cropped on one channel (0.47 -> 0.16 ms for Fashion-MNIST's 28 px images at 224 px) with the same result."""

    def __call__(self, image: Image.Image) -> Image.Image:
        return image if image.mode == "RGB" else image.convert("RGB")

    def __repr__(self) -> str:
        return "ToRGB()"


def image_transform(preprocessing: dict, train: bool, strong: bool = False) -> Compose:
    """timm's transform for the model's preprocessing record (light augmentation when training; ``strong``:
    RandAugment and random erasing besides, FixMatch's strong view), taking RGB or greyscale images: a
    :class:`ToRGB` step follows the channel-blind ones."""
    common = {
        "input_size": tuple(preprocessing.get("input_size", (3, 224, 224))),
        "interpolation": preprocessing.get("interpolation", "bilinear"),
        "mean": tuple(preprocessing.get("mean", (0.485, 0.456, 0.406))),
        "std": tuple(preprocessing.get("std", (0.229, 0.224, 0.225))),
    }
    if strong:
        # RandAugment's colour operations need RGB: greyscale images are made RGB first.
        transform = create_transform(is_training=True, scale=(0.5, 1.0), color_jitter=None,
                                     auto_augment=STRONG_AUGMENT, re_prob=0.5, **common)
        return Compose([ToRGB(), *transform.transforms])
    if train:
        transform = create_transform(is_training=True, scale=(0.5, 1.0), color_jitter=None, **common)
    else:
        transform = create_transform(is_training=False, crop_pct=preprocessing.get("crop_pct", DEFAULT_CROP_PCT), **common)
    steps = list(transform.transforms)
    blind = next((i for i, step in enumerate(steps) if not isinstance(step, CHANNEL_BLIND)), len(steps))
    return Compose([*steps[:blind], ToRGB(), *steps[blind:]])


def decoded_cache_budget() -> int:
    """Bytes of decoded images a dataset may keep (``HEADSTART_IMAGE_CACHE_MB``, default 1024; 0 turns it off)."""
    try:
        return int(float(os.environ.get(IMAGE_CACHE_ENV, DEFAULT_IMAGE_CACHE_MB)) * 1e6)
    except ValueError:
        return int(DEFAULT_IMAGE_CACHE_MB * 1e6)


def scale_side(preprocessing: dict) -> int:
    """The shorter side the evaluation transform resizes to before its centre crop (timm: size / crop_pct)."""
    size = int(tuple(preprocessing.get("input_size", (3, 224, 224)))[-1])
    return math.floor(size / float(preprocessing.get("crop_pct", DEFAULT_CROP_PCT) or 1.0))


# Kept pixels live in slabs of this size. Above glibc's largest mmap threshold (32 MB), so each slab is its own
# mapping: thousands of small long-lived arrays allocated between the large per-batch temporaries would pin the heap
# and grow it without bound (measured: +0.25 MB per image extracted at 224 px, 8 GB after 30,000 images).
SLAB_BYTES = 64 << 20


class DecodedImages:
    """Images decoded once and kept as uint8 RGB (or greyscale) arrays, larger ones first shrunk to ``side`` on
    their shorter side (what the evaluation transform's first step does anyway), until ``budget`` bytes are used."""

    def __init__(self, side: int, budget: int, window: Sequence[float] | None = None) -> None:
        self.side = side
        self.budget = budget
        self.window = window
        # Where each kept image is: (slab, start, height, width, channels). Plain tuples (Python's own arenas, not
        # malloc): even numpy's small per-array headers, kept alive by the thousand, pinned the heap.
        self.places: dict[int, tuple[int, int, int, int, int]] = {}
        self.slabs: list[np.ndarray] = []
        self.slab_free = 0  # bytes left at the end of the last slab
        self.used = 0

    def get(self, index: int, item: Any) -> Image.Image:
        place = self.places.get(index)
        if place is not None:
            slab, start, height, width, channels = place
            pixels = self.slabs[slab][start : start + height * width * channels]
            return Image.fromarray(pixels.reshape((height, width, channels) if channels > 1 else (height, width)))
        image = load_image(item, keep_grey=True, window=self.window)
        if min(image.size) > self.side:
            image = resize_shorter_side(image, self.side)
        self._keep(index, np.asarray(image))
        return image

    def _keep(self, index: int, array: np.ndarray) -> None:
        size = array.nbytes
        if self.used + size > self.budget or size > SLAB_BYTES:
            return
        if size > self.slab_free:
            self.slabs.append(np.empty(SLAB_BYTES, np.uint8))
            self.slab_free = SLAB_BYTES
        start = SLAB_BYTES - self.slab_free
        self.slabs[-1][start : start + size] = array.reshape(-1)
        height, width = array.shape[:2]
        self.places[index] = (len(self.slabs) - 1, start, height, width, array.shape[2] if array.ndim == 3 else 1)
        self.slab_free -= size
        self.used += size


def resize_shorter_side(image: Image.Image, side: int) -> Image.Image:
    """``image`` with its shorter side ``side`` (bicubic, as torchvision's Resize(int) does it on PIL images)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms.functional import resize

    return resize(image, side, interpolation=InterpolationMode.BICUBIC)


class TwoViews:
    """The weak and the strong view of one image (consistency training)."""

    def __init__(self, weak: Compose, strong: Compose) -> None:
        self.weak, self.strong = weak, strong

    def __call__(self, image: Image.Image) -> tuple[torch.Tensor, torch.Tensor]:
        return self.weak(image), self.strong(image)


class ImageDataset(Dataset):
    """Decodes each item (path, PIL image or array) to RGB, or greyscale for greyscale sources (the transform
    turns them into RGB after resizing), and applies the model's transform; with ``decoded``, each file is
    decoded once and later epochs start from the kept pixels. ``window``: DICOM files' (center, width)."""

    def __init__(self, items: Sequence[Any], targets: Sequence[int] | None, transform,
                 decoded: DecodedImages | None = None, window: Sequence[float] | None = None) -> None:
        self.items = items
        self.targets = targets
        self.transform = transform
        self.decoded = decoded
        self.window = window

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        item = self.items[index]
        image = (load_image(item, keep_grey=True, window=self.window) if self.decoded is None
                 else self.decoded.get(index, item))
        return self.transform(image), (self.targets[index] if self.targets is not None else -1)


SMALL_INPUT_SHARE = 0.5  # inputs whose shorter side is at most this share of the model's input side are "small"


def typical_side(items: Sequence[Any], looked_at: int = 50) -> int | None:
    """The median shorter side of up to ``looked_at`` of ``items`` (image headers only); None if none reads."""
    step = max(1, len(items) // looked_at)
    sides = [min(header[0]) for item in list(items)[::step][:looked_at] if (header := image_header(item))]
    return int(np.median(sides)) if sides else None


class ImageTask(ClassificationTask):
    name = "image"
    title = "image classification"
    default_model = "efficientnet_lite0"
    augments = True
    named_data = ("sample", "fashion-mnist")
    quantization = "static"  # calibrated on the run's training images

    def read(
        self,
        source: str | Path,
        per_class: int | None = None,
        test_per_class: int | None = None,
        seed: int = 0,
    ) -> DataSplits:
        """A folder, a CSV file, ``sample`` (the embedded Fashion-MNIST slice) or ``fashion-mnist`` (all of it)."""
        text = str(source)
        if text == "fashion-mnist":
            return load_fashion_mnist(per_class=per_class, test_per_class=test_per_class, seed=seed)
        path = SAMPLE_DIR if text == "sample" else user_path(text)
        if path.suffix.lower() in (".csv", ".tsv"):
            splits = read_image_csv(path, multi_label=self.multi_label)
        else:
            splits = read_image_folder(path, multi_label=self.multi_label)
        return self.subsample(splits, per_class, test_per_class, seed)

    def plain_probe_knobs(self, spec) -> dict[str, Any]:
        return {"image_size": None, "crop_pct": spec.preprocessing.get("crop_pct", DEFAULT_CROP_PCT)}

    def preprocessing(self, spec, params: dict[str, Any], items: Sequence[Any] | None = None) -> dict:
        """The model's record with ``image_size`` and ``crop_pct`` as given; inputs far smaller than the model's
        input (28-pixel scans for a 224-pixel network) are resized whole, with no centre crop to cut their edges
        (measured on Fashion-MNIST at 10 per class: +0.3 to +0.6 points for the linear probe, docs/benchmarks.md)."""
        preprocessing = dict(spec.preprocessing)
        if params.get("image_size"):
            size = int(params["image_size"])
            preprocessing["input_size"] = (3, size, size)
        side = int(preprocessing.get("input_size", (3, 224, 224))[-1])
        if (window := parse_window(params.get("window"))) is not None:
            preprocessing["window"] = list(window)  # DICOM files only: see data/dicom.py
        if params.get("crop_pct"):
            preprocessing["crop_pct"] = float(params["crop_pct"])
        elif items is not None and float(preprocessing.get("crop_pct", DEFAULT_CROP_PCT)) < 1.0:
            small = typical_side(items)
            if small is not None and small <= SMALL_INPUT_SHARE * side:
                preprocessing["crop_pct"] = 1.0
                preprocessing[PREPROCESSING_NOTE] = (f"inputs of about {small} px, far smaller than the model's "
                                                     f"{side} px: resized whole, no centre crop (--crop-pct to choose)")
        return preprocessing

    def baseline_features(self, train: LabeledData, test: LabeledData) -> tuple[str, np.ndarray, np.ndarray]:
        """32x32 greyscale pixels: what no pre-training at all gives."""

        def pixels(data: LabeledData) -> np.ndarray:
            return np.stack([
                np.asarray(load_image(item).convert("L").resize((32, 32), Image.BILINEAR), np.float32).ravel() / 255
                for item in data.items
            ])

        return "logistic regression on pixels", pixels(train), pixels(test)

    def inputs_dataset(
        self, items: Sequence[Any], targets: Sequence[int] | None, preprocessing: dict, train: bool
    ) -> Dataset:
        return self._dataset(items, targets, preprocessing, image_transform(preprocessing, train))

    @staticmethod
    def _dataset(items: Sequence[Any], targets: Sequence[int] | None, preprocessing: dict, transform: Any
                 ) -> ImageDataset:
        budget = decoded_cache_budget() if len(items) > 1 else 0
        scale, interpolation = scale_side(preprocessing), preprocessing.get("interpolation", "bilinear")
        # Shrinking in the cache is exact for bicubic evaluation transforms; others decode at full size.
        window = preprocessing.get("window")
        decoded = DecodedImages(scale if interpolation == "bicubic" else 1 << 30, budget, window) if budget else None
        return ImageDataset(items, targets, transform, decoded, window)

    def consistency_views(self, items: Sequence[Any], preprocessing: dict) -> Dataset:
        """Each unlabelled image as its usual training view and a strongly augmented one (RandAugment, erasing)."""
        views = TwoViews(image_transform(preprocessing, True), image_transform(preprocessing, True, strong=True))
        return self._dataset(items, None, preprocessing, views)

    def profile(self, items: Sequence[Any]) -> dict:
        """Sizes and modes of up to 200 images (headers only for files)."""
        sizes, modes = [], Counter()
        for item in list(items)[:: max(1, len(items) // 200)][:200]:
            header = image_header(item)
            if header is not None:
                sizes.append(header[0])
                modes[header[1]] += 1
        if not sizes:
            return {}
        widths, heights = np.array(sizes).T
        return {"kind": "image", "looked_at": len(sizes), "modes": dict(modes),
                "width": {"min": int(widths.min()), "median": int(np.median(widths)), "max": int(widths.max())},
                "height": {"min": int(heights.min()), "median": int(np.median(heights)), "max": int(heights.max())}}

    def preview(self, item: Any) -> Any:
        image = load_image(item)
        image.thumbnail((96, 96))
        return image

    def content_key(self, item: Any) -> str:
        return image_key(item)

    def expand_inputs(self, inputs: Sequence[str]) -> list[Any]:
        return expand_image_inputs(list(inputs))

    def read_unlabeled(self, source: str | Path, text_column: str | None = None,
                       reporter: Reporter | None = None) -> Unlabeled:
        self.check_unlabeled()
        return read_image_pool(source, reporter)

    def table_cell(self, item: Any, name: str) -> str:
        """A file by its absolute path (tables are read from their own folder); an image in memory by its name."""
        return str(Path(item).resolve()) if isinstance(item, str | Path) else name

    def export_graph(self, model: nn.Module, preprocessing: dict) -> ExportGraph:
        """RGB images as uint8 (or float 0-255), N x 3 x H x W, any size; resize, crop and normalisation inside."""
        from headstart.tasks.graphs import FILTERS, ImagePipeline, crop_geometry

        scale, crop = crop_geometry(preprocessing)
        interpolation = preprocessing.get("interpolation", "bilinear")
        interpolation = interpolation if interpolation in FILTERS else "bilinear"
        example = (torch.randint(0, 256, (2, 3, crop, crop), dtype=torch.uint8),)
        described = {"resize_shorter_side": scale, "centre_crop": [crop, crop], "mean": list(preprocessing["mean"]),
                     "std": list(preprocessing["std"]), "interpolation": f"PIL {interpolation} (8-bit, antialiased)"}
        if preprocessing.get("window"):  # applied before the graph, when a DICOM file is read
            described["dicom_window"] = list(preprocessing["window"])
        return ExportGraph(
            ImagePipeline(model, preprocessing, self.output).eval(), example,
            {"images": "uint8 or float32 0-255, N x 3 x H x W, RGB, any size (one size per batch)"},
            {"probabilities": self.output_description},
            {"images": {0: "batch", 2: "height", 3: "width"}, "probabilities": {0: "batch"}},
            {"preprocessing": described},
        )


register_task(ImageTask())
