"""scratch: the same architecture from random initialisation, the baseline that shows what transfer buys."""

from __future__ import annotations

from headstart.models.transfer import HeadConfig, TransferModel
from headstart.strategies.base import FitContext, FitResult, Split, Strategy, budget_epochs


class Scratch(Strategy):
    """Every layer trained from random weights, with the epoch budget ``fine-tune`` gets (see ``budget_epochs``)."""

    name = "scratch"
    head = HeadConfig("linear", dropout=0.2)
    pretrained = False
    summary = "same architecture, random initialisation"
    default_lr = 2e-3

    def fit(self, model: TransferModel, train: Split, val: Split | None, ctx: FitContext) -> FitResult:
        model.set_trainable(None)
        epochs = self.epochs or ctx.epochs or budget_epochs(len(train))
        trainer = ctx.trainer(model, patience=max(3, epochs // 4))
        val_set = ctx.dataset(val, train=False) if val else None
        params = [{"params": list(model.parameters()), "lr": self.lr or ctx.lr or self.default_lr}]
        trainer.run_stage("scratch", ctx.dataset(train, train=True), val_set, params, epochs)
        trainer.restore_best()
        return FitResult(trainer.history, {})

    def refit(self, result: FitResult) -> Strategy:
        return self.refit_epochs(result)
