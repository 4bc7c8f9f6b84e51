"""Detection scores with torchmetrics' COCO-style mean average precision (pycocotools backend)."""

from __future__ import annotations

from headstart.detection.boxes import Detections


def _map(predictions: list[Detections], targets: list[dict], **options) -> dict:
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(box_format="xyxy", iou_type="bbox", class_metrics=True, backend="pycocotools",
                                  **options)
    metric.update(
        [{"boxes": p.boxes.float(), "scores": p.scores.float(), "labels": p.labels.long()} for p in predictions],
        [{"boxes": t["boxes"].float().reshape(-1, 4), "labels": t["labels"].long()} for t in targets],
    )
    result = metric.compute()
    per_class = dict(zip(result["classes"].reshape(-1).tolist(), result["map_per_class"].reshape(-1).tolist(),
                         strict=True))
    return {**{k: float(v) for k, v in result.items() if v.numel() == 1}, "per_class": per_class}


def detection_metrics(predictions: list[Detections], targets: list[dict], classes: list[str]) -> dict:
    """mAP@0.5, mAP@0.5:0.95, mAR@100, and per class AP@0.5 and AP@0.5:0.95, over the images."""
    coco = _map(predictions, targets)
    at_50 = _map(predictions, targets, iou_thresholds=[0.5])["per_class"]  # torchmetrics averages per-class AP

    def clean(value: float) -> float:  # -1 means "no boxes of that kind" in COCO's tables
        return round(max(value, 0.0), 4)

    return {
        "map50": clean(coco["map_50"]),
        "map": clean(coco["map"]),
        "mar100": clean(coco["mar_100"]),
        "images": len(targets),
        "boxes": int(sum(len(t["labels"]) for t in targets)),
        "per_class": {
            classes[c]: {"ap50": clean(at_50.get(c, 0.0)), "ap": clean(ap),
                         "boxes": int(sum((t["labels"] == c).sum() for t in targets))}
            for c, ap in coco["per_class"].items()
        },
    }
