"""Likely label errors in labelled data (issue 30): cleanlab's confident learning on out-of-fold probabilities.

A wrong label among 200 examples costs more than a missing one, and confident learning (Northcutt et al. 2021) finds
them from any model's out-of-fold probabilities: per class, a threshold (the mean probability the model gives that
class on examples labelled with it) gives the confident joint of given and likely true labels, which estimates how
many examples of each class carry each wrong label; that many are flagged, those least likely under their given
label first (``cleanlab.filter.find_label_issues``, ``prune_by_noise_rate``). This module only explains its output.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from headstart.errors import HeadstartError


def find_label_issues(labels: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Indices of examples whose label (class index) is likely wrong, the most likely first (lowest probability of
    the given label)."""
    from cleanlab.filter import find_label_issues as confident_learning

    if len(labels) != len(probabilities):
        raise HeadstartError(f"{len(labels)} labels but {len(probabilities)} rows of probabilities")
    if len(np.unique(labels)) < 2:
        return np.zeros(0, np.int64)
    # One process: the per-class work is small, and a pool forked from a process holding torch and FAISS threads is
    # not worth it.
    found = confident_learning(np.asarray(labels), np.asarray(probabilities, dtype=np.float64),
                               filter_by="prune_by_noise_rate", return_indices_ranked_by="self_confidence", n_jobs=1)
    return np.asarray(found, dtype=np.int64)


def issue_rows(ids: Sequence[str], labels: np.ndarray, probabilities: np.ndarray, classes: Sequence[str],
               found: np.ndarray) -> list[dict]:
    """One row per likely error: the input, its label, the class the model believes instead, and both
    probabilities (out of fold: from a model that never saw the example)."""
    rows = []
    for index in found:
        given = int(labels[index])
        other = int(np.argmax(np.where(np.arange(len(classes)) == given, -1.0, probabilities[index])))
        rows.append({"input": ids[index], "label": str(classes[given]), "suggested": str(classes[other]),
                     "label_probability": round(float(probabilities[index, given]), 4),
                     "suggested_probability": round(float(probabilities[index, other]), 4)})
    return rows
