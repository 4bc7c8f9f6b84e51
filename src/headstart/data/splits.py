"""Seeded, stratified splits, and per-class subsampling for few-shot experiments."""

from __future__ import annotations

from typing import Any

import numpy as np

from headstart.data.dataset import DataSplits, LabeledData
from headstart.errors import HeadstartError


def check_trainable(data: LabeledData, where: str) -> None:
    """Refuse data a classifier cannot learn from: no items, one class, or a class with a single example."""
    if len(data) == 0:
        raise HeadstartError(f"no labelled examples found in {where}; put images in one sub-folder per class")
    counts = data.class_counts()
    if len(counts) < 2:
        only = next(iter(counts))
        raise HeadstartError(f"only one class ('{only}') in {where}; a classifier needs at least two classes")
    lonely = [c for c, n in counts.items() if n < 2]
    if lonely:
        raise HeadstartError(
            f"class '{lonely[0]}' in {where} has a single example; give every class at least 2 "
            f"(better 10 or more), or remove it ({len(lonely)} class(es) affected)"
        )


def split_validation(
    train: LabeledData, val_size: float, seed: int
) -> tuple[LabeledData, LabeledData | None, dict]:
    """Carve a stratified validation part out of ``train``; too little data gives no validation part."""
    n_classes = len(train.classes)
    n_val = max(round(val_size * len(train)), n_classes)
    # Every class needs one validation example and two left for training.
    if val_size <= 0 or len(train) - n_val < 2 * n_classes or min(train.class_counts().values()) < 3:
        return train, None, {"val": "none", "reason": "too few examples for a validation split"}
    from sklearn.model_selection import (
        train_test_split,  # on use: reading images (serving) must not wait 1.5 s
    )

    idx = np.arange(len(train))
    fit_idx, val_idx = train_test_split(
        idx, test_size=n_val, stratify=np.asarray(train.labels), random_state=seed, shuffle=True
    )
    record = {"val": "stratified", "val_size": val_size, "seed": seed, "n_val": int(n_val)}
    return train.subset(sorted(fit_idx)), train.subset(sorted(val_idx)), record


NO_VALIDATION = "no validation split: too few examples; early stopping and model selection are off"


def with_validation(splits: DataSplits, val_size: float, seed: int, split: Any = None,
                    none_note: str = NO_VALIDATION) -> DataSplits:
    """Add a seeded stratified validation split (``split``: how, default ``split_validation``) when the data has
    none; record what was done, and warn with ``none_note`` when there is too little data for one."""
    if splits.val is not None and len(splits.val):
        return DataSplits(splits.train, splits.val, splits.test, {**splits.record, "val": "given"}, list(splits.warnings))
    train, val, record = (split or split_validation)(splits.train, val_size, seed)
    warnings = list(splits.warnings)
    if val is None:
        warnings.append(none_note)
    return DataSplits(train, val, splits.test, {**splits.record, **record}, warnings)


def sample_per_class(data: LabeledData, per_class: int, seed: int) -> LabeledData:
    """At most ``per_class`` examples of each class, drawn with ``seed`` (nested: a larger draw contains smaller)."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(data.labels)
    keep: list[int] = []
    for cls in data.classes:
        members = np.flatnonzero(labels == cls)
        keep.extend(rng.permutation(members)[:per_class].tolist())
    return data.subset(sorted(keep))


def subsample_splits(splits: DataSplits, per_class: int | None, test_per_class: int | None, seed: int) -> DataSplits:
    """Keep at most ``per_class`` training and ``test_per_class`` test examples of each class (seeded)."""
    if per_class:
        splits.train = sample_per_class(splits.train, per_class, seed)
    if test_per_class and splits.test is not None:
        splits.test = sample_per_class(splits.test, test_per_class, seed)
    return splits
