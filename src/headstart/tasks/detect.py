"""Object detection: box-labelled images (YOLO txt or COCO JSON), letterboxed to the detector's square input,
with box-aware augmentation (torchvision transforms v2) when training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset
from torchvision import tv_tensors
from torchvision.transforms import v2

from headstart.data.dataset import DataSplits
from headstart.data.detection import SAMPLE_DETECT_DIR, BoxData, Boxes, read_detection
from headstart.data.images import load_image
from headstart.detection.boxes import letterbox, to_tensor
from headstart.errors import HeadstartError
from headstart.models import create_backbone
from headstart.models.registry import ModelSpec
from headstart.tasks.base import ExportGraph, register_task
from headstart.tasks.image import ImageTask

if TYPE_CHECKING:
    from headstart.strategies.base import FitContext, FitResult, Split, Strategy

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


SOURCE_CONF = 0.25  # the pre-trained detector's detections that count for source-task retention
SOURCE_BATCH = 8


def input_side(preprocessing: dict) -> int:
    return int(preprocessing.get("input_size", (3, 416, 416))[-1])


FINE_TUNE_REASON = ("detection: fine-tune, the strategy measured best here (docs/benchmarks.md: 0.85-0.90 mAP@0.5 "
                    "against scratch's 0.73-0.78 from 25-400 images); it replaces the output layers and trains the "
                    "rest at a tenth of the rate")


def detection_budget(n_train: int) -> int:
    """Epochs for ``n_train`` images: about 1,500 images seen (a few minutes on a CPU), 10 to 60 passes."""
    from headstart.strategies.base import budget_epochs

    return budget_epochs(n_train, low=10, high=60, examples=1_500)


class DetectTask(ImageTask):
    """Boxes with classes in images, on a Darknet (YOLO) detector whose output layers (the 1x1 convolutions before
    each YOLO layer) are replaced for the new classes."""

    name = "detect"
    title = "object detection"
    unlabeled_refusal = "not written yet for boxes"
    default_model = "yolov3-tiny"
    augments = True
    curve_score = ("map50", "test mAP@0.5")
    size_unit = "images"
    compare_strategies = ("fine-tune", "scratch")
    strategies = ("fine-tune", "head", "scratch")
    read_options = ()
    named_data = ("detect-sample",)
    report_layout = "detection"
    quantization = None
    gives_features = False
    # The pre-trained layers learn at this share of ``lr`` (the new output layers at ``lr``); from scratch, all at it.
    backbone_share = 0.1
    default_lr = 1e-3
    scratch_lr = 2e-3

    def claims(self, data: str | Path) -> bool:
        path = Path(str(data)).expanduser()
        return super().claims(data) or path.suffix.lower() in (".yaml", ".yml") or (path / "data.yaml").is_file()

    # -- fitting ----------------------------------------------------------------------------------------------
    def auto_plan(self, train: BoxData) -> tuple[str, str]:
        return "fine-tune", FINE_TUNE_REASON

    def check_trainable(self, train: BoxData) -> None:
        if not len(train):
            raise HeadstartError(f"no training images in {train.source or 'the data'}; add some to its train folder")
        if not sum(len(t.labels) for t in train.targets):
            raise HeadstartError(f"no boxes in the training images of {train.source}; label some first")

    def with_validation(self, splits: DataSplits, val_size: float, seed: int, needed: bool) -> DataSplits:
        """A validation split drawn at random from train (for early stopping and the best epoch) when none is given."""
        n = len(splits.train)
        if (splits.val is not None and len(splits.val)) or n < 5 or not val_size:
            return splits
        order = np.random.default_rng(seed).permutation(n)
        cut = max(1, round(n * val_size))
        record = {**splits.record, "val": f"{cut} of {n} training images, drawn at random (seed {seed})"}
        return DataSplits(splits.train.subset(sorted(order[cut:])), splits.train.subset(sorted(order[:cut])),
                          splits.test, record, list(splits.warnings))

    def classes(self, splits: DataSplits) -> list[str]:
        return list(splits.train.classes)

    def plain_probe_knobs(self, spec: ModelSpec) -> None:
        return None

    def plain_probe(self, spec: ModelSpec, train: BoxData, test: BoxData, cache: Any) -> None:
        """No naive probe for boxes (a classifier's recipe, which ImageTask would run)."""
        return None

    def precision_probe(self) -> None:
        """No bf16 check: a detector trains and predicts through its own forward passes, no cached features."""
        return None

    def check_labels(self, data: BoxData | None, classes: Sequence[str], what: str) -> None:
        if data is not None and list(data.classes) != list(classes):
            raise HeadstartError(f"the classes of {data.source} ({', '.join(data.classes)}) are not the detector's "
                                 f"({', '.join(classes)}); {what} data needs the same names, in order")

    def encode(self, data: BoxData | None, classes: Sequence[str]) -> Split | None:
        from headstart.strategies.base import Split

        return None if data is None or not len(data) else Split(data.items, list(data.targets))

    def build_model(self, spec: ModelSpec, strategy: Strategy | None, num_classes: int, pretrained: bool,
                    head: dict | None = None, preprocessing: dict | None = None) -> nn.Module:
        model = create_backbone(spec, pretrained=pretrained, preprocessing=preprocessing)
        model.reset_classes(num_classes)
        return model

    def fit(self, strategy: Strategy, model: nn.Module, train: Split, val: Split | None, ctx: FitContext) -> FitResult:
        """The new output layers train at ``lr`` and the pre-trained layers at ``backbone_share`` of it; the first
        ``freeze`` layers (all of them for ``head``) stay as pre-trained, BatchNorm statistics included."""
        from headstart.strategies.base import FitResult
        from headstart.tasks.detect_training import DetectionTrainer

        heads = {id(p) for conv in model.output_convs() for p in conv.parameters()}
        freeze = ctx.task_params.get("freeze")
        frozen = len(model.layers) if strategy.frozen_backbone else (freeze or 0)
        if frozen > len(model.layers):
            raise HeadstartError(f"--freeze {frozen} is more than the model's {len(model.layers)} layers")
        for index, layer in enumerate(model.layers):
            for param in layer.parameters():
                param.requires_grad_(id(param) in heads or index >= frozen)
        model.train()
        lr = strategy.lr or ctx.lr or (self.default_lr if strategy.pretrained else self.scratch_lr)
        share = self.backbone_share if strategy.pretrained else 1.0
        others = [p for p in model.parameters() if p.requires_grad and id(p) not in heads]
        groups = [{"params": [p for p in model.parameters() if id(p) in heads], "lr": lr}]
        groups += [{"params": others, "lr": lr * share}] if others else []
        given = [e for e in (strategy.epochs, ctx.epochs) if e is not None]
        epochs = given[0] if given else detection_budget(len(train))
        trainer = ctx.trainer(model, patience=max(5, epochs // 3), trainer_class=DetectionTrainer)
        trainer.run_stage(strategy.name, ctx.dataset(train, train=True),
                          ctx.dataset(val, train=False) if val is not None else None, groups, epochs, warmup=0.1)
        trainer.restore_best()
        return FitResult(trainer.history, {"frozen_layers": frozen, "epochs": epochs, "lr": lr})

    def source_agreement(self, reference: nn.Module, trained: nn.Module, items: Sequence[Any],
                         preprocessing: dict) -> dict | None:
        """The share of the pre-trained detector's own detections on ``items`` (score >= 0.25, its classes: COCO's
        80) that the trained layers, under the pre-trained output layers, still make: a box of the same class
        overlapping it by IoU >= 0.5. None when the pre-trained detector finds nothing there."""
        import copy

        from torchvision.ops import box_iou

        from headstart.detection.boxes import detect_images
        from headstart.models.darknet import decode

        grafted = copy.deepcopy(trained).eval()
        grafted.heads = list(reference.heads)
        for head in reference.heads:
            grafted.layers[head.conv_index].conv = copy.deepcopy(reference.layers[head.conv_index].conv)
        side, device = input_side(preprocessing), next(trained.parameters()).device
        found: dict[str, list] = {}
        with torch.inference_mode():
            for name, network in (("before", reference.eval()), ("after", grafted)):
                def rows_of(batch: torch.Tensor, network: nn.Module = network) -> torch.Tensor:
                    return decode(network(batch.to(device)), network.heads, (side, side)).cpu()

                found[name] = [d for start in range(0, len(items), SOURCE_BATCH) for d in detect_images(
                    [load_image(i) for i in items[start:start + SOURCE_BATCH]], side, rows_of, SOURCE_CONF, 0.45)]
        total = matched = 0
        for old, new in zip(found["before"], found["after"], strict=True):
            total += len(old.labels)
            if len(old.labels) and len(new.labels):
                same_class = old.labels[:, None] == new.labels[None, :]
                matched += int(((box_iou(old.boxes, new.boxes) >= 0.5) & same_class).any(1).sum())
        if not total:
            return None
        classes = reference.num_classes
        return {"name": "COCO" if classes == 80 else "pre-training", "unit": "detections", "classes": classes,
                "detections": total, "agreement": round(matched / total, 4),
                "description": f"the share of the pre-trained detector's own detections on your inputs (score >= "
                               f"{SOURCE_CONF}, {total} of them) that the trained layers, under the pre-trained output "
                               "layers, still make: a box of the same class overlapping it by IoU >= 0.5"}

    def leakage_model(self, spec: ModelSpec) -> tuple[str, str]:
        """Near-duplicate images are judged on the image classifier's embeddings (the measured threshold's)."""
        return ImageTask.default_model, ImageTask.name

    # -- showing and exporting --------------------------------------------------------------------------------
    def score_line(self, scores: dict) -> str:
        return (f"mAP@0.5 [bold green]{scores['map50']:.3f}[/], mAP@0.5:0.95 {scores['map']:.3f} "
                f"({scores['images']} images, {scores['boxes']} boxes)")

    def prediction_table(self, rows: list[dict]) -> tuple[list[str], list[list[str]]]:
        table = []
        for row in rows:
            for place, d in enumerate(row["detections"] or [{"label": "-", "score": None, "box": []}]):
                score = "" if d["score"] is None else f"{d['score']:.2f}"
                table.append([row["input"] if place == 0 else "", d["label"], score,
                              ", ".join(f"{v:.0f}" for v in d["box"])])
        return ["input", "class", "score", "box (x1, y1, x2, y2)"], table

    def prediction_csv(self, rows: list[dict]) -> tuple[list[str], list[list[Any]]]:
        return ["input", "class", "score", "x1", "y1", "x2", "y2"], [
            [row["input"], d["label"], f"{d['score']:.4f}", *(f"{v:.1f}" for v in d["box"])]
            for row in rows for d in row["detections"]]

    def evaluation_tables(self, metrics: dict) -> tuple[str, list[tuple[str, list[str], list[list[str]]]]]:
        line = (f"{metrics['images']} images, {metrics['boxes']} boxes: mAP@0.5 [bold]{metrics['map50']:.3f}[/], "
                f"mAP@0.5:0.95 {metrics['map']:.3f}, mAR@100 {metrics['mar100']:.3f}")
        rows = [[name, f"{s['ap50']:.3f}", f"{s['ap']:.3f}", str(s["boxes"])] for name, s in metrics["per_class"].items()]
        return line, [("per class", ["class", "AP@0.5", "AP@0.5:0.95", "boxes"], rows)]

    def export_graph(self, model: nn.Module, preprocessing: dict) -> ExportGraph:
        """Letterboxed images in [0, 1] at the run's input size, decoded rows out (before NMS)."""
        from headstart.detection.boxes import PAD_VALUE
        from headstart.tasks.graphs import DecodedDetector

        side = input_side(preprocessing)
        return ExportGraph(
            DecodedDetector(model).eval(), (torch.zeros(1, 3, side, side),),
            {"images": f"N x 3 x {side} x {side} float32 RGB in [0, 1], each image scaled to fit {side} x {side} "
                       f"with its aspect ratio kept and centred on grey ({PAD_VALUE}/255)"},
            {"rows": "N x boxes x (5 + classes): cx, cy, w, h in input pixels, objectness, class probabilities; "
                     "score = objectness x class probability, then per-class NMS"},
            {"images": {0: "batch"}, "rows": {0: "batch"}},
            {"input_side": side, "pad_value": PAD_VALUE},
        )

    def read(self, source: str | Path, seed: int = 0, **options: Any) -> DataSplits:
        """A YOLO data.yaml (or its folder), a COCO .json file, or ``detect-sample`` (the hand-labelled photos)."""
        return read_detection(SAMPLE_DETECT_DIR if str(source) == "detect-sample" else source)

    def preprocessing(self, spec, params: dict[str, Any], items: Sequence[Any] | None = None) -> dict:
        preprocessing = {k: v for k, v in spec.preprocessing.items() if k != "classes_from"}
        if params.get("image_size"):
            size = int(params["image_size"])
            if size % STRIDE:
                raise HeadstartError(f"--image-size {size} is not a multiple of {STRIDE}; use e.g. {size // STRIDE * STRIDE or STRIDE}")
            preprocessing["input_size"] = (3, size, size)
        return preprocessing

    def baseline(self, train: Any, test: Any) -> None:
        return None  # no classical detector worth reporting beside a transferred one

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
