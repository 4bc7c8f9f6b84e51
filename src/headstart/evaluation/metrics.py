"""Classification metrics, computed with scikit-learn, as plain JSON-able numbers."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)


def classification_metrics(y_true: Sequence[str], y_pred: Sequence[str], classes: Sequence[str]) -> dict:
    """Accuracy, balanced accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix
    (rows: true class, columns: predicted class, both in the order of ``classes``)."""
    labels = list(classes)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    return {
        "n": len(y_true),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "balanced_accuracy": _balanced_accuracy(y_true, y_pred),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            cls: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
            for cls, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def _balanced_accuracy(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """The mean recall over the classes ``y_true`` has (a test split without some classes is no reason to warn)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(balanced_accuracy_score(y_true, y_pred))


def calibration(confidence: Sequence[float], correct: Sequence[bool], bins: int = 15) -> dict:
    """Expected calibration error of the top-label confidence, and the reliability table behind it.

    Equal-width confidence bins; ECE = sum over bins of |accuracy - mean confidence| weighted by the bin's share.
    (scikit-learn's ``calibration_curve`` gives the per-bin means but not the counts ECE weighs them by.)
    """
    confidence, correct = np.asarray(confidence, float), np.asarray(correct, bool)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    table, ece = [], 0.0
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        if count:
            accuracy, mean_confidence = float(correct[inside].mean()), float(confidence[inside].mean())
            ece += count / len(confidence) * abs(accuracy - mean_confidence)
            table.append({"low": float(edges[b]), "high": float(edges[b + 1]), "count": count,
                          "accuracy": accuracy, "confidence": mean_confidence})
    return {"ece": float(ece), "bins": table}
