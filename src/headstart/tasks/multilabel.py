"""Multi-label classification (issue 29): each input has a set of labels, possibly empty ("no finding"), for images
and text. What differs from one label per input is said here: label sets read from tables and folders, splits that
keep each label's share, 0/1 targets, binary cross-entropy and one-vs-rest probes, sigmoid outputs with per-label
thresholds, and the scores of evaluation/multilabel.py. Inputs, models, preprocessing and export graphs are the
image and text tasks' own.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from headstart.compute.device import autocast, channels_last
from headstart.data.dataset import DataSplits, LabelSets
from headstart.data.images import image_table_sets
from headstart.data.label_sets import (
    check_trainable_sets,
    sample_per_label,
    split_label_sets,
    with_validation_sets,
)
from headstart.data.texts import text_table_sets
from headstart.errors import HeadstartError
from headstart.evaluation.multilabel import DEFAULT_THRESHOLD, choose_thresholds, multilabel_metrics
from headstart.evaluation.rows import label_set_csv, label_set_table
from headstart.features.probe_recipe import MULTI_LABEL
from headstart.files import user_path
from headstart.strategies.auto import FEW_SHOT_PER_CLASS
from headstart.tasks.base import baseline_regression, register_task
from headstart.tasks.image import ImageTask
from headstart.tasks.text import TextTask
from headstart.training.engine import Trainer

BASELINE_FOLDS = 3  # the baseline's thresholds are chosen on its own out-of-fold probabilities


class MultiLabelTrainer(Trainer):
    """The shared loop with binary cross-entropy per label (``class_weight``: each label's positive weight) and
    mean average precision over the labels as the validation score that early stopping and selection use."""

    def __init__(self, model: nn.Module, *, class_weight: Sequence[float] | None = None, **options: Any) -> None:
        super().__init__(model, **options)
        weight = None if class_weight is None else torch.as_tensor(class_weight, dtype=torch.float32)
        self.loss_fn = nn.BCEWithLogitsLoss(pos_weight=weight).to(self.accelerator.device)

    def compute_loss(self, outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(outputs.float(), targets.float())

    def count_correct(self, outputs: torch.Tensor, targets: torch.Tensor) -> int:
        """Inputs whose whole label set is right at 0.5 (subset accuracy: what "train acc" shows)."""
        return ((outputs > 0) == (targets > 0.5)).all(dim=1).sum().item()

    @torch.inference_mode()
    def evaluate(self, loader: DataLoader) -> tuple[float, float]:
        """Mean binary cross-entropy per label, and mean average precision over the labels with both positive and
        negative inputs here (subset accuracy where none has)."""
        from sklearn.metrics import average_precision_score

        self.model.eval()
        outputs, truths = [], []
        for inputs, targets in loader:
            with autocast(self.accelerator.device, self.eval_precision):
                logits = self.model(channels_last(inputs)).float()
            logits, targets = self.accelerator.gather_for_metrics((logits, targets))
            outputs.append(logits.cpu())
            truths.append(targets.float().cpu())
        logits, truth = torch.cat(outputs), torch.cat(truths)
        loss = nn.functional.binary_cross_entropy_with_logits(logits, truth).item()
        y, p = truth.numpy().astype(int), torch.sigmoid(logits).numpy()
        defined = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
        if not defined:
            return loss, float(((p >= 0.5) == y).all(axis=1).mean())
        return loss, float(np.mean([average_precision_score(y[:, j], p[:, j]) for j in defined]))


class MultiLabelTask:
    """Label sets on top of a single-label task (``ImageTask``, ``TextTask``): put first in the bases."""

    multi_label = True
    unlabeled_refusal = ("not written yet for label sets (their pseudo-labels and uncertainty need a threshold per "
                         "label)")
    quantization = None  # export --quantize int8 compares top-1 accuracy, which label sets do not have (yet)
    probe_recipe = MULTI_LABEL
    trainer_class = MultiLabelTrainer
    output = "sigmoid"
    output_description = "N x labels, each probability on its own (a label is predicted from its threshold up)"
    report_layout = "multilabel"
    curve_score = ("macro_f1", "test macro-F1")
    size_unit = "per_label"
    few_shot_strategy = "linear-probe"
    named_data: tuple[str, ...] = ()
    base: str  # the single-label task whose models and inputs this uses

    @property
    def model_task(self) -> str:
        return self.base

    # -- reading ----------------------------------------------------------------------------------------------
    def sets_reason(self, data: str | Path, **read: Any) -> str | None:
        """Why ``data`` (read with the options ``read``, e.g. its label column) holds label sets (said when
        ``--multi-label`` was detected), or None."""
        raise NotImplementedError

    def claims(self, data: str | Path, **read: Any) -> bool:
        if str(data) in self.named_data:
            return True
        try:
            return self.sets_reason(data, **read) is not None
        except (HeadstartError, OSError, ValueError):  # the single-label reader names what is wrong with the file
            return False

    def subsample(self, splits: DataSplits, per_class: int | None, test_per_class: int | None, seed: int
                  ) -> DataSplits:
        """``per_class``: each label on at least that many training items (nested draws; see sample_per_label)."""
        if per_class:
            splits.train = sample_per_label(splits.train, per_class, seed)
        if test_per_class and splits.test is not None:
            splits.test = sample_per_label(splits.test, test_per_class, seed)
        return splits

    def draw_train(self, pool: LabelSets, size: int, seed: int) -> LabelSets:
        return sample_per_label(pool, size, seed)

    def hold_out(self, pool: LabelSets, share: float, seed: int) -> tuple[LabelSets, LabelSets | None]:
        rest, held, _ = split_label_sets(pool, share, seed)
        return rest, held

    def check_trainable(self, train: LabelSets) -> None:
        check_trainable_sets(train, train.source or "the training data")

    def add_validation(self, splits: DataSplits, val_size: float, seed: int) -> DataSplits:
        """Keeping each label's share; the linear probe chooses its thresholds on out-of-fold probabilities, so it
        needs none when a test split scores the run."""
        return with_validation_sets(splits, val_size, seed)

    def check_labels(self, data: LabelSets | None, classes: Sequence[str], what: str) -> None:
        if data is None:
            return
        if not isinstance(data, LabelSets):
            raise HeadstartError(f"{data.source or 'this data'} has one label per item, but the run predicts label "
                                 "sets; read it as multi-label data (--multi-label)")
        unknown = sorted(set(data.classes) - set(classes))
        if unknown:
            raise HeadstartError(
                f"{what} labels not seen in training: {', '.join(unknown[:5])} (in {data.source}); move some of their "
                f"items to the training data, or remove them; known labels: {', '.join(classes)}"
            )

    def encode(self, data: LabelSets | None, classes: Sequence[str]) -> Any:
        from headstart.strategies.base import Split

        if data is None or not len(data):
            return None
        return Split(data.items, data.indicator(classes))

    # -- choosing ---------------------------------------------------------------------------------------------
    def check_strategy(self, name: str) -> None:
        if name == "contrastive":
            raise HeadstartError("the contrastive strategy learns from pairs of one class and of different classes, "
                                 "which label sets do not give; use linear-probe, head or fine-tune"
                                 + (" (or lora)" if "lora" in self.strategies else ""))
        super().check_strategy(name)

    def auto_plan(self, train: LabelSets) -> tuple[str, str]:
        """From the data size, as for one label per input: the rarest label's items decide (the models are not
        ranked: the ranking scores one label per input)."""
        counts = {label: n for label, n in train.class_counts().items() if label in train.classes}
        rarest, smallest = min(counts.items(), key=lambda pair: pair[1])
        if smallest < FEW_SHOT_PER_CLASS:
            return "linear-probe", (f"the rarest label ('{rarest}') is on {smallest} training items (< "
                                    f"{FEW_SHOT_PER_CLASS}): a linear probe on frozen features is the most reliable")
        adapting = self.adapting_strategies[0]
        return adapting, (f"every label is on at least {smallest} training items (>= {FEW_SHOT_PER_CLASS}): enough "
                          f"to train with {adapting}")

    def plain_probe_knobs(self, spec: Any) -> None:
        return None  # no guard rail: the plain probe is a single-label recipe

    def plain_probe(self, spec: Any, train: Any, test: Any, cache: Any) -> None:
        return None

    def precision_probe(self) -> Any:
        from headstart.tasks import get_task

        return get_task(self.base).precision_probe()  # the same backbone: its check holds here

    # -- scoring ----------------------------------------------------------------------------------------------
    def baseline(self, train: LabelSets, test: LabelSets) -> tuple[str, float] | None:
        """One-vs-rest logistic regression on the classical features (pixels, TF-IDF), each label's threshold chosen
        on its own out-of-fold probabilities (as fair as the run's): test macro-F1. Written per label rather than with
        OneVsRestClassifier, which reads a single label's column as a binary target."""
        from sklearn.model_selection import StratifiedKFold, cross_val_predict
        from threadpoolctl import threadpool_limits

        found = self.baseline_features(train, test)
        if found is None:
            return None
        name, x_train, x_test = found
        classes = train.classes
        y_train, y_test = train.indicator(classes).astype(int), test.indicator(classes).astype(int)
        out_of_fold, proba = np.zeros(y_train.shape), np.zeros(y_test.shape)
        unchosen = []  # labels too rare here for out-of-fold probabilities: their threshold stays the default
        with threadpool_limits(limits=1, user_api="blas"):  # see strategies/linear_probe.py
            for j in range(len(classes)):
                column = y_train[:, j]
                if column.min() == column.max():  # on every item, or on none: predicted as it is
                    proba[:, j], out_of_fold[:, j] = float(column[0]), float(column[0])
                    unchosen.append(j)
                    continue
                model = baseline_regression(x_train, self.baseline_standardised)
                folds = min(BASELINE_FOLDS, int(column.sum()), int(len(column) - column.sum()))
                if folds >= 2:
                    splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
                    out_of_fold[:, j] = cross_val_predict(model, x_train, column, cv=splitter,
                                                          method="predict_proba")[:, 1]
                else:
                    unchosen.append(j)
                proba[:, j] = model.fit(x_train, column).predict_proba(x_test)[:, 1]
        thresholds, _ = choose_thresholds(y_train, out_of_fold, classes)
        thresholds[unchosen] = DEFAULT_THRESHOLD
        scores = multilabel_metrics(y_test, proba, thresholds, classes)
        return f"one-vs-rest {name}", scores["macro_f1"]

    def headline_score(self, value: float) -> str:
        return f"macro-F1 {value:.3f}"

    def score_line(self, scores: dict) -> str:
        precision = scores.get("mean_average_precision")
        shown = f", mAP {precision:.3f}" if precision is not None else ""
        return (f"macro-F1 [bold green]{scores['macro_f1']:.3f}[/]{_over(scores)} (micro-F1 {scores['micro_f1']:.3f}"
                f"{shown}, subset accuracy {scores['subset_accuracy']:.1%}, n={scores['n']})")

    def prediction_table(self, rows: list[dict]) -> tuple[list[str], list[list[str]]]:
        return label_set_table(rows)

    def prediction_csv(self, rows: list[dict]) -> tuple[list[str], list[list[Any]]]:
        return label_set_csv(rows)

    def evaluation_tables(self, metrics: dict) -> tuple[str, list[tuple[str, list[str], list[list[str]]]]]:
        precision = metrics.get("mean_average_precision")
        line = (f"n={metrics['n']}: macro-F1 [bold]{metrics['macro_f1']:.3f}[/]{_over(metrics)}, micro-F1 "
                f"{metrics['micro_f1']:.3f}, "
                + (f"mAP {precision:.3f}, " if precision is not None else "")
                + f"subset accuracy {metrics['subset_accuracy']:.1%}, labels per input {metrics['label_cardinality']:.2f} "
                f"(predicted {metrics['predicted_cardinality']:.2f})")

        def shown(value: float | None) -> str:
            return "-" if value is None else f"{value:.3f}"

        per_label = [[name, f"{s['precision']:.3f}", f"{s['recall']:.3f}", f"{s['f1']:.3f}", str(s["support"]),
                      shown(s["auroc"]), shown(s["average_precision"]), f"{s['threshold']:.3f}"]
                     for name, s in metrics["per_label"].items()]
        return line, [("per label", ["label", "precision", "recall", "F1", "support", "AUROC", "AP", "threshold"],
                       per_label)]


def _over(scores: dict) -> str:
    """" (over k of N labels)" when macro-F1 leaves out labels neither present nor predicted in the scored data."""
    scored, labels = scores.get("macro_f1_labels"), len(scores.get("per_label", {}))
    return f" (over {scored} of {labels} labels)" if scored is not None and scored < labels else ""


class ImageMultiLabelTask(MultiLabelTask, ImageTask):
    name = "image-multilabel"
    title = "multi-label image classification"
    base = "image"
    strategies = ("linear-probe", "head", "fine-tune", "scratch")
    adapting_strategies = ("fine-tune", "head")
    compare_strategies = ("linear-probe", "fine-tune", "scratch")
    named_data = ("mosaics",)

    def read(self, source: str | Path, per_class: int | None = None, test_per_class: int | None = None,
             seed: int = 0) -> DataSplits:
        """As ``ImageTask.read`` (a CSV of label sets, or class folders), or ``mosaics`` (data/mosaics.py)."""
        if str(source) == "mosaics":
            from headstart.data.mosaics import load_fashion_mosaics

            return load_fashion_mosaics(per_class=per_class, test_per_class=test_per_class, seed=seed)
        return super().read(source, per_class, test_per_class, seed)

    def sets_reason(self, data: str | Path, **read: Any) -> str | None:
        if str(data) in self.named_data:
            return "it is a multi-label dataset"
        path = user_path(str(data))
        if path.suffix.lower() in (".csv", ".tsv") and path.is_file():
            return image_table_sets(path)
        return None  # folders: an image in several class folders may be a labelling slip; --multi-label says so


class TextMultiLabelTask(MultiLabelTask, TextTask):
    name = "text-multilabel"
    title = "multi-label text classification"
    base = "text"
    strategies = ("linear-probe", "head", "fine-tune", "lora", "scratch")
    adapting_strategies = ("head", "fine-tune")
    compare_strategies = ("linear-probe", "head", "scratch")

    def sets_reason(self, data: str | Path, text_column: str | None = None, label_column: str | None = None,
                    **read: Any) -> str | None:
        path = user_path(str(data))
        if path.suffix.lower() in (".csv", ".tsv", ".jsonl", ".ndjson", ".json") and path.is_file():
            return text_table_sets(path, text_column, label_column)
        return None


register_task(ImageMultiLabelTask())
register_task(TextMultiLabelTask())

__all__ = ["DEFAULT_THRESHOLD", "ImageMultiLabelTask", "MultiLabelTrainer", "TextMultiLabelTask"]
