"""What image and text classification share: one label per input, a backbone with a new head, class indices as
targets, accuracy-style scores and top-k predictions."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.splits import check_trainable, subsample_splits, with_validation
from headstart.errors import HeadstartError
from headstart.evaluation.rows import class_csv, class_table
from headstart.models import create_backbone, has_parameters
from headstart.models.registry import ModelSpec
from headstart.models.transfer import HeadConfig, TransferModel
from headstart.tasks.base import Task, fit_logistic_baseline

if TYPE_CHECKING:
    from headstart.strategies.base import Split, Strategy

PLAIN_PROBE_ITEMS = 2_000  # inputs the plain probe may extract beside a run (about 15 s at 224 px on 2 cores)
PLAIN_PROBE_CACHED_ITEMS = 50_000  # and inputs it may fit on at all, cached or not (the regression's own time)


class ClassificationTask(Task):
    """One label per input, from a fixed set of classes."""

    quantization = "dynamic"
    unlabeled_refusal = None  # an unlabelled pool adds pseudo-labelled examples (strategies/pseudo_labels.py)
    output = "softmax"  # how the exported graph and ``probabilities`` turn logits into probabilities
    output_description = "N x classes"

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """The model's logits as probabilities: over the classes (softmax), or per label (sigmoid) for sets."""
        from headstart.tasks.graphs import probabilities

        return probabilities(logits, self.output)

    def subsample(self, splits: DataSplits, per_class: int | None, test_per_class: int | None, seed: int
                  ) -> DataSplits:
        """At most ``per_class`` training and ``test_per_class`` test examples of each class (seeded)."""
        return subsample_splits(splits, per_class, test_per_class, seed)

    def baseline_features(self, train: LabeledData, test: LabeledData) -> tuple[str, Any, Any] | None:
        """(the baseline's name, train features, test features): a classical model's inputs (pixels, TF-IDF), fed to
        a logistic regression; None where the task has none."""
        return None

    def baseline(self, train: LabeledData, test: LabeledData) -> tuple[str, float] | None:
        """A logistic regression on the task's classical features (standardised where ``baseline_standardised``):
        test accuracy."""
        found = self.baseline_features(train, test)
        if found is None:
            return None
        name, x_train, x_test = found
        return name, fit_logistic_baseline(x_train, train.labels, x_test, test.labels, self.baseline_standardised)

    def check_trainable(self, train: LabeledData) -> None:
        check_trainable(train, train.source or "the training data")

    def plain_probe(self, spec: ModelSpec, train: LabeledData, test: LabeledData, cache: Any) -> dict:
        """The naive recipe, as a guard rail beside the run: the model's own preprocessing, fp32 features and
        scikit-learn's default logistic regression on every training example. Computed where it is cheap: its
        features are cached (a probe run's), or at most ``PLAIN_PROBE_ITEMS`` inputs are left to extract."""
        from threadpoolctl import threadpool_limits

        from headstart.features.cache import cached_features
        from headstart.features.probe_recipe import DEFAULT_C, logistic_regression

        record = {"name": "plain probe (the model's preprocessing, fp32 features, default logistic regression)"}
        if len(train) + len(test) > PLAIN_PROBE_CACHED_ITEMS:
            return {**record, "accuracy": None, "note": f"not computed: {len(train) + len(test)} inputs (over "
                                                        f"{PLAIN_PROBE_CACHED_ITEMS})"}
        preprocessing = self.preprocessing(spec, {}, train.items if spec.fitted else None)  # TF-IDF: its vocabulary
        backbone = create_backbone(spec, preprocessing=preprocessing)
        parts = []
        for data in (train, test):
            keys = [self.content_key(item) for item in data.items]
            dataset = self.inputs_dataset(data.items, None, preprocessing, train=False)
            parts.append((data, keys, dataset))
        cached = getattr(backbone, "cache_features", True)  # else computed again cheaply (TF-IDF), never cached
        missing = sum(int(cache.missing(cache.namespace(backbone, preprocessing, "fp32", None, 0), keys).sum())
                      if cache else len(keys) for _, keys, _ in parts) if cached else 0
        if missing > PLAIN_PROBE_ITEMS:
            return {**record, "accuracy": None, "note": f"not computed: {missing} inputs to extract (over "
                                                        f"{PLAIN_PROBE_ITEMS}; a run at the model's own "
                                                        "preprocessing in fp32 caches them)"}
        x_train, x_test = (cached_features(backbone, dataset, keys, cache, preprocessing, precision="fp32",
                                           description="features (plain probe)") for _, keys, dataset in parts)
        classes = train.classes
        with threadpool_limits(limits=1, user_api="blas"):  # tall, thin matrices: see linear_probe.py
            probe = logistic_regression(DEFAULT_C, seed=0).fit(x_train, np.searchsorted(classes, train.labels))
        return {**record, "accuracy": float((probe.predict(x_test) == np.searchsorted(classes, test.labels)).mean())}

    def precision_probe(self) -> LabeledData:
        """Every example of the task's shipped sample (its first named dataset), train and test together."""
        splits = self.read(self.named_data[0])
        return splits.train.join(splits.test) if splits.test is not None else splits.train

    def with_validation(self, splits: DataSplits, val_size: float, seed: int, needed: bool) -> DataSplits:
        """A stratified validation split when the strategy selects on one, or when no test split will score it."""
        has_test = splits.test is not None and len(splits.test) > 0
        if needed or not has_test or (splits.val is not None and len(splits.val)):
            return self.add_validation(splits, val_size, seed)
        record = {**splits.record, "val": "none", "reason": "not needed: the strategy does not select on it"}
        return DataSplits(splits.train, None, splits.test, record, list(splits.warnings))

    def add_validation(self, splits: DataSplits, val_size: float, seed: int) -> DataSplits:
        """``splits`` with a seeded validation split carved out of train when none is given (stratified by class)."""
        return with_validation(splits, val_size, seed)

    def classes(self, splits: DataSplits) -> list[str]:
        return splits.classes

    def check_labels(self, data: LabeledData | None, classes: Sequence[str], what: str) -> None:
        if data is None:
            return
        unknown = sorted(set(data.labels) - set(classes))
        if unknown:
            raise HeadstartError(
                f"{what} labels not seen in training: {', '.join(unknown[:5])} (in {data.source}); "
                f"known classes: {', '.join(classes)}"
            )

    def encode(self, data: LabeledData | None, classes: Sequence[str]) -> Split | None:
        from headstart.strategies.base import Split

        if data is None or not len(data):
            return None
        index = {c: i for i, c in enumerate(classes)}
        return Split(data.items, np.asarray([index[label] for label in data.labels], dtype=np.int64))

    def build_model(self, spec: ModelSpec, strategy: Strategy | None, num_classes: int, pretrained: bool,
                    head: dict | None = None, preprocessing: dict | None = None) -> nn.Module:
        config = HeadConfig(**head) if head is not None else strategy.head
        backbone = create_backbone(spec, pretrained=pretrained, preprocessing=preprocessing)
        if strategy is not None and not strategy.frozen_backbone and not has_parameters(backbone):
            raise HeadstartError(f"the {strategy.name} strategy trains the model's layers, and '{spec.name}' has none: "
                                 "use linear-probe or head")
        return TransferModel(backbone, num_classes, config)

    def score_line(self, scores: dict) -> str:
        return (f"accuracy [bold green]{scores['accuracy']:.1%}[/] (macro-F1 {scores['macro_f1']:.3f}, "
                f"n={scores['n']})")

    def prediction_table(self, rows: list[dict]) -> tuple[list[str], list[list[str]]]:
        return class_table(rows)

    def prediction_csv(self, rows: list[dict]) -> tuple[list[str], list[list[Any]]]:
        return class_csv(rows)

    def evaluation_tables(self, metrics: dict) -> tuple[str, list[tuple[str, list[str], list[list[str]]]]]:
        line = (f"n={metrics['n']}: accuracy [bold]{metrics['accuracy']:.1%}[/], balanced accuracy "
                f"{metrics['balanced_accuracy']:.1%}, macro-F1 {metrics['macro_f1']:.3f}")
        per_class = [[name, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", str(s["support"])]
                     for name, s in metrics["per_class"].items()]
        classes = list(metrics["per_class"])
        matrix = [[name, *(str(v) for v in row)] for name, row in zip(classes, metrics["confusion_matrix"], strict=True)]
        return line, [("per class", ["class", "precision", "recall", "F1", "support"], per_class),
                      ("confusion matrix", ["true \\ predicted", *classes], matrix)]
