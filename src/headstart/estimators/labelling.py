"""What to label next, and which labels to check (issue 30), for a fitted classifier: ``suggest`` ranks an unlabelled
pool (search/active.py), ``label_issues`` finds likely label errors in labelled data (evaluation/label_issues.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.model_selection import cross_val_predict
from threadpoolctl import threadpool_limits

from headstart.data.dataset import LabeledData
from headstart.errors import HeadstartError
from headstart.estimators.unlabeled import as_pool
from headstart.evaluation.label_issues import find_label_issues, issue_rows
from headstart.features.cache import cached_features
from headstart.features.probe_recipe import (
    C_GRID,
    SINGLE_LABEL,
    cv_folds,
    logistic_regression,
    probe_inputs,
    probe_options,
)
from headstart.models import create_backbone
from headstart.progress import Reporter
from headstart.search.active import choose_to_label
from headstart.strategies import get_strategy


def suggestions(estimator: Any, pool: Any, n: int, labelled: LabeledData | None = None,
                text_column: str | None = None) -> list[dict]:
    """The ``n`` inputs of ``pool`` to label first, in order, with the model's guess as a hint. Inputs of
    ``labelled`` (by content) are left out."""
    task = estimator._task()
    task.check_unlabeled("suggest")
    pool = as_pool(task, pool, text_column, Reporter(estimator.verbose))
    if labelled is not None:
        known = {task.content_key(item) for item in labelled.items}
        pool = pool.subset([i for i, item in enumerate(pool.items) if task.content_key(item) not in known])
        if not len(pool):
            raise HeadstartError("every input of the pool is labelled already; give inputs you have not labelled")
    ranking = rank_pool(estimator, list(pool.items), n)
    return [{"rank": rank, "input": task.table_cell(pool.items[index], pool.ids[index]),
             "predicted": str(estimator.classes_[ranking.predicted[index]]),
             "confidence": round(float(ranking.confidence[index]), 4),
             "uncertainty": round(float(ranking.uncertainty[index]), 4),
             "distance_to_labelled": round(float(ranking.distance[index]), 4)}
            for rank, index in enumerate(ranking.chosen, start=1)]


@dataclass
class PoolRanking:
    """The inputs chosen to label, in order (indices of the pool), and every input's predicted class index, its
    probability, margin uncertainty and distance to the nearest labelled example (nan where not computed)."""

    chosen: np.ndarray
    predicted: np.ndarray
    confidence: np.ndarray
    uncertainty: np.ndarray
    distance: np.ndarray


def rank_pool(estimator: Any, items: list, n: int) -> PoolRanking:
    """Which ``n`` of ``items`` to label first (search/active.py). Inputs the run's unknown-input detector flags (like
    none of the classes) come after all the others: labelling outliers teaches the classes little."""
    features, probabilities = estimator._outputs(items, "features (pool)")
    detector = getattr(estimator, "unknown_detector_", None)
    labelled = detector.reference if detector is not None else np.zeros((0, features.shape[1]), np.float32)
    flagged = detector.unknown(features) if detector is not None else np.zeros(len(features), bool)
    uncertainty, distance = np.full(len(items), np.nan), np.full(len(items), np.nan)
    chosen: list[np.ndarray] = []
    for rows in (np.flatnonzero(~flagged), np.flatnonzero(flagged)):
        wanted = n - sum(len(c) for c in chosen)
        if wanted <= 0 or not len(rows):
            continue
        taken = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
        centres = np.concatenate([labelled, features[taken]]) if len(taken) else labelled
        picked, uncertainty[rows], distance[rows] = choose_to_label(features[rows], probabilities[rows], centres,
                                                                    wanted, estimator.seed)
        chosen.append(rows[picked])
    order = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
    return PoolRanking(order, probabilities.argmax(axis=1), probabilities.max(axis=1), uncertainty, distance)


def pretrained_features(estimator: Any, items: list) -> np.ndarray:
    """The features the label check regresses on: the pre-trained backbone's (the run's own when it kept them, read
    from the cache). A backbone trained on these very labels agrees with them on its training examples, which
    would hide their errors."""
    if get_strategy(estimator.strategy_).frozen_backbone:
        return estimator._outputs(items, "features (labelled)")[0]
    task = estimator._task()
    dataset = task.inputs_dataset(items, None, estimator.preprocessing_, train=False)
    keys = [task.content_key(item) for item in items]
    return cached_features(create_backbone(estimator.spec_), dataset, keys, estimator._feature_cache(),
                           estimator.preprocessing_, precision=estimator.precision_,
                           description="features (labelled, pre-trained backbone)")


def out_of_fold_probabilities(estimator: Any, data: LabeledData) -> np.ndarray:
    """Each example's class probabilities from a logistic regression on pre-trained features that never saw it
    (the probe's recipe, C chosen by cross-validation), columns in the order of ``classes_``."""
    classes = list(estimator.classes_)
    estimator._task().check_labels(data, classes, "checked")
    labels = np.searchsorted(classes, data.labels)
    counts = np.bincount(labels, minlength=len(classes))
    folds = min(5, int(counts[counts > 0].min()))
    if folds < 2:
        raise HeadstartError("checking labels needs at least 2 labelled examples of every class present; label more")
    defaults = probe_options(getattr(estimator.model_, "backbone", None))  # TF-IDF: its rows as they are
    z, _, _ = probe_inputs(pretrained_features(estimator, list(data.items)), defaults.get("power"), defaults.get("scale"))
    present = np.flatnonzero(counts)
    if len(present) < 2:
        raise HeadstartError("checking labels needs examples of at least 2 classes")
    with threadpool_limits(limits=1, user_api="blas"):
        c = SINGLE_LABEL.cross_validate(z, labels, C_GRID, folds, estimator.seed).C
        found = cross_val_predict(logistic_regression(c, estimator.seed), z, labels, cv=cv_folds(folds, estimator.seed),
                                  method="predict_proba")
    probabilities = np.zeros((len(labels), len(classes)))
    probabilities[:, present] = found
    return probabilities


def label_issues(estimator: Any, data: LabeledData) -> list[dict]:
    """Likely label errors in ``data``, the most likely first."""
    estimator._task().check_unlabeled("checking labels")
    probabilities = out_of_fold_probabilities(estimator, data)
    labels = np.searchsorted(list(estimator.classes_), data.labels)
    task = estimator._task()
    names = [task.table_cell(item, name) for item, name in zip(data.items, data.ids, strict=True)]
    return issue_rows(names, labels, probabilities, list(estimator.classes_), find_label_issues(labels, probabilities))
