"""Prediction rows as ``headstart predict`` prints them, from probabilities (torch and ONNX Runtime alike)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def top_k_rows(items: Sequence[Any], proba: np.ndarray, classes: np.ndarray, top_k: int) -> list[dict]:
    """One row per input: the input, its label and probability, and the ``top_k`` most probable classes."""
    rows = []
    for item, p in zip(items, proba, strict=True):
        top = _top(p, classes, top_k)
        rows.append({"input": str(item), "label": top[0]["label"], "probability": top[0]["probability"], "top_k": top})
    return rows


def _top(p: np.ndarray, classes: np.ndarray, top_k: int) -> list[dict]:
    """The ``top_k`` most probable classes (at least one, at most all) with their probabilities."""
    k = max(1, min(top_k, len(classes)))
    return [{"label": str(classes[i]), "probability": round(float(p[i]), 6)} for i in p.argsort()[::-1][:k]]


def label_sets(proba: np.ndarray, classes: np.ndarray, thresholds: np.ndarray) -> np.ndarray:
    """Each input's labels whose probability reaches their threshold, as tuples (possibly empty) in an object
    array: what a multi-label run predicts, in PyTorch and ONNX Runtime alike."""
    result = np.empty(len(proba), dtype=object)
    result[:] = [tuple(str(c) for c in classes[row >= thresholds]) for row in proba]
    return result


def label_set_rows(items: Sequence[Any], proba: np.ndarray, classes: np.ndarray, thresholds: np.ndarray,
                   top_k: int) -> list[dict]:
    """One row per input of a multi-label run: the input, the labels whose probability reaches their threshold
    (possibly none), each label's probability, and the ``top_k`` most probable labels."""
    rows = []
    for item, p, chosen in zip(items, proba, label_sets(proba, classes, thresholds), strict=True):
        rows.append({"input": str(item), "labels": list(chosen),
                     "probabilities": {str(c): round(float(v), 6) for c, v in zip(classes, p, strict=True)},
                     "top_k": _top(p, classes, top_k)})
    return rows
