"""Prediction rows as ``headstart predict`` prints them, from probabilities (torch and ONNX Runtime alike)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def top_k_rows(items: Sequence[Any], proba: np.ndarray, classes: np.ndarray, top_k: int) -> list[dict]:
    """One row per input: the input, its label and probability, and the ``top_k`` most probable classes."""
    k = max(1, min(top_k, len(classes)))
    rows = []
    for item, p in zip(items, proba, strict=True):
        top = [{"label": str(classes[i]), "probability": round(float(p[i]), 6)} for i in p.argsort()[::-1][:k]]
        rows.append({"input": str(item), "label": top[0]["label"], "probability": top[0]["probability"], "top_k": top})
    return rows


def label_set_rows(items: Sequence[Any], proba: np.ndarray, classes: np.ndarray, thresholds: np.ndarray,
                   top_k: int) -> list[dict]:
    """One row per input of a multi-label run: the input, the labels whose probability reaches their threshold
    (possibly none), each label's probability, and the ``top_k`` most probable labels."""
    k = max(1, min(top_k, len(classes)))
    rows = []
    for item, p in zip(items, proba, strict=True):
        chosen = [str(classes[j]) for j in np.flatnonzero(p >= thresholds)]
        top = [{"label": str(classes[j]), "probability": round(float(p[j]), 6)} for j in p.argsort()[::-1][:k]]
        rows.append({"input": str(item), "labels": chosen,
                     "probabilities": {str(c): round(float(v), 6) for c, v in zip(classes, p, strict=True)},
                     "top_k": top})
    return rows
