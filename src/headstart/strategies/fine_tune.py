"""fine-tune: head warm-up, then gradual unfreezing of the top blocks with discriminative learning rates."""

from __future__ import annotations

import math
from typing import ClassVar

from headstart.models.transfer import HeadConfig, TransferModel
from headstart.options import Range
from headstart.strategies.base import FitContext, FitResult, Split, Strategy, budget_epochs
from headstart.strategies.head import train_head_on_features
from headstart.training.engine import Consistency, layerwise_param_groups


class FineTune(Strategy):
    """The ULMFiT / fastai recipe: a trained head first, so that random gradients never reach the backbone; then
    the top groups, then everything, each group learning ``layer_decay`` times slower than the one above it.

    Frozen BatchNorm layers stay in eval mode, so their statistics keep their pre-trained values.
    """

    name = "fine-tune"
    head = HeadConfig("linear", dropout=0.2)
    summary = "head warm-up, then gradual unfreezing with layer-wise learning rates"
    warmup_epochs = 10
    default_lr = 5e-4
    layer_decay = 0.85
    partial_groups = 2
    partial_share = 0.3
    unlabeled_weight = 1.0
    threshold = 0.95
    pool_options = ("unlabeled_weight", "threshold")
    options: ClassVar[dict[str, Range]] = {
        "warmup_epochs": Range(int, 0, 1000), "layer_decay": Range(float, 0.0, 1.0, low_open=True),
        "partial_groups": Range(int, 1, 100), "partial_share": Range(float, 0.0, 1.0),
        "unlabeled_weight": Range(float, 0.0, 100.0), "threshold": Range(float, 0.0, 1.0, low_open=True)}

    def fit(self, model: TransferModel, train: Split, val: Split | None, ctx: FitContext) -> FitResult:
        model.set_trainable(0)
        history = train_head_on_features(model, train, val, ctx, views=1, epochs=self.warmup_epochs, lr=1e-3)
        epochs = self.epochs or ctx.epochs or budget_epochs(len(train))
        lr = self.lr or ctx.lr or self.default_lr
        partial_epochs = max(1, math.floor(epochs * self.partial_share)) if epochs > 1 else 0
        stages = [(f"top-{self.partial_groups}", self.partial_groups, partial_epochs), ("all", None, epochs - partial_epochs)]
        trainer = ctx.trainer(model, patience=max(3, epochs // 4))
        train_set, val_set = ctx.dataset(train, train=True), (ctx.dataset(val, train=False) if val else None)
        groups = model.backbone_groups()
        consistency, details = self.consistency(ctx)
        for stage, top, stage_epochs in stages:
            if stage_epochs <= 0:
                continue
            model.set_trainable(top)
            param_groups = layerwise_param_groups(model, groups, lr, self.layer_decay, top)
            trainer.run_stage(stage, train_set, val_set, param_groups, stage_epochs, consistency=consistency)
        trainer.restore_best()
        if consistency is not None:
            used = [r.unlabelled_used for r in trainer.history if r.unlabelled_used is not None]
            details["consistency"]["mean_share_used"] = round(float(sum(used) / len(used)), 4) if used else None
        return FitResult(history + trainer.history, {"stages": [s[:3] for s in stages], "layer_decay": self.layer_decay,
                                                     **details})

    def consistency(self, ctx: FitContext) -> tuple[Consistency | None, dict]:
        """FixMatch on the unlabelled pool's inputs where the task has weak and strong views of them (images), and the
        record of it; else (text: no strong augmentation that keeps a sentence's meaning is cheap enough here) the
        pool teaches through the pseudo-labels alone."""
        if not ctx.unlabeled or self.unlabeled_weight == 0:
            return None, {}
        views = ctx.task.consistency_views(ctx.unlabeled, ctx.preprocessing)
        if views is None:
            return None, {"consistency": {"used": False, "why": f"{ctx.task.name} inputs have no strong augmentation"}}
        ctx.reporter.say(f"  consistency training (FixMatch) on {len(views)} unlabelled inputs: threshold "
                         f"{self.threshold}, weight {self.unlabeled_weight}")
        record = {"used": True, "inputs": len(views), "threshold": self.threshold, "weight": self.unlabeled_weight}
        return Consistency(views, self.threshold, self.unlabeled_weight), {"consistency": record}

    def refit(self, result: FitResult) -> Strategy:
        return self.refit_epochs(result)
