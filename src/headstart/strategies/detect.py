"""Strategies for detection: the same three ideas as for classification, on a Darknet detector whose output
layers (the 1x1 convolutions before each yolo layer) were replaced for the new classes."""

from __future__ import annotations

from typing import ClassVar

from headstart.data.detection import BoxData
from headstart.detection.training import DetectionTrainer
from headstart.errors import HeadstartError
from headstart.models.darknet import Darknet
from headstart.strategies.base import FitContext, FitResult, Strategy, budget_epochs


def detection_budget(n_train: int) -> int:
    """Epochs for ``n_train`` images: about 1,500 images seen (a few minutes on a CPU), 10 to 60 passes."""
    return budget_epochs(n_train, low=10, high=60, examples=1_500)


class DetectionStrategy(Strategy):
    """Trains the new output layers at ``lr`` and the pre-trained layers at ``backbone_share`` of it; the first
    ``freeze`` layers (``None``: the strategy's default) stay as pre-trained, BatchNorm statistics included."""

    backbone_share: ClassVar[float] = 0.1
    default_lr: ClassVar[float] = 1e-3
    default_freeze: ClassVar[int | None] = None  # None: nothing frozen; -1: everything but the output layers

    def __init__(self, freeze: int | None = None) -> None:
        self.freeze = self.default_freeze if freeze is None else freeze

    def fit(self, model: Darknet, train: BoxData, val: BoxData | None, ctx: FitContext) -> FitResult:
        heads = {id(p) for conv in model.output_convs() for p in conv.parameters()}
        frozen = len(model.layers) if self.freeze == -1 else (self.freeze or 0)
        if frozen > len(model.layers):
            raise HeadstartError(f"--freeze {frozen} is more than the model's {len(model.layers)} layers")
        for index, layer in enumerate(model.layers):
            for param in layer.parameters():
                param.requires_grad_(id(param) in heads or index >= frozen)
        model.train()
        lr = ctx.lr or self.default_lr
        others = [p for p in model.parameters() if p.requires_grad and id(p) not in heads]
        groups = [{"params": [p for p in model.parameters() if id(p) in heads], "lr": lr}]
        groups += [{"params": others, "lr": lr * self.backbone_share}] if others else []
        epochs = detection_budget(len(train)) if ctx.epochs is None else ctx.epochs
        trainer = DetectionTrainer(model, batch_size=ctx.batch_size, precision=ctx.precision, seed=ctx.seed,
                                   patience=max(5, epochs // 3), num_workers=ctx.num_workers, reporter=ctx.reporter)
        data = [ctx.task.inputs_dataset(d.items, d.targets, ctx.preprocessing, train=d is train) if d else None
                for d in (train, val)]
        trainer.run_stage(self.name, data[0], data[1], groups, epochs, warmup=0.1)
        trainer.restore_best()
        return FitResult(trainer.history, {"frozen_layers": frozen, "epochs": epochs, "lr": lr})


class DetectFineTune(DetectionStrategy):
    name = "fine-tune"
    summary = "new output layers; pre-trained layers fine-tuned at a tenth of the rate (--freeze N keeps the first N)"


class DetectHead(DetectionStrategy):
    name = "head"
    summary = "only the new output layers are trained; every pre-trained layer is frozen"
    default_freeze = -1


class DetectScratch(DetectionStrategy):
    name = "scratch"
    summary = "same detector, random initialisation"
    pretrained = False
    backbone_share = 1.0
    default_lr = 2e-3


DETECTION_STRATEGIES: dict[str, type[DetectionStrategy]] = {
    cls.name: cls for cls in (DetectFineTune, DetectHead, DetectScratch)
}


def get_detection_strategy(name: str, freeze: int | None = None) -> DetectionStrategy:
    key = name.strip().lower().replace("_", "-")
    if key == "auto":
        key = "fine-tune"
    if key not in DETECTION_STRATEGIES:
        raise HeadstartError(f"unknown detection strategy '{name}'; use one of {', '.join(DETECTION_STRATEGIES)}")
    return DETECTION_STRATEGIES[key](freeze)
