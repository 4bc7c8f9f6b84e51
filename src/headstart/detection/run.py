"""Detection runs: fit, score on the test (else validation) split, save the run directory with drawn examples."""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Any

from headstart.data.detection import BoxData
from headstart.data.images import load_image
from headstart.detection.boxes import Detections
from headstart.detection.draw import draw_detections, save_drawn

EXAMPLES_DIR = "examples"
EXAMPLES_SHOWN = 8


def train_detection(data: str | Path, model: str | None, strategy: str, out: str | Path | None, verbose: bool = False,
                    **params: Any):
    """``headstart train DATA --task detect``: what ``api.train`` does for classifiers, for a detector."""
    from headstart.api import TrainResult, default_run_dir, evaluation_data
    from headstart.detector import ObjectDetector
    from headstart.reports.html import write_report

    start = time.perf_counter()
    known = ObjectDetector().get_params()
    detector = ObjectDetector(model=model or "yolov3-tiny", strategy="fine-tune" if strategy == "auto" else strategy,
                              verbose=verbose, **{k: v for k, v in params.items() if k in known})
    detector.fit(data)
    split_name, split = evaluation_data(detector.splits_)
    scores, predictions = detector.evaluate_with_predictions(split)
    summary = {
        "task": "detect", "strategy": detector.strategy_, "strategy_reason": "chosen by the user",
        "model": detector.spec_.name, "evaluated_on": split_name, "scores": scores,
        "fit_seconds": round(detector.fit_seconds_, 2), "total_seconds": round(time.perf_counter() - start, 2),
        "data_args": {"data": str(data), "task": "detect"}, "warnings": detector.splits_.warnings,
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
    }
    detector.data_record_["args"] = summary["data_args"]
    run_dir = Path(out) if out else default_run_dir(detector.spec_.name, detector.strategy_)
    detector.save(run_dir, summary)
    save_examples(run_dir, split, predictions, detector.classes_.tolist(), detector.conf)
    write_report(run_dir)
    return TrainResult(detector, run_dir, summary)


def save_examples(run_dir: Path, data: BoxData, predictions: list[Detections], classes: list[str], conf: float) -> None:
    """The first evaluated images with their predicted boxes above ``conf`` (ground truth in thin white)."""
    import torch

    for index in range(min(EXAMPLES_SHOWN, len(data))):
        found, target = predictions[index], data.targets[index]
        keep = found.scores >= conf
        truth = Detections(torch.as_tensor(target.boxes), torch.ones(len(target.labels)), torch.as_tensor(target.labels))
        image = draw_detections(load_image(data.items[index]), Detections(found.boxes[keep], found.scores[keep],
                                                                          found.labels[keep]), classes, truth)
        image.thumbnail((480, 480))
        save_drawn(run_dir / EXAMPLES_DIR / f"{index:02d}.jpg", image)


def evaluate_detection(run: str | Path, data: str | Path) -> tuple[str, dict]:
    """Score a saved detection run on ``data`` (its test split, else validation, else all)."""
    from headstart.api import evaluation_data
    from headstart.detector import ObjectDetector
    from headstart.tasks import get_task

    detector = ObjectDetector.load(run)
    split_name, split = evaluation_data(get_task("detect").read(data))
    return split_name, detector.evaluate(split)
