"""The evaluated split's predictions, saved in the run directory for the report (and for the user)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from headstart.data.dataset import LabeledData
from headstart.files import atomic_write
from headstart.reports.html import MISTAKES_DIR, PREDICTIONS
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
    wrong = sorted(np.flatnonzero(~correct), key=lambda i: -confidence[i])[:MISTAKES_SHOWN]
    for i in wrong:
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
