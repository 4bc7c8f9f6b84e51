"""The shared training engine, with the YOLO loss and mAP@0.5 on the validation split as its objective."""

from __future__ import annotations

import torch
from torch.utils.data import DataLoader

from headstart.compute.device import autocast
from headstart.detection.boxes import select
from headstart.detection.loss import yolo_loss
from headstart.detection.metrics import detection_metrics
from headstart.models.darknet import Darknet, decode
from headstart.training.engine import Trainer

EVAL_CONF = 0.01  # keep low-confidence boxes when scoring: mAP integrates over the whole precision-recall curve
NMS_IOU = 0.45


class DetectionTrainer(Trainer):
    """``Trainer`` for a Darknet detector: the loss is the YOLO loss, "accuracy" is mAP@0.5 on validation."""

    def compute_loss(self, outputs: list[torch.Tensor], targets: list[dict]) -> torch.Tensor:
        model = self._darknet()
        return yolo_loss(outputs, targets, model.heads, model.last_input_side)

    def count_correct(self, outputs, targets) -> int:
        return 0

    def _darknet(self) -> Darknet:
        return self.accelerator.unwrap_model(self.model)

    @torch.inference_mode()
    def evaluate(self, loader: DataLoader) -> tuple[float, float]:
        """Mean YOLO loss per image and mAP@0.5 over ``loader``."""
        self.model.eval()
        model = self._darknet()
        total, seen, predictions, targets = 0.0, 0, [], []
        for inputs, batch_targets in loader:
            with autocast(self.accelerator.device, self.precision):
                maps = self.model(inputs)
            side = inputs.shape[-1]
            total += yolo_loss(maps, batch_targets, model.heads, side).item()
            seen += len(batch_targets)
            rows = decode(maps, model.heads, (side, side))
            predictions += [select(r, EVAL_CONF, NMS_IOU) for r in rows]
            targets += batch_targets
        scores = detection_metrics(predictions, targets, [str(i) for i in range(model.num_classes)])
        return total / max(seen, 1), scores["map50"]
