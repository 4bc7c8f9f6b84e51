"""Adding classes to a trained run without its old examples (issue 33).

What a run keeps of its old classes: the features its final backbone gave its labelled examples (at most
``MAX_REFERENCE`` of them, drawn class by class), with their labels, in ``memory.safetensors`` in the run folder. It
does not depend on the feature cache: a run stays able to add classes after the cache is cleared.

Adding classes keeps the run's backbone as it is (pre-trained, or fine-tuned: so nothing the old classes rely on
moves) and fits a new linear probe (the linear-probe recipe: C chosen by cross-validation) on the kept features and
the new examples' features together. For a run whose head was a linear probe on every example, that is exactly the
refit on old and new data (but for the float16 rounding of the kept features, and a sample of 5,000 beyond that,
pseudo-labelled examples not kept); for a fine-tuned run it replays the old classes' features through a new head (feature
replay) instead of training the backbone again, so there is nothing to distil. A new run is written; the old one is
never modified.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from headstart.data.dataset import DataSplits, LabeledData
from headstart.errors import HeadstartError
from headstart.models.transfer import TransferModel
from headstart.progress import Reporter
from headstart.search.novelty import NoveltyDetector, reference_limit, reference_rows
from headstart.strategies import LinearProbe, get_strategy
from headstart.strategies.base import FitContext, Split


@dataclass
class KeptFeatures:
    """The features a run keeps of its labelled examples (float16, as saved) and their class indices."""

    features: np.ndarray
    labels: np.ndarray

    def record(self, classes: np.ndarray) -> dict:
        counts = Counter(self.labels.tolist())
        return {"examples": len(self.labels), "per_class": {str(classes[i]): counts.get(i, 0) for i in range(len(classes))},
                "file": MEMORY_FILE}


MEMORY_FILE = "memory.safetensors"


def kept_features(features: np.ndarray, labels: list[Any], classes: np.ndarray) -> KeptFeatures | None:
    """What a run keeps of its examples for adding classes later; None when its labels are not single classes
    (label sets)."""
    if not all(isinstance(label, str) for label in labels):
        return None
    return KeptFeatures(np.asarray(features, np.float16), np.searchsorted(classes, labels).astype(np.int64))


TRAINED_NOTE = ("the backbone trained on the run's own examples among these (not on those of classes added later): "
                "new inputs of known classes may be flagged more often than the rate (5.5% for 5% after a fine-tune, "
                "docs/benchmarks.md)")


def fit_reference(estimator: Any, features: np.ndarray, labels: list[Any], trained_backbone: bool) -> None:
    """From the final model's features of a run's labelled examples (``reference_rows`` of them) and their labels:
    the unknown-input detector, and the same features kept for adding classes later (``memory_``), with their
    records in ``fit_details_``. Used when a run is fitted and when classes are added to it."""
    estimator.unknown_detector_ = NoveltyDetector().fit(features)
    # A model fitted on the run's own texts (TF-IDF) would read new classes through the old vocabulary: not kept.
    fitted = estimator.spec_.fitted
    estimator.memory_ = None if fitted else kept_features(features, labels, estimator.classes_)
    if estimator.memory_ is not None:
        estimator.fit_details_["memory"] = estimator.memory_.record(estimator.classes_)
    note = {"calibration_note": TRAINED_NOTE} if trained_backbone else {}
    estimator.fit_details_["unknown"] = {"fitted": True, **estimator.unknown_detector_.record(), **note}


def require_kept_features(estimator: Any, run: str = "this run") -> KeptFeatures:
    """The features ``estimator`` kept of its examples, or a one-line refusal naming ``run``."""
    kept: KeptFeatures | None = getattr(estimator, "memory_", None)
    if kept is None:
        raise HeadstartError(f"{run} kept no features of its training examples to add classes to (a run of label "
                             "sets or boxes, of a model fitted on its own texts such as tfidf, or one trained before "
                             "headstart kept them): train again on the old and new data together")
    return kept


def add_classes(estimator: Any, data: DataSplits, reporter: Reporter) -> Any:
    """Refit ``estimator``'s head on its kept features and ``data``'s labelled examples (see the module's doc)."""
    kept = require_kept_features(estimator)
    start = time.perf_counter()
    old = [str(c) for c in estimator.classes_]
    data, renamed = _old_spellings(data, old)
    data.warnings.extend(f"class '{new_name}' of the new data is taken as the run's class '{old_name}' (names "
                         "compared without case); rename the folder or label if it is another class"
                         for new_name, old_name in renamed.items())
    labelled = data.train.join(data.val) if data.val is not None and len(data.val) else data.train
    classes = np.asarray(sorted(set(old) | set(map(str, labelled.labels))))
    if data.test is not None and len(data.test):
        estimator._task().check_labels(data.test, classes, "test")
    new_features = estimator._features(list(labelled.items), "features (new examples)")
    old_labels = [old[i] for i in kept.labels]
    features = np.concatenate([kept.features.astype(np.float32), new_features.astype(np.float32)])
    targets = np.searchsorted(classes, old_labels + [str(label) for label in labelled.labels])
    reporter.say(f"adding {len(set(classes) - set(old))} class(es) to the run's {len(old)}: a linear probe on the "
                 f"{len(kept.labels)} kept examples' features and {len(labelled)} new examples")
    own = get_strategy(estimator.strategy_spec_)
    # a linear-probe run's own options (a fixed C, scale or power) carry over; C is chosen again when it was chosen
    probe = own.with_options() if isinstance(own, LinearProbe) else LinearProbe()
    model = TransferModel(estimator.model_.backbone, len(classes), probe.head)
    ctx = FitContext(task=estimator._task(), preprocessing=estimator.preprocessing_, num_classes=len(classes),
                     seed=estimator.seed, reporter=reporter, class_weight=estimator._class_weights(targets, len(classes)))
    result = probe.fit_features(model, features, Split([None] * len(features), targets), ctx)
    trained_backbone = not own.frozen_backbone
    added = sorted(set(classes) - set(old))
    backbone = ("pre-trained" if not trained_backbone else
                f"trained ({own.name}), kept as it is" if own.pretrained else f"trained from scratch ({own.name})")
    record = {"old_classes": old, "new_classes": added, "renamed": renamed, "kept_examples": len(kept.labels),
              "new_examples": len(labelled), "backbone": backbone, "seconds": round(time.perf_counter() - start, 2)}
    # A fine-tuned backbone's features are not the cached pre-trained ones: the run stays a run of its strategy.
    strategy = own if trained_backbone else probe
    reason = (f"{len(added)} class(es) added to a run of {len(old)}: a linear probe on the features the run kept of "
              f"its {len(kept.labels)} examples and on {len(labelled)} new ones, its backbone unchanged")
    estimator._set_fitted(model.eval(), estimator.spec_, estimator.preprocessing_, classes, strategy, reason)
    estimator.strategy = strategy.spec()
    estimator.preprocessing_note_ = getattr(estimator, "preprocessing_note_", None)  # a loaded run has none
    estimator.history_, estimator.out_of_fold_, estimator.holdout_ = [], None, None
    estimator.fit_details_ = {**result.details, "added_classes": record}
    estimator.fit_seconds_ = time.perf_counter() - start
    estimator.splits_ = DataSplits(labelled, None, data.test, warnings=[*data.warnings, *result.warnings],
                                   record=data.record)
    rows = reference_rows([str(label) for label in classes[targets]], reference_limit(features.shape[1]),
                          seed=estimator.seed)
    fit_reference(estimator, features[rows], [str(label) for label in classes[targets[rows]]], trained_backbone)
    estimator.data_record_ = {
        "source": data.train.source, "splits": data.record, "warnings": estimator.splits_.warnings,
        "counts": {part: split.class_counts() for part, split in (("train", labelled), ("test", data.test))
                   if split is not None}, "added_to": record}
    return estimator


def _old_spellings(data: DataSplits, old: list[str]) -> tuple[DataSplits, dict[str, str]]:
    """``data`` with each label that is one of ``old`` but for case written as in ``old``, and what was renamed."""
    lowered: dict[str, list[str]] = {}
    for name in old:
        lowered.setdefault(name.lower(), []).append(name)
    renamed: dict[str, str] = {}

    def spelled(part: LabeledData | None) -> LabeledData | None:
        if part is None:
            return None
        labels = []
        for label in map(str, part.labels):
            alike = [] if label in old else lowered.get(label.lower(), [])
            if len(alike) > 1:
                raise HeadstartError(f"class '{label}' of the new data is one of the run's {' and '.join(alike)} but "
                                     "for case, and they differ only by case: name it exactly as one of them")
            same = alike[0] if alike else None
            if same is not None:
                renamed[label] = same
                label = same
            labels.append(label)
        return LabeledData(part.items, labels, part.ids, source=part.source)

    return DataSplits(spelled(data.train), spelled(data.val), spelled(data.test), warnings=list(data.warnings),
                      record=data.record), renamed
