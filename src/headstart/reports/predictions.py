"""The evaluated split's predictions, saved in the run directory for the report (and for the user)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from headstart.data.dataset import LabeledData, LabelSets
from headstart.files import atomic_write
from headstart.reports.page import MISTAKES_DIR, PREDICTIONS
from headstart.rundir import write_csv
from headstart.tasks.base import Task

MISTAKES_SHOWN = 12


def save_predictions(run_dir: Path, task: Task, data: LabeledData, classes: np.ndarray, proba: np.ndarray) -> None:
    """predictions.csv (one row per evaluated example) and thumbnails of the most confident mistakes."""
    predicted = classes[proba.argmax(axis=1)]
    confidence = proba.max(axis=1)
    correct = predicted == np.asarray(data.labels)
    rows = [
        {"index": i, "id": data.ids[i], "input": _describe(item), "label": data.labels[i], "predicted": predicted[i],
         "confidence": round(float(confidence[i]), 6), "correct": bool(correct[i])}
        for i, item in enumerate(data.items)
    ]
    write_csv(run_dir / PREDICTIONS, rows)
    _save_previews(run_dir, task, data, sorted(np.flatnonzero(~correct), key=lambda i: -confidence[i]))


def save_label_set_predictions(run_dir: Path, task: Task, data: LabelSets, classes: np.ndarray, proba: np.ndarray,
                               thresholds: np.ndarray) -> None:
    """predictions.csv of a multi-label run (true and predicted sets joined by '|', whether they are equal, the
    label with the largest error and that error, every label's probability) and thumbnails of the inputs whose
    worst error is largest."""
    truth = data.indicator(list(classes))
    chosen = proba >= (thresholds if np.ndim(thresholds) == 2 else thresholds[None, :])  # per input, or per label
    errors = np.abs(proba - truth)
    worst = errors.argmax(axis=1) if len(classes) else np.zeros(len(proba), int)
    correct = (chosen == (truth > 0.5)).all(axis=1)
    rows = [
        {"index": i, "id": data.ids[i], "input": _describe(item), "label": "|".join(data.labels[i]),
         "predicted": "|".join(str(c) for c in classes[chosen[i]]), "correct": bool(correct[i]),
         "worst_label": str(classes[worst[i]]), "error": round(float(errors[i, worst[i]]), 6),
         **{f"p_{c}": round(float(v), 6) for c, v in zip(classes, proba[i], strict=True)}}
        for i, item in enumerate(data.items)
    ]
    write_csv(run_dir / PREDICTIONS, rows)
    _save_previews(run_dir, task, data, sorted(np.flatnonzero(~correct), key=lambda i: -errors[i, worst[i]]))


def _save_previews(run_dir: Path, task: Task, data: LabeledData, wrong: list[int]) -> None:
    """Thumbnails of the first ``MISTAKES_SHOWN`` of ``wrong`` (image inputs only)."""
    for i in wrong[:MISTAKES_SHOWN]:
        preview = task.preview(data.items[i])
        if hasattr(preview, "save"):  # an image
            (run_dir / MISTAKES_DIR).mkdir(exist_ok=True)
            atomic_write(run_dir / MISTAKES_DIR / f"{i}.png", lambda tmp, image=preview: image.save(tmp, format="PNG"))


def _describe(item) -> str:
    """A path or a text as it is; an in-memory image by its size."""
    if isinstance(item, str | Path):
        return str(item)
    size = getattr(item, "size", None) or getattr(item, "shape", "")
    return f"<image {size}>"
