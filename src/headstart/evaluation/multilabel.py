"""Scores for multi-label predictions (issue 29): each input has a set of labels, possibly empty ("no finding").

Everything here works on indicator matrices (inputs x labels, 0/1) and per-label probabilities, with scikit-learn's
metrics; what scikit-learn does not decide is written out: which threshold each label gets, and what to say about a
label with no positive example.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.metrics import average_precision_score, f1_score, precision_recall_fscore_support, roc_auc_score

DEFAULT_THRESHOLD = 0.5


def choose_thresholds(truth: np.ndarray, proba: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """Per label, the probability threshold with the best F1 on ``(truth, proba)`` (a validation split), and a
    note for each label where none can be chosen (no positive, or no negative, example): it keeps
    ``DEFAULT_THRESHOLD``. Candidate thresholds are the midpoints between the sorted distinct probabilities, so the
    choice does not depend on a grid."""
    thresholds = np.full(len(labels), DEFAULT_THRESHOLD)
    notes = []
    for j, label in enumerate(labels):
        positives = int(truth[:, j].sum())
        if positives == 0 or positives == len(truth):
            what = "no positive" if positives == 0 else "no negative"
            notes.append(f"label '{label}' has {what} example in the validation split: its threshold stays "
                         f"{DEFAULT_THRESHOLD}; label more examples of it (and without it) to have one chosen")
            continue
        values = np.unique(proba[:, j])
        candidates = (values[:-1] + values[1:]) / 2 if len(values) > 1 else values
        scores = [f1_score(truth[:, j], proba[:, j] >= t, zero_division=0) for t in candidates]
        thresholds[j] = float(candidates[int(np.argmax(scores))])
    return thresholds, notes


def multilabel_metrics(truth: np.ndarray, proba: np.ndarray, thresholds: np.ndarray, labels: Sequence[str]) -> dict:
    """Macro and micro F1, mean average precision, subset accuracy, label cardinality (true and predicted), and per
    label: precision, recall, F1, support, AUROC and average precision (None where a label has no positive or no
    negative example, for which they are undefined)."""
    truth = np.asarray(truth, dtype=int)
    predicted = (np.asarray(proba) >= np.asarray(thresholds)[None, :]).astype(int)
    precision, recall, f1, support = precision_recall_fscore_support(truth, predicted, average=None, zero_division=0)
    per_label = {}
    defined = []
    for j, label in enumerate(labels):
        both = 0 < truth[:, j].sum() < len(truth)
        defined.append(both)
        per_label[label] = {
            "precision": float(precision[j]), "recall": float(recall[j]), "f1": float(f1[j]), "support": int(support[j]),
            "auroc": float(roc_auc_score(truth[:, j], proba[:, j])) if both else None,
            "average_precision": float(average_precision_score(truth[:, j], proba[:, j])) if both else None,
            "threshold": float(thresholds[j]),
        }
    ap = [v["average_precision"] for v, ok in zip(per_label.values(), defined, strict=True) if ok]
    return {
        "n": len(truth),
        "macro_f1": float(f1_score(truth, predicted, average="macro", zero_division=0)),
        "micro_f1": float(f1_score(truth, predicted, average="micro", zero_division=0)),
        "mean_average_precision": float(np.mean(ap)) if ap else None,
        "subset_accuracy": float((predicted == truth).all(axis=1).mean()),
        "label_cardinality": float(truth.sum(axis=1).mean()),
        "predicted_cardinality": float(predicted.sum(axis=1).mean()),
        "empty_sets": int((truth.sum(axis=1) == 0).sum()),
        "per_label": per_label,
    }
