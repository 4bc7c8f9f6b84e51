"""Images with their boxes drawn: class name and score on each box, one colour per class."""

from __future__ import annotations

import colorsys
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from headstart.detection.boxes import Detections


def class_colour(index: int) -> tuple[int, int, int]:
    hue = (index * 0.618034) % 1.0  # golden-ratio steps: neighbouring classes get distant hues
    return tuple(int(255 * c) for c in colorsys.hsv_to_rgb(hue, 0.85, 0.95))


def draw_detections(image: Image.Image, found: Detections, classes: list[str], truth: Detections | None = None) -> Image.Image:
    """A copy of ``image`` with ``found`` drawn (and ``truth``, when given, as thin white boxes)."""
    out = image.convert("RGB").copy()
    draw = ImageDraw.Draw(out)
    width = max(2, round(max(out.size) / 250))
    font = ImageFont.load_default(size=max(12, round(max(out.size) / 40)))
    if truth is not None:
        for box in truth.boxes.tolist():
            draw.rectangle(box, outline=(255, 255, 255), width=1)
    for box, score, label in zip(found.boxes.tolist(), found.scores.tolist(), found.labels.tolist(), strict=True):
        colour = class_colour(label)
        draw.rectangle(box, outline=colour, width=width)
        text = f"{classes[label]} {score:.2f}"
        left, top, right, bottom = draw.textbbox((box[0], box[1]), text, font=font)
        y = box[1] - (bottom - top) - 2 if box[1] - (bottom - top) - 2 >= 0 else box[1]
        draw.rectangle((box[0], y, box[0] + right - left + 4, y + bottom - top + 4), fill=colour)
        draw.text((box[0] + 2, y), text, fill=(0, 0, 0), font=font)
    return out


def save_drawn(path: Path, image: Image.Image) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)
    return path


def draw_rows(image: Image.Image, rows: list[dict], classes: list[str]) -> Image.Image:
    """``draw_detections`` for the rows ``predict`` prints (label, score, box), coloured by class as there."""
    import torch

    index = {name: i for i, name in enumerate(classes)}
    found = Detections(torch.tensor([r["box"] for r in rows], dtype=torch.float32).reshape(-1, 4),
                       torch.tensor([r["score"] for r in rows]), torch.tensor([index[r["label"]] for r in rows]))
    return draw_detections(image, found, classes)
