"""The logistic regression every frozen-feature measurement in headstart shares: the linear probe fits it, the
precision check scores bf16 against fp32 with it, the guard rail and the report's plain probe use it with the naive
settings. One recipe, so a verdict measured with it holds for the probe that is trained.

The recipe (measured in bench/probe_scaling.py and bench/probe_layers.py, issue 34): a signed power transform of
every feature, then one scale for all of them (their root mean square), then multinomial logistic regression whose C
is chosen by stratified cross-validation of the log-loss.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, log_loss
from sklearn.model_selection import StratifiedKFold

# A wide grid: C is chosen on features divided by their root mean square, so one grid serves every backbone.
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
DEFAULT_C = 1.0
DEFAULT_POWER = 0.5
RECIPE = "signed power, one RMS scale, C by CV log-loss on 0.001-100 (issue 34)"  # keys cached verdicts


@dataclass(frozen=True)
class CrossValidation:
    """What choosing C by cross-validation found."""

    C: float
    scores: dict[str, dict[float, float]]  # "log_loss" and the headline score ("accuracy", ...), by C
    out_of_fold: np.ndarray  # each example's class (label sets: per-label probabilities) at C, from the fold that
    # left it out
    headline: str = "accuracy"  # the score the probe reports beside the log-loss


def signed_power(x: np.ndarray, power: float) -> np.ndarray:
    """sign(x) |x|^power, feature by feature (as ``models.transfer.SignedPower`` computes it in the saved head)."""
    if power == 1.0:
        return x
    return (np.sign(x) * np.abs(x) ** power).astype(x.dtype, copy=False)


def probe_inputs(x: np.ndarray, power: float | None = None, scale: float | None = None
                 ) -> tuple[np.ndarray, float, float]:
    """(the regression's inputs, the power, the scale): ``x`` power-transformed (``power`` None: ``DEFAULT_POWER``
    for non-negative features, as pooled ReLU features are; 1 for signed ones, such as a text encoder's embeddings,
    where it helped and hurt by turns) and divided by ``scale`` (None: their root mean square)."""
    power = power or (DEFAULT_POWER if x.min(initial=0.0) >= 0 else 1.0)
    x = signed_power(x, power)
    scale = scale or root_mean_square(x)
    return x / scale, power, scale


def probe_options(backbone: object) -> dict[str, float]:
    """The probe options a backbone fixes for its own features (``probe_defaults``: TF-IDF's C, scale and power);
    none for pre-trained features, which the recipe above suits."""
    return dict(getattr(backbone, "probe_defaults", None) or {})


def root_mean_square(x: np.ndarray) -> float:
    """One scale for all features (1 for features that are all zero)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) or 1.0


def cv_folds(folds: int, seed: int) -> StratifiedKFold:
    """The folds C is chosen on (and the plain probe is compared on)."""
    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


def logistic_regression(c: float, seed: int, class_weight: np.ndarray | None = None) -> LogisticRegression:
    weights = None if class_weight is None else dict(enumerate(class_weight.tolist()))
    return LogisticRegression(C=c, max_iter=2000, random_state=seed, class_weight=weights)


def cross_validate(x: np.ndarray, y: np.ndarray, grid: Sequence[float], folds: int, seed: int,
                   class_weight: np.ndarray | None = None) -> CrossValidation:
    """The C of ``grid`` with the lowest out-of-fold log-loss on stratified ``folds`` of ``(x, y)``.

    Written out rather than GridSearchCV, which fits every C from scratch and keeps no per-example predictions (the
    guard rail pairs them with the plain probe's); here each fold walks the grid from the strongest regularisation
    up, every fit starting from the last one's weights, about twice as fast. (LogisticRegressionCV does the same walk,
    but its attributes change between scikit-learn 1.9 and 1.10.) With ``class_weight`` the log-loss and the accuracy
    are weighted by it (balanced, for ``class_weight='auto'``).
    """
    classes = np.unique(y)
    probabilities = np.zeros((len(grid), len(y), len(classes)))
    for fit_rows, held_out in cv_folds(folds, seed).split(x, y):
        clf = logistic_regression(DEFAULT_C, seed, class_weight).set_params(warm_start=True)
        for index in np.argsort(grid):
            clf.set_params(C=grid[index]).fit(x[fit_rows], y[fit_rows])
            proba = clf.predict_proba(x[held_out]).astype(np.float64)  # float32 features: rows off 1 by 1e-7
            probabilities[index][held_out] = proba / proba.sum(axis=1, keepdims=True)
    predicted = classes[probabilities.argmax(axis=2)]
    weights = None if class_weight is None else class_weight[y]  # the loss the weighted regression minimises
    losses = [log_loss(y, p, labels=classes, sample_weight=weights) for p in probabilities]
    accuracies = [float(np.average(row == y, weights=weights)) for row in predicted]
    best = int(np.argmin(losses))
    scores = {"log_loss": dict(zip(grid, losses, strict=True)), "accuracy": dict(zip(grid, accuracies, strict=True))}
    return CrossValidation(float(grid[best]), scores, predicted[best])


