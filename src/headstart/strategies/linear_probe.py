"""linear-probe: frozen backbone features -> multinomial logistic regression (scikit-learn)."""

from __future__ import annotations

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from headstart.models.transfer import HeadConfig, TransferModel
from headstart.strategies.base import FitContext, FitResult, Split, Strategy

C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)
DEFAULT_C = 0.1


class LinearProbe(Strategy):
    """The fastest and most data-frugal adaptation: nothing in the backbone changes.

    The regularisation strength is chosen on the validation split. The fitted scaler and regression are folded
    into the model's linear head, so a probe is saved, loaded and exported like any other run.
    """

    name = "linear-probe"
    head = HeadConfig("linear", dropout=0.0)
    summary = "logistic regression on frozen features"

    def fit(self, model: TransferModel, train: Split, val: Split | None, ctx: FitContext) -> FitResult:
        x_train = ctx.features(model, train, train=False, description="features (train)")
        scaler = StandardScaler().fit(x_train)
        x_train = scaler.transform(x_train)
        scores: dict[float, float] = {}
        if val is not None and len(val):
            x_val = scaler.transform(ctx.features(model, val, train=False, description="features (val)"))
            for c in C_GRID:
                clf = _logreg(c, ctx.seed).fit(x_train, train.targets)
                scores[c] = float((clf.predict(x_val) == val.targets).mean())
            best_c = max(C_GRID, key=lambda c: (scores[c], -c))
        else:
            best_c = DEFAULT_C
        clf = _logreg(best_c, ctx.seed).fit(x_train, train.targets)
        fold_into_linear(model.head[-1], clf, scaler, ctx.num_classes)
        ctx.reporter.say(f"  logistic regression C={best_c}" + (f", val acc {scores[best_c]:.3f}" if scores else ""))
        return FitResult(details={"C": best_c, "val_acc_by_C": {str(c): s for c, s in scores.items()}})


def _logreg(c: float, seed: int) -> LogisticRegression:
    return LogisticRegression(C=c, max_iter=2000, random_state=seed)


def fold_into_linear(
    layer: torch.nn.Linear, clf: LogisticRegression, scaler: StandardScaler, num_classes: int
) -> None:
    """Write ``clf(scaler(x))`` into ``layer`` so that softmax(layer(x)) equals ``clf.predict_proba``.

    Classes absent from the training data keep a very low logit.
    """
    coef = clf.coef_ / scaler.scale_
    intercept = clf.intercept_ - coef @ scaler.mean_
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
