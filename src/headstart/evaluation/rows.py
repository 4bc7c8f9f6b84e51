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


def class_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """A classifier's rows as ``predict`` prints them; inputs like none of the classes get a note by their label."""
    header = ["input", "label", "probability", "top-k"]

    def label(row: dict) -> str:
        return f"{row['label']} [bold red](unknown: like none of the classes)[/]" if row.get("unknown") else row["label"]

    return header, [[row["input"], label(row), f"{row['probability']:.1%}",
                     ", ".join(f"{t['label']} {t['probability']:.1%}" for t in row["top_k"])] for row in rows]


def class_csv(rows: list[dict]) -> tuple[list[str], list[list[Any]]]:
    unknown = any("unknown" in row for row in rows)
    header = ["input", "label", "probability", "top_k"] + (["unknown", "unknown_score"] if unknown else [])
    return header, [[row["input"], row["label"], f"{row['probability']:.6f}",
                     ";".join(f"{t['label']}:{t['probability']:.4f}" for t in row["top_k"])]
                    + ([str(row.get("unknown", "")).lower(), row.get("unknown_score", "")] if unknown else [])
                    for row in rows]


def label_set_table(rows: list[dict]) -> tuple[list[str], list[list[str]]]:
    """A multi-label run's rows as ``predict`` prints them."""
    def labels(row: dict) -> str:
        shown = ", ".join(row["labels"]) or "(none)"
        return f"{shown} [bold red](unknown: like none of the training inputs)[/]" if row.get("unknown") else shown

    return ["input", "labels", "top-k"], [[row["input"], labels(row), ", ".join(
        f"{t['label']} {t['probability']:.1%}" for t in row["top_k"])] for row in rows]


def label_set_csv(rows: list[dict]) -> tuple[list[str], list[list[Any]]]:
    classes = list(rows[0]["probabilities"]) if rows else []
    unknown = any("unknown" in row for row in rows)
    header = ["input", "labels", *classes] + (["unknown", "unknown_score"] if unknown else [])
    return header, [[row["input"], "|".join(row["labels"]), *(f"{row['probabilities'][c]:.6f}" for c in classes)]
                    + ([str(row.get("unknown", "")).lower(), row.get("unknown_score", "")] if unknown else [])
                    for row in rows]