class SingleLabelProbe:
    """The recipe for one class per example (class indices as targets): multinomial logistic regression."""

    headline = "accuracy"

    def smallest(self, targets: np.ndarray) -> int:
        """Examples of the rarest class: the most stratified folds the data allows."""
        return int(np.bincount(targets).min())

    def cross_validate(self, x: np.ndarray, targets: np.ndarray, grid: Sequence[float], folds: int, seed: int,
                       class_weight: np.ndarray | None = None) -> CrossValidation:
        return cross_validate(x, targets, grid, folds, seed, class_weight)

    def fit(self, x: np.ndarray, targets: np.ndarray, c: float, seed: int, class_weight: np.ndarray | None,
            num_outputs: int) -> tuple[np.ndarray, np.ndarray]:
        """(weights, biases) of the logits whose softmax is the regression's ``predict_proba``; classes absent from
        the training data get a very low logit."""
        clf = logistic_regression(c, seed, class_weight).fit(x, targets)
        coef, intercept = clf.coef_, clf.intercept_
        if coef.shape[0] == 1:  # binary: sklearn stores only the positive class's logit
            coef, intercept = np.vstack([np.zeros_like(coef), coef]), np.concatenate([[0.0], intercept])
        weight, bias = np.zeros((num_outputs, x.shape[1])), np.full(num_outputs, -1e4)
        weight[clf.classes_], bias[clf.classes_] = coef, intercept
        return weight, bias


class MultiLabelProbe:
    """The recipe for label sets (an examples x labels 0/1 matrix as targets): one binary logistic regression per
    label (one-vs-rest), one C for all of them chosen by the mean binary log-loss over iteratively stratified folds
    (iterative-stratification: each fold keeps each label's share, which plain stratification cannot do for sets).
    With ``class_weight`` each label's regression is balanced (its positives weigh negatives/positives times more,
    as the trainer's ``pos_weight`` does)."""

    headline = "mean_average_precision"

    def smallest(self, targets: np.ndarray) -> int:
        """The fewest positives, or negatives, of any label that has both."""
        positives = targets.sum(axis=0)
        counts = np.r_[positives, len(targets) - positives]
        counts = counts[(counts > 0)]
        return int(counts.min()) if len(counts) else 0

    def _regression(self, c: float, seed: int, class_weight: np.ndarray | None) -> LogisticRegression:
        return LogisticRegression(C=c, max_iter=2000, random_state=seed,
                                  class_weight=None if class_weight is None else "balanced")

    def cross_validate(self, x: np.ndarray, targets: np.ndarray, grid: Sequence[float], folds: int, seed: int,
                       class_weight: np.ndarray | None = None) -> CrossValidation:
        """Written out for the reason ``cross_validate`` is: each label walks the grid warm-started."""
        from iterstrat.ml_stratifiers import MultilabelStratifiedKFold

        y = targets.astype(int)
        probabilities = np.zeros((len(grid), *y.shape))
        splitter = MultilabelStratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
        stratified = np.c_[y, 1 - y] if y.shape[1] == 1 else y  # one label: "binary" to iterstrat, not a set
        for fit_rows, held_out in splitter.split(x, stratified):
            for j in range(y.shape[1]):
                column = y[fit_rows, j]
                if column.min() == column.max():  # one value in this fold's training rows: it is predicted
                    probabilities[:, held_out, j] = float(column[0])
                    continue
                clf = self._regression(DEFAULT_C, seed, class_weight).set_params(warm_start=True)
                for index in np.argsort(grid):
                    clf.set_params(C=grid[index]).fit(x[fit_rows], column)
                    probabilities[index][held_out, j] = clf.predict_proba(x[held_out])[:, 1]
        losses = [float(np.mean([log_loss(y[:, j], p[:, j], labels=[0, 1]) for j in range(y.shape[1])]))
                  for p in probabilities]
        defined = [j for j in range(y.shape[1]) if 0 < y[:, j].sum() < len(y)]
        precision = [float(np.mean([average_precision_score(y[:, j], p[:, j]) for j in defined])) if defined
                     else float("nan") for p in probabilities]
        best = int(np.argmin(losses))
        scores = {"log_loss": dict(zip(grid, losses, strict=True)),
                  self.headline: dict(zip(grid, precision, strict=True))}
        return CrossValidation(float(grid[best]), scores, probabilities[best].astype(np.float32), self.headline)

    def fit(self, x: np.ndarray, targets: np.ndarray, c: float, seed: int, class_weight: np.ndarray | None,
            num_outputs: int) -> tuple[np.ndarray, np.ndarray]:
        """(weights, biases) whose sigmoid is each label's regression; a label with one value in the training data
        (never or always present) gets a constant logit of -20 or +20."""
        y = targets.astype(int)
        weight, bias = np.zeros((num_outputs, x.shape[1])), np.zeros(num_outputs)
        for j in range(num_outputs):
            if y[:, j].min() == y[:, j].max():
                bias[j] = 20.0 if y[0, j] else -20.0
                continue
            clf = self._regression(c, seed, class_weight).fit(x, y[:, j])
            weight[j], bias[j] = clf.coef_[0], clf.intercept_[0]
        return weight, bias


SINGLE_LABEL = SingleLabelProbe()
MULTI_LABEL = MultiLabelProbe()
