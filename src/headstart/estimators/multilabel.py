"""Multi-label classifiers (issue 29): ``ImageMultiLabelClassifier().fit(data).predict(inputs)`` gives each input a
set of labels, possibly empty. ``predict_proba`` columns are per-label probabilities (each on its own, in the order
of ``classes_``); a label is predicted from its threshold up (``thresholds_``, chosen for the best F1 per label on
out-of-fold probabilities for the linear probe, else on the validation split; 0.5 where none can be chosen).
``score`` is macro-F1, the task's main score.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from headstart.data.dataset import DataSplits, LabelSets
from headstart.digests import digest
from headstart.errors import HeadstartError
from headstart.estimators.base import register_estimator
from headstart.estimators.classifier import ImageClassifier, TextClassifier
from headstart.evaluation.multilabel import (
    DEFAULT_THRESHOLD,
    choose_thresholds,
    cross_fitted_thresholds,
    multilabel_metrics,
)
from headstart.evaluation.rows import label_set_rows, label_sets
from headstart.progress import Reporter
from headstart.reports.predictions import save_label_set_predictions
from headstart.strategies import FitResult

CROSS_FITTED = ("chosen on this split: each half scored with the thresholds chosen on the other half, so that "
                "the estimate does not reward thresholds for fitting this split's noise")


TRUE_VALUES = {"1", "1.0", "True"}
INDICATOR_VALUES = {"0", "0.0", "False", *TRUE_VALUES}


def indicator_sets(items: list[Any], matrix: np.ndarray, fitting: bool = True) -> LabelSets:
    """Label sets from scikit-learn's indicator format (inputs x labels, 0/1): column j is label ``j``, zero-padded
    so that the labels sort in column order (``classes_`` follows it). For ``fitting``, a column with no 1 is
    refused: nothing could be learned about it, and leaving it out would shift the columns after it (scored data
    may well lack a rare label)."""
    matrix = np.vectorize(lambda v: str(v) in TRUE_VALUES, otypes=[float])(matrix)
    empty = np.flatnonzero(matrix.sum(axis=0) == 0)
    if fitting and len(empty):
        raise HeadstartError(f"column {int(empty[0])} of y has no 1 ({len(empty)} such column(s)): nothing can be "
                             "learned about that label; drop the column or label inputs with it")
    width = len(str(matrix.shape[1] - 1))
    sets = [tuple(f"{j:0{width}d}" for j in np.flatnonzero(row > 0)) for row in matrix]
    return LabelSets(items, sets, [str(i) for i in range(len(items))], source="arrays")


def split_digest(data: LabelSets) -> str:
    """What identifies a split by its content (its source and item ids), so that the split thresholds were chosen
    on is recognised when it is read again (``headstart evaluate RUN DATA``) or the run is loaded."""
    return digest("split", data.source, *sorted(map(str, data.ids)))


class MultiLabelClassifier:
    """What a multi-label classifier does differently; put first in the bases of a ``TransferClassifier``."""

    thresholds_: np.ndarray

    # -- fitting ------------------------------------------------------------------------------------------------
    def _as_splits(self, task: Any, X: Any, y: Sequence | None, fitting: bool = True) -> DataSplits:
        """Data as for any estimator; ``y`` holds label sets (lists of labels) or is a 0/1 matrix (inputs x labels,
        scikit-learn's indicator format, its columns named 0, 1, ...)."""
        if y is None:
            splits = super()._as_splits(task, X, y)
            if not isinstance(splits.train, LabelSets):
                raise HeadstartError("this data has one label per input; give label sets (y as lists of labels) or "
                                     "use ImageClassifier / TextClassifier")
            return splits
        items = list(X)
        if len(items) != len(y):
            raise HeadstartError(f"X has {len(items)} inputs but y has {len(y)} label sets; pass one set per input")
        array = np.asarray(y, dtype=object) if not isinstance(y, np.ndarray) else y
        if array.ndim == 2 and all(str(v) in INDICATOR_VALUES for v in array.ravel()):
            return DataSplits(indicator_sets(items, array, fitting))
        sets = []
        for row, label in enumerate(y):
            if label is None or isinstance(label, str | int | float | np.integer | np.floating):
                sets.append(() if label is None else (str(label),))  # None: none of the labels
            elif isinstance(label, list | tuple | set | frozenset | np.ndarray):
                sets.append(tuple(str(value) for value in label))
            else:
                raise HeadstartError(f"y[{row}] is a {type(label).__name__}; give each input a list of labels "
                                     "(empty for none)")
        return DataSplits(LabelSets(items, sets, [str(i) for i in range(len(items))], source="arrays"))

    def _balanced(self, targets: np.ndarray, num_classes: int) -> np.ndarray:
        """Each label's positives weigh (negatives / positives) times a negative, so that a rare label counts as
        much as a common one (1 for a label with no positive)."""
        positives = targets.sum(axis=0)
        return np.where(positives > 0, (len(targets) - positives) / np.maximum(positives, 1), 1.0)

    def _after_first_fit(self, result: FitResult, splits: DataSplits, reporter: Reporter) -> None:
        """Each label's threshold: the best F1 on the probe's out-of-fold probabilities (every training example,
        none set aside), else on the validation split; 0.5 with neither."""
        classes = list(self.classes_)
        if result.out_of_fold is not None and np.ndim(result.out_of_fold) == 2:
            truth, proba = splits.train.indicator(classes), result.out_of_fold
            source = "out-of-fold probabilities of the linear probe's cross-validation on the training data"
        elif splits.val is not None and len(splits.val):
            truth, proba = splits.val.indicator(classes), self._outputs(list(splits.val.items), "thresholds")[1]
            source = "validation split"
        else:
            truth, proba, source = None, None, None
        if truth is None:
            self.thresholds_ = np.full(len(classes), DEFAULT_THRESHOLD)
            notes = [f"every label's threshold is {DEFAULT_THRESHOLD}: no validation split to choose them on "
                     "(label more examples, or give a val split)"]
            source = "none"
        else:
            thresholds, notes = choose_thresholds(truth, proba, classes)
            self.thresholds_ = np.round(thresholds, 6)  # as config.json keeps them: a loaded run predicts alike
        self._thresholds_split = splits.val if source == "validation split" else None
        splits.warnings.extend(note for note in notes if note not in splits.warnings)
        self.fit_details_["thresholds"] = {"chosen_on": source, "rule": "best F1 per label", "notes": notes,
                                           "values": self._threshold_record(),
                                           **({"split": split_digest(splits.val)} if self._thresholds_split else {})}
        reporter.say(f"  per-label thresholds chosen on the {source}")

    def _fit_extras(self, splits: DataSplits, reporter: Reporter) -> None:
        """The classifier's extras; and, where the model was refit after its thresholds were chosen on the
        validation split, a note that says so (the refit model trained on that split too)."""
        super()._fit_extras(splits, reporter)
        record = self.fit_details_["thresholds"]
        if record["chosen_on"] == "validation split" and (self.fit_details_.get("refit") or {}).get("done"):
            record["note"] = ("chosen on the first fit's probabilities on the validation split, then used by the "
                              "model refit on every labelled example (which was not scored again)")

    def _threshold_record(self) -> dict[str, float]:
        return {str(c): float(t) for c, t in zip(self.classes_, self.thresholds_, strict=True)}

    # -- predicting ---------------------------------------------------------------------------------------------
    def predict(self, X: Any) -> np.ndarray:
        """Each input's label set (a tuple, empty where no label reaches its threshold), as an object array."""
        return label_sets(self.predict_proba(X), self.classes_, self.thresholds_)

    def score(self, X: Any, y: Sequence | None = None) -> float:
        """Macro-F1 on inputs ``X`` with label sets ``y``, or on labelled data ``X`` (a path: its test split)."""
        data = self._as_splits(self._task(), X, y, fitting=False).train if y is not None else self.evaluation_data(X)[1]
        return float(self.evaluate_with_outputs(data)[0]["macro_f1"])

    def prediction_rows(self, items: Sequence[Any], top_k: int = 3, conf: float | None = None,
                        unknown: bool = True) -> list[dict]:
        """``headstart predict``'s rows: each input's labels, every label's probability, the ``top_k`` labels, and
        (with ``unknown`` and a detector) whether it is like none of the training inputs."""
        features, proba = self._outputs(list(items))
        return self._mark_unknown(label_set_rows(items, proba, self.classes_, self.thresholds_, top_k), features,
                                  unknown)

    def evaluate_with_outputs(self, data: LabelSets) -> tuple[dict, np.ndarray]:
        """Macro/micro F1, mAP, per-label scores (evaluation/multilabel.py) and the probabilities they come from.
        On the split the thresholds were chosen on, each half is scored with the other half's thresholds."""
        self._check_fitted()
        classes = list(self.classes_)
        self._task().check_labels(data, classes, "evaluation")
        features, proba = self._outputs(list(data.items))
        thresholds, same = self._thresholds_for(data, proba)
        scores = multilabel_metrics(data.indicator(classes), proba, thresholds, classes)
        if same:
            scores["thresholds_note"] = CROSS_FITTED
        scores.update(self._flag_rate(features))
        return scores, proba

    def _thresholds_for(self, data: LabelSets, proba: np.ndarray) -> tuple[np.ndarray, bool]:
        """(the thresholds ``data`` is scored with, whether they are cross-fitted): on the split the run's were
        chosen on, each half gets the other half's (the same every time: seeded)."""
        chosen_on = self.fit_details_.get("thresholds", {}).get("split")
        if data is getattr(self, "_thresholds_split", None) or (chosen_on and chosen_on == split_digest(data)):
            classes = list(self.classes_)
            return cross_fitted_thresholds(data.indicator(classes), proba, classes, self.seed), True
        return self.thresholds_, False

    def write_evaluation(self, run_dir: Path, data: LabelSets, outputs: np.ndarray) -> None:
        thresholds, _ = self._thresholds_for(data, outputs)  # the predictions the scores were computed from
        save_label_set_predictions(run_dir, self._task(), data, self.classes_, outputs, thresholds)

    # -- saving ---------------------------------------------------------------------------------------------------
    def _config_extra(self) -> dict:
        return {**super()._config_extra(), "thresholds": self._threshold_record()}

    def _load_extras(self, root: Path, config: dict) -> None:
        super()._load_extras(root, config)
        record = config.get("thresholds")
        if not isinstance(record, dict) or set(record) != set(map(str, self.classes_)):
            raise HeadstartError(f"{root}/config.json has no threshold for every label; train the run again")
        self.thresholds_ = np.asarray([float(record[str(c)]) for c in self.classes_])

    def _export_extra(self) -> dict:
        return {"thresholds": self._threshold_record(),
                "decision": "a label is predicted when its probability is at least its threshold"}


@register_estimator
class ImageMultiLabelClassifier(MultiLabelClassifier, ImageClassifier):
    """Multi-label image classification by transfer learning: each image gets a set of labels (possibly none).
    The knobs are ImageClassifier's."""

    task = "image-multilabel"


@register_estimator
class TextMultiLabelClassifier(MultiLabelClassifier, TextClassifier):
    """Multi-label text classification by transfer learning: each text gets a set of labels (possibly none).
    The knobs are TextClassifier's."""

    task = "text-multilabel"
