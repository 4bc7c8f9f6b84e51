"""``ObjectDetector``: a COCO-pretrained YOLO adapted to new classes, as a scikit-learn-style estimator.

``ObjectDetector(strategy="fine-tune").fit("data.yaml").predict(["photo.jpg"])`` gives one :class:`Detections` per
image (boxes in the image's pixels); ``ObjectDetector.pretrained("yolov3-tiny")`` is the zero-shot COCO detector.
Runs are saved in the same run-directory format as classifiers (config.json + model.safetensors).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from accelerate.utils import set_seed
from sklearn.base import BaseEstimator

from headstart import __version__
from headstart.data.dataset import DataSplits
from headstart.data.detection import BoxData
from headstart.data.images import load_image
from headstart.detection.boxes import Detections, detect_images
from headstart.detection.metrics import detection_metrics
from headstart.detection.training import EVAL_CONF
from headstart.errors import HeadstartError
from headstart.models import WeightsSource, create_backbone, get_model_spec
from headstart.models.darknet import Darknet, decode
from headstart.models.detectors import source_class_names
from headstart.progress import Reporter
from headstart.rundir import read_config, read_weights, save_run
from headstart.strategies.base import FitContext
from headstart.strategies.detect import get_detection_strategy
from headstart.tasks import get_task
from headstart.tasks.detect import input_side


class ObjectDetector(BaseEstimator):
    """Fine-tunes a pre-trained detector on box-labelled images (YOLO data.yaml or COCO JSON).

    ``strategy`` is ``fine-tune`` (the default), ``head`` or ``scratch``; ``freeze=N`` keeps the first N layers
    as pre-trained. ``conf`` and ``iou`` are the score threshold and NMS overlap used by ``predict``.
    """

    task = "detect"

    def __init__(self, model: str = "yolov3-tiny", strategy: str = "fine-tune", *, freeze: int | None = None,
                 weights: str | None = None, epochs: int | None = None, lr: float | None = None, batch_size: int = 8,
                 image_size: int | None = None, val_size: float = 0.2, conf: float = 0.25, iou: float = 0.45,
                 seed: int = 0, precision: str = "fp32", num_workers: int = 0, verbose: bool = False) -> None:
        self.model = model
        self.strategy = strategy
        self.freeze = freeze
        self.weights = weights
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.image_size = image_size
        self.val_size = val_size
        self.conf = conf
        self.iou = iou
        self.seed = seed
        self.precision = precision
        self.num_workers = num_workers
        self.verbose = verbose

    @classmethod
    def pretrained(cls, model: str = "yolov3-tiny", **params: Any) -> ObjectDetector:
        """The pre-trained detector as it is (zero-shot, on the classes it was trained on, e.g. COCO's 80)."""
        detector = cls(model=model, strategy="pretrained", **params)
        spec = get_model_spec(model, detector.weights)
        get_task(cls.task).check_model(spec)
        detector._set_fitted(create_backbone(spec).eval(), spec, source_class_names(spec), [], {})
        return detector

    def _set_fitted(self, model: Darknet, spec, classes: list[str], history: list, data_record: dict) -> None:
        self.model_ = model
        self.spec_ = spec
        self.classes_ = np.asarray(classes)
        self.preprocessing_ = get_task(self.task).preprocessing(spec, self.get_params())
        self.strategy_ = self.strategy
        self.history_ = history
        self.data_record_ = data_record

    # -- fitting ---------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: None = None) -> ObjectDetector:
        """Train on ``X``: a YOLO data.yaml or folder, a COCO .json, ``detect-sample``, or ``DataSplits``."""
        task = get_task(self.task)
        splits = X if isinstance(X, DataSplits) else task.read(X, seed=self.seed)
        if not sum(len(t.labels) for t in splits.train.targets):
            raise HeadstartError(f"no boxes in the training images of {splits.train.source}; label some first")
        splits = self._with_validation(splits)
        spec = get_model_spec(self.model, self.weights)
        task.check_model(spec)
        strategy = get_detection_strategy(self.strategy, self.freeze)
        reporter = Reporter(self.verbose)
        reporter.say(f"strategy [bold]{strategy.name}[/] ({strategy.summary})")
        classes = splits.train.classes
        set_seed(self.seed)
        model = create_backbone(spec, pretrained=strategy.pretrained)
        model.reset_classes(len(classes))
        preprocessing = task.preprocessing(spec, self.get_params())
        ctx = FitContext(task=task, preprocessing=preprocessing, num_classes=len(classes), seed=self.seed,
                         batch_size=self.batch_size, precision=self.precision, epochs=self.epochs, lr=self.lr,
                         num_workers=self.num_workers, reporter=reporter)
        start = time.perf_counter()
        result = strategy.fit(model, splits.train, splits.val, ctx)
        self.fit_seconds_ = time.perf_counter() - start
        self._set_fitted(model.eval(), spec, classes, [r.to_row() for r in result.history], {
            "source": splits.train.source, "splits": splits.record, "warnings": splits.warnings,
            "counts": {name: part.class_counts() for name, part in (("train", splits.train), ("val", splits.val),
                                                                    ("test", splits.test)) if part is not None},
        })
        self.strategy_ = strategy.name
        self.fit_details_ = result.details
        self.splits_ = splits
        return self

    def _with_validation(self, splits: DataSplits) -> DataSplits:
        """A validation split drawn from train (for early stopping and the best epoch) when none is given."""
        n = len(splits.train)
        if (splits.val is not None and len(splits.val)) or n < 5 or not self.val_size:
            return splits
        order = np.random.default_rng(self.seed).permutation(n)
        cut = max(1, round(n * self.val_size))
        record = {**splits.record, "val": f"{cut} of {n} training images, drawn at random (seed {self.seed})"}
        return DataSplits(splits.train.subset(sorted(order[cut:])), splits.train.subset(sorted(order[:cut])),
                          splits.test, record, list(splits.warnings))

    # -- predicting ------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("this ObjectDetector is not fitted yet; call fit(), load() or pretrained()")

    @torch.inference_mode()
    def predict(self, X: Any, conf: float | None = None) -> list[Detections]:
        """Boxes (xyxy, image pixels), scores and class indices (into ``classes_``) for each image of ``X``."""
        self._check_fitted()
        items = get_task(self.task).expand_inputs([str(X)]) if isinstance(X, str | Path) else list(X)
        side, model = input_side(self.preprocessing_), self.model_.eval()

        def rows_of(batch: torch.Tensor) -> torch.Tensor:
            return decode(model(batch), model.heads, (side, side))

        found = []
        for start in range(0, len(items), self.batch_size):
            images = [load_image(item) for item in items[start : start + self.batch_size]]
            found += detect_images(images, side, rows_of, self.conf if conf is None else conf, self.iou)
        return found

    def evaluate(self, data: BoxData) -> dict:
        """mAP@0.5, mAP@0.5:0.95, mAR@100 and per-class AP on ``data`` (scored on all boxes above 0.01)."""
        return self.evaluate_with_predictions(data)[0]

    def evaluate_with_predictions(self, data: BoxData) -> tuple[dict, list[Detections]]:
        self._check_fitted()
        if list(data.classes) != self.classes_.tolist():
            raise HeadstartError(f"the classes of {data.source} ({', '.join(data.classes)}) are not the detector's "
                                 f"({', '.join(self.classes_)}); evaluate on data with the same names, in order")
        predictions = self.predict(data.items, conf=EVAL_CONF)
        targets = [{"boxes": torch.as_tensor(t.boxes), "labels": torch.as_tensor(t.labels)} for t in data.targets]
        return detection_metrics(predictions, targets, self.classes_.tolist()), predictions

    def export(self, path: str | Path, format: str = "onnx") -> Path:
        """The detector as ``onnx`` or ``torchscript``: input ``images`` (B, 3, S, S) letterboxed in [0, 1]; output
        ``rows`` (B, N, 5 + C) (cx, cy, w, h in input pixels, objectness, class probabilities), before NMS."""
        from headstart.detection.export import export_detector

        self._check_fitted()
        return export_detector(self.model_, path, input_side(self.preprocessing_), format)

    # -- saving ----------------------------------------------------------------------------------------------
    def save(self, path: str | Path, summary: dict | None = None) -> Path:
        """A run directory (config.json, model.safetensors, metrics.csv) that ``ObjectDetector.load`` reads."""
        self._check_fitted()
        config = {
            "headstart_version": __version__, "task": self.task, "model": self.spec_.to_record(),
            "preprocessing": self.preprocessing_, "classes": self.classes_.tolist(), "strategy": self.strategy_,
            "strategy_reason": "chosen by the user", "params": self.get_params(), "data": self.data_record_,
            "fit_details": getattr(self, "fit_details_", {}),
        }
        return save_run(path, config, self.model_.state_dict(), self.history_, summary)

    @classmethod
    def load(cls, path: str | Path) -> ObjectDetector:
        """Rebuild a fitted detector from its run directory (no pre-trained weights, no pickle)."""
        config = read_config(path)
        if config.get("task") != cls.task:
            raise HeadstartError(f"{path} is a {config.get('task')} run, not a detection run; use headstart.load()")
        params = {k: v for k, v in config.get("params", {}).items() if k in cls().get_params()}
        detector = cls(**params)
        record = config["model"]
        spec = get_model_spec(record["name"]).with_weights(WeightsSource(**record["weights"]))
        model = create_backbone(spec, pretrained=False)
        model.reset_classes(len(config["classes"]))
        try:
            model.load_state_dict(read_weights(path), strict=True)
        except RuntimeError as exc:
            raise HeadstartError(f"the weights in {path} do not match its config ({str(exc)[:120]}...)") from exc
        detector._set_fitted(model.eval(), spec, config["classes"], [], config.get("data", {}))
        detector.preprocessing_ = config["preprocessing"]
        detector.strategy_ = config["strategy"]
        detector.fit_details_ = config.get("fit_details", {})
        return detector
