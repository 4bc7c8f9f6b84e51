"""linear-probe: frozen backbone features -> multinomial logistic regression (scikit-learn)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.model_selection import StratifiedKFold
from threadpoolctl import threadpool_limits

from headstart.models.transfer import HeadConfig, TransferModel
from headstart.options import Range
from headstart.strategies.base import FitContext, FitResult, Split, Strategy

# A wide grid: C is chosen on features divided by their root mean square, so one grid serves every backbone.
C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
DEFAULT_C = 1.0


class LinearProbe(Strategy):
    """The fastest and most data-frugal adaptation: nothing in the backbone changes.

    The features are divided by one number, their root mean square on the training data (``scale`` sets it: 1 keeps
    them raw), so they keep the geometry the backbone gave them whatever its feature magnitude; the regularisation
    strength C is chosen by stratified cross-validation of the log-loss on the training data, so no labelled
    example has to be set aside for it. Measured in bench/probe_scaling.py: per-feature standardisation and
    accuracy as the cross-validation score both fell up to 2 points below the naive recipe (raw features, C=1) at 10
    images per class, as accuracy on 2 held-out examples per class mostly picks noise; this recipe never fell below
    it. The fitted scaling and regression are folded into the model's linear head, so a probe is saved, loaded and
    exported like any other run.
    """

    name = "linear-probe"
    head = HeadConfig("linear", dropout=0.0)
    summary = "logistic regression on frozen features"
    uses_validation = False
    frozen_backbone = True
    trains_epochs = False
    C: float | None = None  # None: chosen by cross-validation from C_GRID
    scale: float | None = None  # None: the features' root mean square
    cross_validate: bool = True  # a fixed C too, for its estimate (a refit, whose C was just chosen, skips it)
    options: ClassVar[dict[str, Range]] = {"C": Range(float, 0.0, 1e6, low_open=True),
                                           "scale": Range(float, 0.0, 1e6, low_open=True)}

    def fit(self, model: TransferModel, train: Split, val: Split | None, ctx: FitContext) -> FitResult:
        x_train, warnings = ctx.features(model, train, "features (train)"), []
        scale = self.scale or root_mean_square(x_train)
        x_train = x_train / scale
        smallest = int(np.bincount(train.targets).min())
        folds = min(5, smallest, 3 if len(train) > 3000 else 5)
        grid = C_GRID if self.C is None else (float(self.C),)  # a C given is cross-validated too, for its estimate
        # One BLAS thread: lbfgs multiplies tall, thin matrices (n x 1280 by 1280 x classes), where OpenBLAS's
        # threads cost more than they give. Measured on 2 cores: 800 images 13x faster, 10,000 images 2.8x.
        with threadpool_limits(limits=1, user_api="blas"):
            out_of_fold = None
            if folds >= 2 and (self.C is None or self.cross_validate):
                best_c, scores, out_of_fold = _cross_validated(x_train, train.targets, grid, folds, ctx)
                clf = _logreg(best_c, ctx).fit(x_train, train.targets)
            else:
                best_c, scores = DEFAULT_C if self.C is None else float(self.C), {}
                clf = _logreg(best_c, ctx).fit(x_train, train.targets)
                if self.C is None:
                    warnings.append(f"linear-probe: C={DEFAULT_C} without cross-validation: the smallest class has "
                                    f"{smallest} training example{'s' if smallest != 1 else ''}, and choosing C "
                                    "needs at least 2 per class; label more, or set it with --strategy "
                                    "'linear-probe(C=...)'")
        fold_into_linear(model.head[-1], clf, scale, ctx.num_classes)
        details: dict = {"C": best_c, "scale": float(scale), "cv_folds": folds}
        if scores:
            accuracy, what = scores["accuracy"][best_c], "accuracy" if ctx.class_weight is None else "balanced accuracy"
            ctx.reporter.say(f"  logistic regression C={best_c}, {folds}-fold cross-validated {what} {accuracy:.3f}")
            details.update(cv_accuracy=accuracy, cv_seed=ctx.seed,
                           **{f"cv_{name}_by_C": {str(c): v for c, v in by_c.items()} for name, by_c in scores.items()})
        return FitResult(details=details, warnings=warnings, out_of_fold=out_of_fold)

    def refit(self, result: FitResult) -> Strategy:
        again = self.with_options(C=result.details["C"])
        again.cross_validate = False  # C was just chosen; no estimate is reported for the refit
        return again


def root_mean_square(x: np.ndarray) -> float:
    """One scale for all features (1 for features that are all zero)."""
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) or 1.0


def cv_folds(folds: int, seed: int) -> StratifiedKFold:
    """The folds the probe chooses C on (and the plain probe is compared on)."""
    return StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)


def _cross_validated(x: np.ndarray, y: np.ndarray, grid: Sequence[float], folds: int, ctx: FitContext
                     ) -> tuple[float, dict[str, dict[float, float]], np.ndarray]:
    """(C with the lowest log-loss, log-loss and accuracy by C, each example's class predicted at that C by the
    fold that left it out), over the ``grid`` on stratified ``folds``.

    Written out rather than GridSearchCV, which fits every C from scratch and keeps no per-example predictions (the
    guard rail pairs them with the plain probe's); here each fold walks the grid from the strongest regularisation
    up, every fit starting from the last one's weights, about twice as fast. (LogisticRegressionCV does the same walk,
    but its attributes change between scikit-learn 1.9 and 1.10.)
    """
    classes = np.unique(y)
    probabilities = np.zeros((len(grid), len(y), len(classes)))
    for fit_rows, held_out in cv_folds(folds, ctx.seed).split(x, y):
        clf = _logreg(DEFAULT_C, ctx).set_params(warm_start=True)
        for index in np.argsort(grid):
            clf.set_params(C=grid[index]).fit(x[fit_rows], y[fit_rows])
            proba = clf.predict_proba(x[held_out]).astype(np.float64)  # float32 features: rows off 1 by 1e-7
            probabilities[index][held_out] = proba / proba.sum(axis=1, keepdims=True)
    predicted = classes[probabilities.argmax(axis=2)]
    weights = None if ctx.class_weight is None else ctx.class_weight[y]  # balanced accuracy with class weights
    losses = [log_loss(y, p, labels=classes) for p in probabilities]
    accuracies = [float(np.average(row == y, weights=weights)) for row in predicted]
    best = int(np.argmin(losses))
    scores = {"log_loss": dict(zip(grid, losses, strict=True)), "accuracy": dict(zip(grid, accuracies, strict=True))}
    return float(grid[best]), scores, predicted[best]


def _logreg(c: float, ctx: FitContext) -> LogisticRegression:
    weights = None if ctx.class_weight is None else dict(enumerate(ctx.class_weight.tolist()))
    return LogisticRegression(C=c, max_iter=2000, random_state=ctx.seed, class_weight=weights)


def fold_into_linear(layer: torch.nn.Linear, clf: LogisticRegression, scale: float, num_classes: int) -> None:
    """Write ``clf(x / scale)`` into ``layer`` so that softmax(layer(x)) equals ``clf.predict_proba``.

    Classes absent from the training data keep a very low logit.
    """
    coef = clf.coef_ / scale
    intercept = clf.intercept_
    if coef.shape[0] == 1:  # binary: sklearn stores only the positive class's logit
        coef = np.vstack([np.zeros_like(coef), coef])
        intercept = np.concatenate([[0.0], intercept])
    weight = np.zeros((num_classes, coef.shape[1]))
    bias = np.full(num_classes, -1e4)
    weight[clf.classes_] = coef
    bias[clf.classes_] = intercept
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
        layer.bias.copy_(torch.from_numpy(bias))
