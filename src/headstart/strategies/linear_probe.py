"""linear-probe: frozen backbone features -> multinomial logistic regression (scikit-learn)."""

from __future__ import annotations

from dataclasses import replace
from typing import ClassVar

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from headstart.features.probe_recipe import (
    C_GRID,
    DEFAULT_C,
    probe_inputs,
    probe_options,
)
from headstart.models.transfer import HeadConfig, TransferModel
from headstart.options import Range
from headstart.strategies.base import FitContext, FitResult, Split, Strategy

__all__ = ["C_GRID", "DEFAULT_C", "LinearProbe", "fold_into_linear"]


class LinearProbe(Strategy):
    """The fastest and most data-frugal adaptation: nothing in the backbone changes.

    Non-negative features (pooled after a ReLU, as a CNN's are) first go through a square-root power transform
    (``power`` sets it: 1 keeps them as they are), which evens out their heavy tails: +0.5 to +0.7 points on
    Fashion-MNIST (bench/probe_scaling.py); on a text encoder's signed embeddings it helped and hurt by turns, so they
    are left alone. The features are then divided by one number, their root mean square on the training data
    (``scale`` sets it; ``scale=1, power=1`` keeps them raw), so they keep the geometry the backbone gave them
    whatever its feature magnitude; the regularisation strength C is chosen by stratified cross-validation of the
    log-loss on the training data, so no labelled example has to be set aside for it. Measured in
    bench/probe_scaling.py: per-feature standardisation and accuracy as the cross-validation score both fell up to 2
    points below the naive recipe (raw features, C=1) at 10 images per class, as accuracy on 2 held-out examples per
    class mostly picks noise; this recipe never fell below it on average. The fitted transform, scaling and regression
    become the model's head (``SignedPower`` then one linear layer), so a probe is saved, loaded and exported like any
    other run.
    """

    name = "linear-probe"
    head = HeadConfig("linear", dropout=0.0)
    summary = "logistic regression on frozen features"
    uses_validation = False
    frozen_backbone = True
    trains_epochs = False
    C: float | None = None  # None: chosen by cross-validation from C_GRID
    scale: float | None = None  # None: the features' root mean square
    power: float | None = None  # None: the square root for non-negative features, else 1
    cross_validate: bool = True  # a fixed C too, for its estimate (a refit, whose C was just chosen, skips it)
    options: ClassVar[dict[str, Range]] = {"C": Range(float, 0.0, 1e6, low_open=True),
                                           "scale": Range(float, 0.0, 1e6, low_open=True),
                                           "power": Range(float, 0.0, 1.0, low_open=True)}

    def fit(self, model: TransferModel, train: Split, val: Split | None, ctx: FitContext) -> FitResult:
        return self.fit_features(model, ctx.features(model, train, "features (train)"), train, ctx)

    def fit_features(self, model: TransferModel, x_all: np.ndarray, train: Split, ctx: FitContext) -> FitResult:
        """The probe on features computed already (``x_all``, one row per item of ``train``), into ``model``'s
        head: also how a run adds classes, from the features it kept of its examples (estimators/incremental.py).
        A backbone's ``probe_defaults`` (C, scale, power) replace the options left unset (TF-IDF's)."""
        unset = {name: value for name, value in probe_options(model.backbone).items() if getattr(self, name) is None}
        if unset:
            probe = self.with_options(**unset)
            probe.cross_validate = self.cross_validate
            return probe.fit_features(model, x_all, train, ctx)
        recipe = ctx.task.probe_recipe  # one class per example, or label sets: the task says
        warnings: list[str] = []
        # The transform's scale, C and the estimate come from the labelled examples alone; pseudo-labelled ones
        # (an unlabelled pool's, issue 30) only join the final fit.
        labelled = train.labelled
        x_train, power, scale = probe_inputs(x_all[:labelled], self.power, self.scale)
        x_all = x_train if not train.pseudo else probe_inputs(x_all, power, scale)[0]
        targets = train.targets[:labelled]
        smallest = recipe.smallest(targets)
        folds = min(5, smallest, 3 if labelled > 3000 else 5)
        grid = C_GRID if self.C is None else (float(self.C),)  # a C given is cross-validated too, for its estimate
        # One BLAS thread: lbfgs multiplies tall, thin matrices (n x 1280 by 1280 x classes), where OpenBLAS's
        # threads cost more than they give. Measured on 2 cores: 800 images 13x faster, 10,000 images 2.8x.
        with threadpool_limits(limits=1, user_api="blas"):
            out_of_fold = None
            if folds >= 2 and (self.C is None or self.cross_validate):
                found = recipe.cross_validate(x_train, targets, grid, folds, ctx.seed, ctx.class_weight)
                best_c, scores, out_of_fold = found.C, found.scores, found.out_of_fold
            else:
                best_c, scores = DEFAULT_C if self.C is None else float(self.C), {}
                if self.C is None:
                    warnings.append(f"linear-probe: C={DEFAULT_C} without cross-validation: the smallest class has "
                                    f"{smallest} training example{'s' if smallest != 1 else ''}, and choosing C "
                                    "needs at least 2 per class; label more, or set it with --strategy "
                                    "'linear-probe(C=...)'")
            weight, bias = recipe.fit(x_all, train.targets, best_c, ctx.seed, ctx.class_weight, ctx.num_classes)
        if power != model.head_config.power:
            model.replace_head(replace(model.head_config, power=power))
        fold_into_linear(model.head[-1], weight / scale, bias)
        details: dict = {"C": best_c, "scale": float(scale), "power": power, "cv_folds": folds}
        if scores:
            what = recipe.headline if ctx.class_weight is None or recipe.headline != "accuracy" else "balanced accuracy"
            value = scores[recipe.headline][best_c]
            ctx.reporter.say(f"  logistic regression C={best_c}, {folds}-fold cross-validated "
                             f"{what.replace('_', ' ')} {value:.3f}")
            details.update(cv_score=value, cv_score_name=recipe.headline, cv_seed=ctx.seed,
                           **{f"cv_{name}_by_C": {str(c): v for c, v in by_c.items()} for name, by_c in scores.items()})
            if recipe.headline == "accuracy":
                details["cv_accuracy"] = value
        return FitResult(details=details, warnings=warnings, out_of_fold=out_of_fold)

    def refit(self, result: FitResult) -> Strategy:
        again = self.with_options(C=result.details["C"], power=result.details["power"])
        again.cross_validate = False  # C was just chosen; no estimate is reported for the refit
        return again


def fold_into_linear(layer: torch.nn.Linear, weight: np.ndarray, bias: np.ndarray) -> None:
    """Write a fitted regression's logits (``weight @ x + bias``) into ``layer``."""
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(np.asarray(weight)))
        layer.bias.copy_(torch.from_numpy(np.asarray(bias)))
