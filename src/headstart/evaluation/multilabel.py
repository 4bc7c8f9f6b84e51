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
        thresholds[j] = best_f1_threshold(truth[:, j], proba[:, j])
    return thresholds, notes


def best_f1_threshold(truth: np.ndarray, proba: np.ndarray) -> float:
    """The midpoint between two neighbouring distinct probabilities with the best F1 (the lowest of equals), counted
    for every candidate at once: one sort instead of one F1 per candidate."""
    values, inverse = np.unique(proba, return_inverse=True)
    if len(values) == 1:
        return float(values[0])
    positives = np.bincount(inverse, weights=truth, minlength=len(values))
    counts = np.bincount(inverse, minlength=len(values))
    true_pos = np.cumsum(positives[::-1])[::-1]  # predicting positive from values[i] up
    predicted = np.cumsum(counts[::-1])[::-1]
    f1 = 2 * true_pos / (predicted + truth.sum())
    best = int(np.argmax(f1[1:])) + 1
    return float((values[best - 1] + values[best]) / 2)


def cross_fitted_thresholds(truth: np.ndarray, proba: np.ndarray, labels: Sequence[str], seed: int = 0
                            ) -> np.ndarray:
    """Per input, thresholds chosen on the other half of ``(truth, proba)`` (two folds, seeded): scoring a split with
    thresholds chosen on that same split would reward the choice for fitting its noise. An (inputs x labels)
    matrix, for ``multilabel_metrics``."""
    order = np.random.default_rng(seed).permutation(len(truth))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    result = np.full(np.shape(proba), DEFAULT_THRESHOLD)
    for scored, chosen_on in (halves, halves[::-1]):
        if len(chosen_on):
            result[scored] = choose_thresholds(truth[chosen_on], proba[chosen_on], labels)[0]
    return result


def multilabel_metrics(truth: np.ndarray, proba: np.ndarray, thresholds: np.ndarray, labels: Sequence[str]) -> dict:
    """Macro and micro F1, mean average precision, subset accuracy, label cardinality (true and predicted), and per
    label: precision, recall, F1, support, AUROC and average precision (None where a label has no positive or no
    negative example, for which they are undefined). ``thresholds``: one per label, or one per input and label (see
    ``cross_fitted_thresholds``; each label's recorded threshold is then their mean)."""
    truth = np.asarray(truth, dtype=int)
    thresholds = np.asarray(thresholds, dtype=float)
    predicted = (np.asarray(proba) >= (thresholds if thresholds.ndim == 2 else thresholds[None, :])).astype(int)
    if thresholds.ndim == 2:
        thresholds = thresholds.mean(axis=0) if len(thresholds) else np.full(len(labels), DEFAULT_THRESHOLD)
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
    scored = [j for j in range(len(labels)) if truth[:, j].any() or predicted[:, j].any()]
    return {
        "n": len(truth),
        # Labels neither present nor predicted here have no F1 (nothing to find, nothing claimed): left out of the
        # mean rather than counted as 0, so that a small split missing a rare label is not scored down for it.
        "macro_f1": float(np.mean([f1[j] for j in scored])) if scored else 1.0,  # nothing to find, none claimed
        "macro_f1_labels": len(scored),
        "micro_f1": float(f1_score(truth, predicted, average="micro", zero_division=0)),
        "mean_average_precision": float(np.mean(ap)) if ap else None,
        "subset_accuracy": float((predicted == truth).all(axis=1).mean()),
        "label_cardinality": float(truth.sum(axis=1).mean()),
        "predicted_cardinality": float(predicted.sum(axis=1).mean()),
        "empty_sets": int((truth.sum(axis=1) == 0).sum()),
        "per_label": per_label,
    }
