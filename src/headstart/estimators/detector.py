"""``ObjectDetector``: a COCO-pretrained YOLO adapted to new classes, on the same estimator base as the classifiers.

``ObjectDetector(strategy="fine-tune").fit("data.yaml").predict(["photo.jpg"])`` gives one :class:`Detections` per
image (boxes in the image's pixels); ``ObjectDetector.pretrained("yolov3-tiny")`` is the zero-shot COCO detector.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch

from headstart.data.detection import BoxData
from headstart.data.images import load_image
from headstart.detection.boxes import Detections, detect_images, detection_rows
from headstart.detection.draw import draw_detections, save_drawn
from headstart.detection.metrics import detection_metrics
from headstart.estimators.base import AUTO, RANGES, Estimator, register_estimator
from headstart.models import create_backbone, get_model_spec
from headstart.models.darknet import decode
from headstart.models.detectors import source_class_names
from headstart.options import Range
from headstart.strategies import Strategy
from headstart.tasks.detect import input_side
from headstart.tasks.detect_training import EVAL_CONF

EXAMPLES_DIR = "examples"
EXAMPLES_SHOWN = 8


@register_estimator
class ObjectDetector(Estimator):
    """Fine-tunes a pre-trained detector on box-labelled images (YOLO data.yaml or COCO JSON).

    ``strategy`` is ``auto`` (fine-tune, saying why), ``fine-tune``, ``head`` or ``scratch``; ``freeze=N`` keeps
    the first N layers as pre-trained. ``conf`` and ``iou`` are the score threshold and NMS overlap ``predict``
    uses. ``batch_size`` None means 8: a batch of 416 px images costs what 100 small classification inputs do.
    """

    task = "detect"
    default_batch_size = 8
    # epochs=0: the new output layers as initialised, untrained (what fine-tuning starts from).
    ranges: ClassVar[dict[str, Range]] = {**RANGES, "epochs": Range(int, 0, 10_000)}

    def __init__(self, model: str | None = None, strategy: str | Strategy = AUTO, *, weights: str | None = None,
                 epochs: int | None = None, lr: float | None = None, batch_size: int | None = None,
                 image_size: int | None = None, freeze: int | None = None, val_size: float = 0.2, refit: bool = True,
                 conf: float = 0.25, iou: float = 0.45, seed: int = 0, precision: str = "auto",
                 num_workers: int = 0, cache: bool | str = True, verbose: bool = False) -> None:
        super().__init__(model, strategy, weights=weights, epochs=epochs, lr=lr, batch_size=batch_size,
                         val_size=val_size, refit=refit, seed=seed, precision=precision, num_workers=num_workers, cache=cache,
                         verbose=verbose)
        self.image_size = image_size
        self.freeze = freeze
        self.conf = conf
        self.iou = iou

    @classmethod
    def pretrained(cls, model: str = "yolov3-tiny", **params: Any) -> ObjectDetector:
        """The pre-trained detector as it is (zero-shot, on the classes it was trained on, e.g. COCO's 80)."""
        detector = cls(model=model, **params)
        params = detector._checked_params()
        spec = get_model_spec(model, detector.weights)
        task = detector._task()
        task.check_model(spec)
        detector._set_fitted(create_backbone(spec).eval(), spec, task.preprocessing(spec, params),
                             source_class_names(spec), "pretrained", "the pre-trained detector as it is")
        detector.history_, detector.data_record_, detector.fit_details_ = [], {}, {}
        return detector

    def _task_params(self) -> dict[str, Any]:
        return {"freeze": self.freeze}

    # -- predicting ------------------------------------------------------------------------------------------
    @torch.inference_mode()
    def predict(self, X: Any, conf: float | None = None) -> list[Detections]:
        """Boxes (xyxy, image pixels), scores and class indices (into ``classes_``) for each image of ``X``."""
        self._check_fitted()
        items = self._items(X)
        side, model = input_side(self.preprocessing_), self.model_.eval()

        def rows_of(batch: torch.Tensor) -> torch.Tensor:
            return decode(model(batch), model.heads, (side, side))

        found = []
        for start in range(0, len(items), self.batch_size_):
            images = [load_image(item) for item in items[start : start + self.batch_size_]]
            found += detect_images(images, side, rows_of, self.conf if conf is None else conf, self.iou)
        return found

    def prediction_rows(self, items: Sequence[Any], top_k: int = 3, conf: float | None = None,
                        unknown: bool = True) -> list[dict]:
        return detection_rows(list(items), self.predict(list(items), conf=conf), self.classes_.tolist())

    def evaluate_with_outputs(self, data: BoxData) -> tuple[dict, list[Detections]]:
        """mAP@0.5, mAP@0.5:0.95, mAR@100 and per-class AP on ``data`` (scored on all boxes above 0.01), and the
        detections they come from."""
        self._check_fitted()
        self._task().check_labels(data, self.classes_.tolist(), "evaluation")
        predictions = self.predict(data.items, conf=EVAL_CONF)
        targets = [{"boxes": torch.as_tensor(t.boxes), "labels": torch.as_tensor(t.labels)} for t in data.targets]
        return detection_metrics(predictions, targets, self.classes_.tolist()), predictions

    def write_evaluation(self, run_dir: Path, data: BoxData, outputs: list[Detections]) -> None:
        """The first evaluated images with their predicted boxes above ``conf`` (ground truth in thin white)."""
        classes = self.classes_.tolist()
        for index in range(min(EXAMPLES_SHOWN, len(data))):
            found, target = outputs[index], data.targets[index]
            keep = found.scores >= self.conf
            truth = Detections(torch.as_tensor(target.boxes), torch.ones(len(target.labels)),
                               torch.as_tensor(target.labels))
            shown = Detections(found.boxes[keep], found.scores[keep], found.labels[keep])
            image = draw_detections(load_image(data.items[index]), shown, classes, truth)
            image.thumbnail((480, 480))
            save_drawn(run_dir / EXAMPLES_DIR / f"{index:02d}.jpg", image)

    def _export_extra(self) -> dict:
        return {"conf": self.conf, "iou": self.iou}
