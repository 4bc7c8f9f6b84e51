"""lora: low-rank adapters (PEFT) in the attention layers of a transformer; the pre-trained weights stay frozen."""

from __future__ import annotations

from typing import ClassVar

from headstart.errors import HeadstartError
from headstart.models.transfer import HeadConfig, TransferModel
from headstart.options import Range
from headstart.strategies.base import FitContext, FitResult, Split, Strategy
from headstart.strategies.head import train_head_on_features


class Lora(Strategy):
    """A trained head first, then rank-``r`` adapters on the attention projections trained with the head.

    The adapter is kept (``model.lora_adapter``: PEFT's config and weights, saved in the run's ``adapter/``
    folder) and also merged into the encoder, so the saved model is a plain one that exports like any other.
    """

    name = "lora"
    head = HeadConfig("linear", dropout=0.1)
    summary = "low-rank adapters in the attention layers (PEFT), merged after training"
    rank = 8
    alpha = 16
    dropout = 0.1
    warmup_epochs = 10
    default_epochs = 4
    default_lr = 1e-3
    options: ClassVar[dict[str, Range]] = {"rank": Range(int, 1, 1024), "alpha": Range(float, 0.0, 1e4, low_open=True),
               "dropout": Range(float, 0.0, 0.9), "warmup_epochs": Range(int, 0, 1000)}

    def fit(self, model: TransferModel, train: Split, val: Split | None, ctx: FitContext) -> FitResult:
        from peft import LoraConfig, get_peft_model, get_peft_model_state_dict

        encoder = getattr(model.backbone, "model", None)
        if encoder is None or not hasattr(encoder, "config"):
            raise HeadstartError("the lora strategy needs a transformer model (text); use fine-tune for this model")
        model.set_trainable(0)
        history = train_head_on_features(model, train, val, ctx, views=0, epochs=self.warmup_epochs, lr=1e-3)
        config = LoraConfig(r=self.rank, lora_alpha=self.alpha, lora_dropout=self.dropout, bias="none")
        peft_model = get_peft_model(encoder, config)  # freezes everything but the adapters
        model.backbone.model = peft_model
        trainer = ctx.trainer(model)
        params = [p for p in model.parameters() if p.requires_grad]
        trainer.run_stage(
            "lora", ctx.dataset(train, train=True), ctx.dataset(val, train=False) if val else None,
            [{"params": params, "lr": self.lr or ctx.lr or self.default_lr}], self.epochs or ctx.epochs or self.default_epochs,
        )
        trainer.restore_best()
        adapter_config = peft_model.peft_config["default"].to_dict()
        adapter_weights = {k: v.detach().clone() for k, v in get_peft_model_state_dict(peft_model).items()}
        model.backbone.model = peft_model.merge_and_unload()
        model.lora_adapter = (adapter_config, adapter_weights)
        trained = sum(p.numel() for p in adapter_weights.values())
        return FitResult(history + trainer.history, {"rank": self.rank, "alpha": self.alpha, "adapter_parameters": trained})

    def refit(self, result: FitResult) -> Strategy:
        return self.refit_epochs(result)
