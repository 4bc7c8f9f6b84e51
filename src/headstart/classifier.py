"""scikit-learn-style estimators: ``ImageClassifier(...).fit(data).predict(inputs)``, for every task.

Following scikit-learn's conventions, ``__init__`` only stores its arguments, ``fit`` does the work and returns
``self``, learned attributes end in ``_``, and ``predict_proba`` columns follow ``classes_``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from accelerate.utils import set_seed
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.class_weight import compute_class_weight

from headstart import __version__
from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.splits import check_trainable, with_validation
from headstart.errors import HeadstartError
from headstart.evaluation import calibration, classification_metrics
from headstart.features import FeatureCache, cached_features, extract_features
from headstart.files import user_path
from headstart.models import WeightsSource, create_backbone, get_model_spec, list_models
from headstart.models.transfer import HeadConfig, TransferModel
from headstart.progress import Reporter
from headstart.rundir import read_config, read_weights, save_adapter, save_run, start_run_dir
from headstart.strategies import FitContext, Split, get_strategy
from headstart.strategies.auto import parse_budget, plan_auto
from headstart.tasks import Task, get_task
from headstart.training.checkpoint import Checkpoint
from headstart.training.device import PRECISIONS


class TransferClassifier(ClassifierMixin, BaseEstimator):
    """Adapts a pre-trained model to labelled data with one of headstart's strategies.

    ``fit`` takes a data source the task can read (a folder, a CSV file, a dataset name) or inputs ``X`` with
    labels ``y``. ``predict``/``predict_proba`` take a list of inputs or a file, folder or glob pattern.

    ``strategy="auto"`` chooses the strategy, and the model too when ``model`` is None (ranking the task's
    registered models), within ``budget`` (seconds, or "90s", "10m", "1h"); the reason is in ``strategy_reason_``.
    ``cache`` is True (the default feature cache), a folder, or False. ``class_weight="auto"`` weighs the loss so
    that every class counts the same (for imbalanced data).
    """

    task: ClassVar[str] = "image"

    def __init__(
        self,
        model: str | None = None,
        strategy: str = "auto",
        *,
        weights: str | None = None,
        epochs: int | None = None,
        lr: float | None = None,
        batch_size: int = 32,
        image_size: int | None = None,
        max_length: int | None = None,
        val_size: float = 0.2,
        seed: int = 0,
        precision: str = "auto",
        num_workers: int = 0,
        cache: bool | str = True,
        budget: str | float | None = None,
        class_weight: str = "none",
        verbose: bool = False,
    ) -> None:
        self.model = model
        self.strategy = strategy
        self.weights = weights
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.image_size = image_size
        self.max_length = max_length
        self.val_size = val_size
        self.seed = seed
        self.precision = precision
        self.num_workers = num_workers
        self.cache = cache
        self.budget = budget
        self.class_weight = class_weight
        self.verbose = verbose

    # -- fitting ---------------------------------------------------------------------------------------------
    def fit(
        self, X: Any, y: Sequence | None = None, *, checkpoint_dir: str | Path | None = None, resume: bool = False
    ) -> TransferClassifier:
        """Train on ``X`` (a data source, or inputs with labels ``y``); returns ``self``.

        With ``checkpoint_dir``, the training state is saved there after every epoch; ``resume=True`` continues
        from it (same data and parameters), ending with the same model as a run that was never stopped.
        """
        if self.precision not in PRECISIONS:
            raise HeadstartError(f"unknown precision '{self.precision}'; use one of {', '.join(PRECISIONS)}")
        task = get_task(self.task)
        given = self._as_splits(task, X, y)
        check_trainable(given.train, given.train.source or "the training data")
        reporter = Reporter(self.verbose)
        model_name, auto_details = self.model or task.default_model, None
        if self.strategy == "auto":
            candidates = [self.model] if self.model else [spec.name for spec in list_models(task.name)]
            plan = plan_auto(given.train, task, candidates, self.get_params(), parse_budget(self.budget),
                             self._feature_cache(), reporter)
            model_name, name, reason, auto_details = plan.model, plan.strategy, plan.reason, plan.details
        else:
            name, reason = self.strategy, "chosen by the user"
        spec = get_model_spec(model_name, self.weights)
        task.check_model(spec)
        strategy = get_strategy(name)
        reporter.say(f"strategy [bold]{strategy.name}[/] ({strategy.summary}): {reason}")
        splits = self._with_validation(given, strategy.uses_validation)
        classes = splits.classes
        self._check_known_labels(splits.val, classes, "validation")
        preprocessing = task.preprocessing(spec, self.get_params())
        splits.warnings.extend(task.input_warnings(splits.train.items, preprocessing))
        set_seed(self.seed)  # the new head's initial weights, and everything random after them
        model = TransferModel(create_backbone(spec, pretrained=strategy.pretrained), len(classes), strategy.head)
        train = self._encode(splits.train, classes)
        ctx = FitContext(
            task=task, preprocessing=preprocessing, num_classes=len(classes), seed=self.seed,
            batch_size=self.batch_size, precision=self.precision, epochs=self.epochs, lr=self.lr,
            num_workers=self.num_workers, reporter=reporter, cache=self._feature_cache(),
            class_weight=self._class_weights(train.targets, len(classes)),
            checkpoint=Checkpoint(checkpoint_dir, resume) if checkpoint_dir is not None else None,
        )
        start = time.perf_counter()
        result = strategy.fit(model, train, self._encode(splits.val, classes), ctx)
        self.fit_seconds_ = time.perf_counter() - start
        model.eval()

        self.classes_ = np.asarray(classes)
        self.model_ = model
        self.spec_ = spec
        self.preprocessing_ = preprocessing
        self.strategy_ = strategy.name
        self.strategy_reason_ = reason
        self.history_ = [record.to_row() for record in result.history]
        self.fit_details_ = {**result.details, **({"auto": auto_details} if auto_details else {})}
        self.splits_ = splits
        self.data_record_ = {
            "source": splits.train.source,
            "splits": splits.record,
            "counts": {
                part: data.class_counts()
                for part, data in (("train", splits.train), ("val", splits.val), ("test", splits.test))
                if data is not None
            },
            "warnings": splits.warnings,
        }
        return self

    def _class_weights(self, targets: np.ndarray, num_classes: int) -> np.ndarray | None:
        """``class_weight="auto"``: each class weighs n / (classes x its count), so every class counts the same."""
        if self.class_weight in (None, "none"):
            return None
        if self.class_weight != "auto":
            raise HeadstartError(f"unknown class_weight '{self.class_weight}'; use auto or none")
        return compute_class_weight("balanced", classes=np.arange(num_classes), y=targets)

    def _feature_cache(self) -> FeatureCache | None:
        """``cache``: True for the default folder, a folder path, or False for none."""
        if self.cache is False or self.cache in ("", "none", "off"):
            return None
        return FeatureCache(None if self.cache is True else self.cache)

    def _with_validation(self, splits: DataSplits, strategy_uses_it: bool) -> DataSplits:
        """A validation split is drawn when the strategy selects on one, or when no test split will score it."""
        has_test = splits.test is not None and len(splits.test) > 0
        if strategy_uses_it or not has_test or (splits.val is not None and len(splits.val)):
            return with_validation(splits, self.val_size, self.seed)
        record = {**splits.record, "val": "none", "reason": "not needed: the strategy does not select on it"}
        return DataSplits(splits.train, None, splits.test, record, list(splits.warnings))

    def _as_splits(self, task: Task, X: Any, y: Sequence | None) -> DataSplits:
        if isinstance(X, DataSplits):
            return X
        if isinstance(X, LabeledData):
            return DataSplits(X)
        if y is None:
            if isinstance(X, str | Path):
                return task.read(X, seed=self.seed)
            raise HeadstartError("fit needs a data source (folder, CSV, dataset name) or inputs X with labels y")
        items = list(X)
        if len(items) != len(y):
            raise HeadstartError(f"X has {len(items)} inputs but y has {len(y)} labels; pass one label per input")
        labels = [str(label) for label in y]
        return DataSplits(LabeledData(items, labels, [str(i) for i in range(len(items))], source="arrays"))

    @staticmethod
    def _check_known_labels(data: LabeledData | None, classes: Sequence[str], what: str) -> None:
        if data is None:
            return
        unknown = sorted(set(data.labels) - set(classes))
        if unknown:
            raise HeadstartError(
                f"{what} labels not seen in training: {', '.join(unknown[:5])} (in {data.source}); "
                f"known classes: {', '.join(classes)}"
            )

    @staticmethod
    def _encode(data: LabeledData | None, classes: Sequence[str]) -> Split | None:
        if data is None or not len(data):
            return None
        index = {c: i for i, c in enumerate(classes)}
        return Split(data.items, np.asarray([index[label] for label in data.labels], dtype=np.int64))

    # -- predicting ------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() or headstart.load()")

    def _items(self, X: Any) -> list[Any]:
        if isinstance(X, str | Path):
            return get_task(self.task).expand_inputs([str(X)])
        if isinstance(X, LabeledData):
            return list(X.items)
        return list(X)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape (n_inputs, n_classes), columns in the order of ``classes_``."""
        self._check_fitted()
        items = self._items(X)
        task = get_task(self.task)
        dataset = task.inputs_dataset(items, None, self.preprocessing_, train=False)
        options = {"batch_size": max(self.batch_size, 64), "precision": self.precision, "num_workers": self.num_workers,
                   "reporter": Reporter(self.verbose), "description": "predicting"}
        cache = self._feature_cache()
        if cache is not None and get_strategy(self.strategy_).frozen_backbone:
            # The backbone is the pre-trained one: features seen before (in training, or an earlier predict) are
            # read from the cache, and only the head runs.
            keys = [task.content_key(item) for item in items]
            features = cached_features(self.model_.backbone, dataset, keys, cache, self.preprocessing_, **options)
            with torch.inference_mode():
                logits = self.model_.head.eval()(torch.from_numpy(features)).float().numpy()
        else:
            logits = extract_features(self.model_, dataset, **options)
        return torch.softmax(torch.from_numpy(logits).double(), dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """The most probable class of each input."""
        return self.classes_[self.predict_proba(X).argmax(axis=1)]

    def evaluate(self, data: LabeledData) -> dict:
        """Accuracy, balanced accuracy, macro-F1, per-class scores, the confusion matrix and calibration on ``data``."""
        return self.evaluate_with_probabilities(data)[0]

    def evaluate_with_probabilities(self, data: LabeledData) -> tuple[dict, np.ndarray]:
        """:meth:`evaluate`'s scores and the probabilities they come from (columns in the order of ``classes_``)."""
        self._check_fitted()
        self._check_known_labels(data, list(self.classes_), "evaluation")
        proba = self.predict_proba(data.items)
        predicted = self.classes_[proba.argmax(axis=1)]
        scores = classification_metrics(data.labels, predicted.tolist(), list(self.classes_))
        scores["calibration"] = calibration(proba.max(axis=1), predicted == np.asarray(data.labels))
        return scores, proba

    # -- saving ----------------------------------------------------------------------------------------------
    def _config(self, preprocessing: dict) -> dict:
        return {
            "headstart_version": __version__,
            "task": self.task,
            "model": self.spec_.to_record(),
            "preprocessing": preprocessing,
            "head": self.model_.head_config.to_record(),
            "classes": self.classes_.tolist(),
            "strategy": self.strategy_,
            "strategy_reason": self.strategy_reason_,
            "params": self.get_params(),
            "data": self.data_record_,
            "fit_details": self.fit_details_,
        }

    def save(self, path: str | Path, summary: dict | None = None) -> Path:
        """Write a run directory (config.json, model.safetensors, metrics.csv) loadable by ``headstart.load``."""
        self._check_fitted()
        root = start_run_dir(path)
        preprocessing = get_task(self.task).save_assets(self.model_, self.preprocessing_, root)
        adapter = getattr(self.model_, "lora_adapter", None)
        if adapter is not None:
            save_adapter(root / "adapter", *adapter)
        return save_run(root, self._config(preprocessing), self.model_.state_dict(), self.history_, summary)

    @classmethod
    def load(cls, path: str | Path) -> TransferClassifier:
        """Rebuild a fitted classifier from a run directory, without its pre-trained weights or any pickle."""
        config = read_config(path)
        classifier_cls = CLASSIFIERS.get(config.get("task"))
        if classifier_cls is None:
            raise HeadstartError(f"{path} holds a '{config.get('task')}' run, which this headstart cannot load")
        if cls is not TransferClassifier and classifier_cls is not cls:
            raise HeadstartError(f"{path} is a {config['task']} run; load it with headstart.load()")
        params = {k: v for k, v in config.get("params", {}).items() if k in classifier_cls().get_params()}
        clf = classifier_cls(**params)
        record = config["model"]
        spec = get_model_spec(record["name"]).with_weights(WeightsSource(**record["weights"]))
        arch_spec, preprocessing = get_task(clf.task).load_assets(spec, config["preprocessing"], user_path(path))
        head = HeadConfig(**config["head"])
        model = TransferModel(create_backbone(arch_spec, pretrained=False), len(config["classes"]), head)
        try:
            model.load_state_dict(read_weights(path), strict=True)
        except RuntimeError as exc:
            raise HeadstartError(f"the weights in {path} do not match its config ({str(exc)[:120]}...)") from exc
        model.eval()
        clf.classes_ = np.asarray(config["classes"])
        clf.model_ = model
        clf.spec_ = spec
        clf.preprocessing_ = preprocessing
        clf.strategy_ = config["strategy"]
        clf.strategy_reason_ = config.get("strategy_reason", "")
        clf.history_ = []
        clf.fit_details_ = config.get("fit_details", {})
        clf.data_record_ = config.get("data", {})
        return clf


class ImageClassifier(TransferClassifier):
    """Image classification by transfer learning (default backbone: EfficientNet-Lite0, offline)."""

    task = "image"


class TextClassifier(TransferClassifier):
    """Text classification by transfer learning (default encoder: all-MiniLM-L6-v2, offline)."""

    task = "text"


CLASSIFIERS: dict[str, type[TransferClassifier]] = {"image": ImageClassifier, "text": TextClassifier}


def load(path: str | Path) -> TransferClassifier:
    """Load any saved run: ``clf = headstart.load("runs/my-run")``."""
    return TransferClassifier.load(path)
