"""fine-tune: head warm-up, then gradual unfreezing of the top blocks with discriminative learning rates."""

from __future__ import annotations

import math
from typing import ClassVar

from headstart.models.transfer import HeadConfig, TransferModel
from headstart.options import Range
from headstart.strategies.base import FitContext, FitResult, Split, Strategy, budget_epochs
from headstart.strategies.head import train_head_on_features
from headstart.training.engine import layerwise_param_groups


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
    options: ClassVar[dict[str, Range]] = {"warmup_epochs": Range(int, 0, 1000), "layer_decay": Range(float, 0.0, 1.0, low_open=True),
               "partial_groups": Range(int, 1, 100), "partial_share": Range(float, 0.0, 1.0)}

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
        for stage, top, stage_epochs in stages:
            if stage_epochs <= 0:
                continue
            model.set_trainable(top)
            param_groups = layerwise_param_groups(model, groups, lr, self.layer_decay, top)
            trainer.run_stage(stage, train_set, val_set, param_groups, stage_epochs)
        trainer.restore_best()
        return FitResult(history + trainer.history, {"stages": [s[:3] for s in stages], "layer_decay": self.layer_decay})

    def refit(self, result: FitResult) -> Strategy:
        return self.refit_epochs(result)
