"""Letterboxing images to the network's square input, and turning its raw output into boxes in image pixels."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image
from torchvision.ops import batched_nms, box_convert

PAD_VALUE = 127  # Darknet fills letterbox borders with 0.5 grey


@dataclass(frozen=True)
class Letterbox:
    """How an image was fitted into the square input: ``input = image * scale + (pad_x, pad_y)``."""

    scale: float
    pad_x: float
    pad_y: float

    def to_image(self, boxes: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """xyxy boxes in input pixels to image pixels, clipped to the image (``size`` is width, height)."""
        out = boxes.clone()
        out[:, 0::2] = ((out[:, 0::2] - self.pad_x) / self.scale).clamp(0, size[0])
        out[:, 1::2] = ((out[:, 1::2] - self.pad_y) / self.scale).clamp(0, size[1])
        return out


def letterbox(image: Image.Image, size: int) -> tuple[Image.Image, Letterbox]:
    """``image`` scaled to fit ``size`` x ``size`` (aspect ratio kept), centred on grey."""
    scale = min(size / image.width, size / image.height)
    width, height = max(1, round(image.width * scale)), max(1, round(image.height * scale))
    canvas = Image.new("RGB", (size, size), (PAD_VALUE,) * 3)
    pad_x, pad_y = (size - width) // 2, (size - height) // 2
    canvas.paste(image.resize((width, height), Image.BILINEAR), (pad_x, pad_y))
    return canvas, Letterbox(scale, pad_x, pad_y)


def to_tensor(image: Image.Image) -> torch.Tensor:
    """RGB PIL image to a float CHW tensor in [0, 1] (Darknet's input scaling)."""
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0).permute(2, 0, 1).contiguous()


@dataclass
class Detections:
    """One image's detections: ``boxes`` (N, 4) xyxy in image pixels, ``scores`` (N,), ``labels`` (N,) class ids."""

    boxes: torch.Tensor
    scores: torch.Tensor
    labels: torch.Tensor

    def rows(self, class_names: list[str]) -> list[dict]:
        return [
            {"label": class_names[int(c)], "score": round(float(s), 4), "box": [round(float(v), 1) for v in b]}
            for b, s, c in zip(self.boxes, self.scores, self.labels, strict=True)
        ]


def detection_rows(items: list, found: list[Detections], class_names: list[str]) -> list[dict]:
    """One row per image, as ``headstart predict`` prints them: the input and its boxes (label, score, box)."""
    return [{"input": str(item), "detections": f.rows(class_names)} for item, f in zip(items, found, strict=True)]


def select(rows: torch.Tensor, conf: float, iou: float, max_det: int = 300) -> Detections:
    """Boxes of one image from decoded rows (cx, cy, w, h, objectness, class probabilities): every class whose
    objectness x class probability reaches ``conf``, then per-class NMS at ``iou`` (torchvision's)."""
    scores = rows[:, 4:5] * rows[:, 5:]
    index, labels = (scores >= conf).nonzero(as_tuple=True)
    boxes = box_convert(rows[index, :4], "cxcywh", "xyxy")
    picked = scores[index, labels]
    keep = batched_nms(boxes, picked, labels, iou)[:max_det]
    return Detections(boxes[keep], picked[keep], labels[keep])


def detect_images(images: list[Image.Image], side: int, rows_of: Callable[[torch.Tensor], torch.Tensor], conf: float,
                  iou: float) -> list[Detections]:
    """Detections of ``images`` in their own pixels: each is letterboxed to ``side``, ``rows_of`` maps the batch
    (B, 3, side, side) in [0, 1] to decoded rows (B, N, 5 + C) (a PyTorch model or an exported file alike), then
    :func:`select` and the letterbox is undone."""
    boxed = [letterbox(image, side) for image in images]
    rows = rows_of(torch.stack([to_tensor(b[0]) for b in boxed]))
    found = []
    for image, (_, box), image_rows in zip(images, boxed, rows, strict=True):
        picked = select(image_rows, conf, iou)
        found.append(Detections(box.to_image(picked.boxes, image.size), picked.scores, picked.labels))
    return found
