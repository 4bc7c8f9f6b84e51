"""Classifiers: ``ImageClassifier(...).fit(data).predict(inputs)`` and ``TextClassifier``, scikit-learn style.

``predict_proba`` columns follow ``classes_``; ``score(X, y)`` is accuracy (scikit-learn's ``ClassifierMixin``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight

from headstart.compute.speed import Throughput
from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.dicom import parse_window
from headstart.errors import HeadstartError
from headstart.estimators.base import AUTO, Estimator, register_estimator
from headstart.estimators.incremental import MEMORY_FILE, KeptFeatures, add_classes, fit_reference
from headstart.estimators.labelling import label_issues, suggestions
from headstart.evaluation.metrics import calibration, classification_metrics
from headstart.evaluation.rows import top_k_rows
from headstart.features import cached_features, extract_features
from headstart.options import Range, check_range
from headstart.progress import Reporter
from headstart.reports.predictions import save_predictions
from headstart.rundir import read_tensors, save_adapter, save_tensors
from headstart.search.novelty import NoveltyDetector, reference_limit, reference_rows
from headstart.strategies import Strategy, get_strategy, strategy_name
from headstart.strategies.pseudo_labels import PseudoLabelling
from headstart.tasks.text import check_long_text


class TransferClassifier(ClassifierMixin, Estimator):
    """Adapts a pre-trained model to labelled data with one of headstart's strategies.

    ``fit`` takes a data source the task can read (a folder, a CSV file, a dataset name) or inputs ``X`` with
    labels ``y``. ``predict``/``predict_proba`` take a list of inputs or a file, folder or glob pattern.

    ``strategy`` is a name (``"fine-tune"``) or an object with options (``FineTune(layer_decay=0.9)``);
    ``"auto"`` chooses the strategy, and the model too when ``model`` is None (ranking the task's registered
    models), within ``budget`` (seconds, or "90s", "10m", "1h"); the reason is in ``strategy_reason_``.
    ``cache`` is True (the default feature cache), a folder, or False. ``class_weight="auto"`` weighs the loss so
    that every class counts the same (for imbalanced data). ``batch_size`` None means 32. With ``fit(...,
    unlabeled=POOL)`` the pool is pseudo-labelled by ``pseudo_teacher`` (auto: chosen by cross-validation on the
    labelled examples; probe, propagation or both), at most ``pseudo_limit`` inputs of it (None: all that class
    balance allows); see strategies/pseudo_labels.py.
    """

    task = "image"

    def __init__(self, model: str | None = None, strategy: str | Strategy = AUTO, *, weights: str | None = None,
                 epochs: int | None = None, lr: float | None = None, batch_size: int | None = None,
                 val_size: float = 0.2, refit: bool = True, seed: int = 0, precision: str = "auto", num_workers: int = 0,
                 cache: bool | str = True, budget: str | float | None = None, class_weight: str = "none",
                 pseudo_teacher: str = "auto", pseudo_limit: int | None = None, verbose: bool = False) -> None:
        super().__init__(model, strategy, weights=weights, epochs=epochs, lr=lr, batch_size=batch_size,
                         val_size=val_size, refit=refit, seed=seed, precision=precision, num_workers=num_workers, cache=cache,
                         verbose=verbose)
        self.budget = budget
        self.class_weight = class_weight
        self.pseudo_teacher = pseudo_teacher
        self.pseudo_limit = pseudo_limit

    def _pseudo_labelling(self) -> PseudoLabelling:
        return PseudoLabelling(teacher=self.pseudo_teacher, limit=self.pseudo_limit)

    def _without_pool(self) -> None:
        if self.pseudo_teacher != "auto" or self.pseudo_limit is not None:
            raise HeadstartError("--pseudo-teacher and --pseudo-limit apply to an unlabelled pool; give --unlabeled "
                                 "or leave them out")

    def _class_weights(self, targets: np.ndarray, num_classes: int) -> np.ndarray | None:
        """``class_weight="auto"``: the loss's weights that make every class count the same (``_balanced``)."""
        if self.class_weight in (None, "none"):
            return None
        if self.class_weight != "auto":
            raise HeadstartError(f"unknown class_weight '{self.class_weight}'; use auto or none")
        return self._balanced(targets, num_classes)

    def _balanced(self, targets: np.ndarray, num_classes: int) -> np.ndarray:
        """Each class weighs n / (classes x its count)."""
        return compute_class_weight("balanced", classes=np.arange(num_classes), y=targets)

    # -- predicting ------------------------------------------------------------------------------------------
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_inputs, n_classes), columns in the order of ``classes_``."""
        return self._outputs(self._items(X))[1]

    def _outputs(self, items: list[Any], description: str = "predicting") -> tuple[np.ndarray, np.ndarray]:
        """(the backbone's features, the class probabilities) of ``items``: the head runs on the features."""
        self._check_fitted()
        if not items:
            return np.zeros((0, self.model_.num_features), np.float32), np.zeros((0, len(self.classes_)))
        features = self._features(items, description)
        head = self.model_.head.eval()
        device = next(head.parameters()).device  # a model trained on a GPU keeps its head there
        with torch.inference_mode():
            logits = head(torch.from_numpy(features).to(device)).float().cpu()
        return features, self._task().probabilities(logits.double()).numpy()

    def _features(self, items: list[Any], description: str) -> np.ndarray:
        task = self._task()
        dataset = task.inputs_dataset(items, None, self.preprocessing_, train=False)
        options = {"batch_size": max(self.batch_size_, 64), "precision": self.precision_,
                   "num_workers": self.num_workers, "reporter": Reporter(self.verbose), "description": description,
                   "throughput": getattr(self, "throughput_", None)}
        cache = self._feature_cache()
        if cache is not None and get_strategy(self.strategy_).frozen_backbone:
            # The backbone is the pre-trained one: features seen before (in training, or an earlier predict) are
            # read from the cache.
            keys = [task.content_key(item) for item in items]
            return cached_features(self.model_.backbone, dataset, keys, cache, self.preprocessing_, **options)
        return extract_features(self.model_.backbone, dataset, **options)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each input (``predict_unknown`` says which are like none of them)."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    # -- what to label next ---------------------------------------------------------------------------------
    def suggest(self, X: Any, n: int = 100, labelled: Any = None, text_column: str | None = None) -> list[dict]:
        """The ``n`` inputs of the pool ``X`` (a folder, glob, CSV or text file, or inputs) worth labelling first:
        uncertain ones, spread out (search/active.py), each with the predicted class and its confidence as hints;
        inputs of ``labelled`` data (a path, ``DataSplits`` or ``LabeledData``) are left out. ``text_column``: a
        text table's column, when not one of the usual names."""
        self._check_fitted()
        n = check_range("n", n, Range(int, 1))
        return suggestions(self, X, n, None if labelled is None else self._all_labelled(labelled), text_column)

    # -- adding classes ---------------------------------------------------------------------------------------
    def add_classes(self, X: Any, y: Sequence | None = None) -> TransferClassifier:
        """Learn the classes of ``X`` (a data source, ``DataSplits``, or inputs with labels ``y``) beside the run's
        own, without its old examples: a linear probe on the features the run kept of them and on the new examples'
        features, its backbone unchanged (estimators/incremental.py). Classes of ``X`` that are the run's but for case
        are taken as the run's (and warned about). Returns ``self``; save it to a new run folder."""
        self._check_fitted()
        task = self._task()
        data = self._as_splits(task, X, y)
        self.throughput_ = Throughput()
        return add_classes(self, data, Reporter(self.verbose))

    def label_issues(self, data: Any) -> list[dict]:
        """Likely label errors in labelled ``data`` (a path, ``DataSplits`` or ``LabeledData``: every split of it),
        the most likely first, from out-of-fold probabilities on the run's features (cleanlab)."""
        self._check_fitted()
        return label_issues(self, self._all_labelled(data))

    def _all_labelled(self, data: Any) -> LabeledData:
        if isinstance(data, str | Path):
            data = self._task().read(data, seed=self.seed)
        if isinstance(data, DataSplits):
            data = data.joined()
        return data

    # -- "none of these" -------------------------------------------------------------------------------------
    def unknown_scores(self, X: Any) -> np.ndarray:
        """How unlike the labelled examples each input is (higher: less like them); see search/novelty.py."""
        return self._detector().score(self._outputs(self._items(X))[0])

    def predict_unknown(self, X: Any) -> np.ndarray:
        """True for inputs the run flags as belonging to none of its classes: a score above the threshold
        calibrated to flag ``fit_details_["unknown"]["false_alarm_rate"]`` of inputs like the labelled ones."""
        return self.unknown_scores(X) > self._detector().threshold

    def evaluate_unknown(self, known: list[Any], outliers: list[Any]) -> dict:
        """How well the run tells ``outliers`` (inputs of no class it knows) from ``known`` inputs: the AUROC of
        the unknown score, and at the run's threshold the share of known inputs flagged and of outliers caught."""
        from sklearn.metrics import roc_auc_score

        if not known or not outliers:
            raise HeadstartError("scoring unknown inputs needs both known inputs and outliers; give a non-empty "
                                 "--outliers folder")
        detector = self._detector()
        ours, theirs = detector.score(self._outputs(known)[0]), detector.score(self._outputs(outliers)[0])
        truth = np.r_[np.zeros(len(ours)), np.ones(len(theirs))]
        return {"auroc": float(roc_auc_score(truth, np.r_[ours, theirs])), "n_known": len(ours),
                "n_outliers": len(theirs), "known_flagged": float((ours > detector.threshold).mean()),
                "outliers_caught": float((theirs > detector.threshold).mean()), "threshold": detector.threshold}

    def _detector(self) -> NoveltyDetector:
        self._check_fitted()
        if getattr(self, "unknown_detector_", None) is None:
            raise HeadstartError("this run has no unknown-input detector (trained before headstart had one, or on "
                                 "fewer than 2 examples); train it again")
        return self.unknown_detector_

    def _fit_extras(self, splits: Any, reporter: Reporter) -> None:
        """What training changed in the pre-trained backbone (estimators/changes.py), where it trained; and the
        unknown-input detector, on the final model's features of every labelled example (at most MAX_REFERENCE of
        them), calibrated on those examples scored against the others."""
        super()._fit_extras(splits, reporter)
        strategy = get_strategy(self.strategy_)
        labelled = splits.train.join(splits.val) if splits.val is not None and len(splits.val) else splits.train
        rows = reference_rows([str(label) for label in labelled.labels], reference_limit(self.model_.num_features),
                              seed=self.seed)  # a label set as one key
        self.unknown_detector_ = self.memory_ = None
        if len(rows) < 2:
            self.fit_details_["unknown"] = {"fitted": False, "reason": "fewer than 2 labelled examples"}
            return
        start = time.perf_counter()
        features = self._features([labelled.items[i] for i in rows], "features (unknown-input detector)")
        fit_reference(self, features, [labelled.labels[i] for i in rows], not strategy.frozen_backbone)
        self.fit_details_["unknown"]["seconds"] = round(time.perf_counter() - start, 2)

    def score(self, X: Any, y: Sequence | None = None) -> float:
        """Accuracy on inputs ``X`` with labels ``y``, or on labelled data ``X`` (a path: its test split)."""
        if y is not None:
            return ClassifierMixin.score(self, X, y)
        return Estimator.score(self, X)  # not super(): ClassifierMixin comes first and needs y

    def prediction_rows(self, items: Sequence[Any], top_k: int = 3, conf: float | None = None,
                        unknown: bool = True) -> list[dict]:
        """``headstart predict``'s rows; with ``unknown`` (and a detector), each says whether the input is like
        none of the classes (``unknown``) and its score."""
        features, proba = self._outputs(list(items))
        return self._mark_unknown(top_k_rows(items, proba, self.classes_, top_k), features, unknown)

    def _mark_unknown(self, rows: list[dict], features: np.ndarray, unknown: bool) -> list[dict]:
        """``rows`` with, when ``unknown`` and the run has a detector, whether each input is like none of the
        classes and its score."""
        detector = getattr(self, "unknown_detector_", None)
        if unknown and detector is not None:
            for row, score in zip(rows, detector.score(features), strict=True):
                row.update(unknown=bool(score > detector.threshold), unknown_score=round(float(score), 6))
        return rows

    def _flag_rate(self, features: np.ndarray) -> dict:
        """The share of these inputs (all of known classes) the detector flags: its false alarms."""
        detector = getattr(self, "unknown_detector_", None)
        if detector is None or not len(features):
            return {}
        return {"unknown_flagged": float(detector.unknown(features).mean())}

    def evaluate_with_outputs(self, data: LabeledData) -> tuple[dict, np.ndarray]:
        """Accuracy, balanced accuracy, macro-F1, per-class scores, the confusion matrix and calibration, and the
        probabilities they come from (columns in the order of ``classes_``)."""
        self._check_fitted()
        self._task().check_labels(data, list(self.classes_), "evaluation")
        features, proba = self._outputs(list(data.items))
        predicted = self.classes_[proba.argmax(axis=1)]
        scores = classification_metrics(data.labels, predicted.tolist(), list(self.classes_))
        scores["calibration"] = calibration(proba.max(axis=1), predicted == np.asarray(data.labels))
        scores.update(self._flag_rate(features))
        return scores, proba

    def write_evaluation(self, run_dir: Path, data: LabeledData, outputs: np.ndarray) -> None:
        save_predictions(run_dir, self._task(), data, self.classes_, outputs)

    # -- saving ----------------------------------------------------------------------------------------------
    def _config_extra(self) -> dict:
        return {"head": self.model_.head_config.to_record()}

    def _save_extra(self, root: Path) -> None:
        adapter = getattr(self.model_, "lora_adapter", None)
        if adapter is not None:
            save_adapter(root / "adapter", *adapter)
        detector = getattr(self, "unknown_detector_", None)
        if detector is not None:
            save_tensors(root / UNKNOWN_FILE, {"reference": torch.from_numpy(detector.reference).half()})
        memory = getattr(self, "memory_", None)
        if memory is not None:
            save_tensors(root / MEMORY_FILE, {"features": torch.from_numpy(memory.features),
                                              "labels": torch.from_numpy(memory.labels)})

    def _load_extras(self, root: Path, config: dict) -> None:
        self.memory_ = None
        if self.fit_details_.get("memory") and (root / MEMORY_FILE).is_file():
            tensors = read_tensors(root / MEMORY_FILE)
            if not {"features", "labels"} <= set(tensors):
                raise HeadstartError(f"{root / MEMORY_FILE} is damaged; train the run again")
            self.memory_ = KeptFeatures(tensors["features"].numpy(), tensors["labels"].numpy())
        record = self.fit_details_.get("unknown", {})
        self.unknown_detector_ = None
        if record.get("fitted") and (root / UNKNOWN_FILE).is_file():
            tensors = read_tensors(root / UNKNOWN_FILE)
            if "reference" not in tensors:
                raise HeadstartError(f"{root / UNKNOWN_FILE} holds no reference features; train the run again")
            reference = tensors["reference"].float().numpy()
            self.unknown_detector_ = NoveltyDetector(int(record["k"]), float(record["false_alarm_rate"]),
                                                     reference, float(record["threshold"]))

    def _checked_params(self) -> dict[str, Any]:
        params = super()._checked_params()
        if strategy_name(self.strategy) != AUTO and params.get("budget") is not None:
            raise HeadstartError("--budget is for strategy auto; with a chosen strategy, leave it out")
        return params


UNKNOWN_FILE = "unknown.safetensors"  # the unknown-input detector's reference features


@register_estimator
class ImageClassifier(TransferClassifier):
    """Image classification by transfer learning (default backbone: EfficientNet-Lite0, offline).
    ``image_size`` overrides the model's input size in pixels, ``crop_pct`` its centre crop; ``window``
    ((center, width), or "40,400") the window DICOM files are shown through (default: each file's own)."""

    task = "image"

    def __init__(self, model: str | None = None, strategy: str | Strategy = AUTO, *, weights: str | None = None,
                 epochs: int | None = None, lr: float | None = None, batch_size: int | None = None,
                 image_size: int | None = None, crop_pct: float | None = None,
                 window: str | tuple[float, float] | None = None, val_size: float = 0.2,
                 refit: bool = True, seed: int = 0, precision: str = "auto",
                 num_workers: int = 0, cache: bool | str = True, budget: str | float | None = None,
                 class_weight: str = "none", pseudo_teacher: str = "auto", pseudo_limit: int | None = None,
                 verbose: bool = False) -> None:
        super().__init__(model, strategy, weights=weights, epochs=epochs, lr=lr, batch_size=batch_size,
                         val_size=val_size, refit=refit, seed=seed, precision=precision, num_workers=num_workers, cache=cache,
                         budget=budget, class_weight=class_weight, pseudo_teacher=pseudo_teacher,
                         pseudo_limit=pseudo_limit, verbose=verbose)
        self.image_size = image_size
        self.crop_pct = crop_pct
        self.window = window

    def _checked_params(self) -> dict[str, Any]:
        params = super()._checked_params()
        parse_window(params.get("window"))  # a clear message before anything is read
        return params


@register_estimator
class TextClassifier(TransferClassifier):
    """Text classification by transfer learning (default encoder: all-MiniLM-L6-v2, offline).
    ``max_length`` is the model's window in tokens (256); ``long_text`` says how a longer text is read: ``windows``
    (the default: overlapping windows, their embeddings averaged) or ``truncate`` (its end cut)."""

    task = "text"

    def __init__(self, model: str | None = None, strategy: str | Strategy = AUTO, *, weights: str | None = None,
                 epochs: int | None = None, lr: float | None = None, batch_size: int | None = None,
                 max_length: int | None = None, long_text: str | None = None, val_size: float = 0.2,
                 refit: bool = True, seed: int = 0, precision: str = "auto",
                 num_workers: int = 0, cache: bool | str = True, budget: str | float | None = None,
                 class_weight: str = "none", pseudo_teacher: str = "auto", pseudo_limit: int | None = None,
                 verbose: bool = False) -> None:
        super().__init__(model, strategy, weights=weights, epochs=epochs, lr=lr, batch_size=batch_size,
                         val_size=val_size, refit=refit, seed=seed, precision=precision, num_workers=num_workers, cache=cache,
                         budget=budget, class_weight=class_weight, pseudo_teacher=pseudo_teacher,
                         pseudo_limit=pseudo_limit, verbose=verbose)
        self.max_length = max_length
        self.long_text = long_text

    def _checked_params(self) -> dict[str, Any]:
        params = super()._checked_params()
        check_long_text(params.get("long_text"))  # a clear message before anything is read
        return params
