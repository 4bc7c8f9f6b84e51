"""head: frozen backbone, a new head trained with augmentation, on features computed once."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from headstart.models.transfer import HeadConfig, TransferModel
from headstart.options import Range
from headstart.strategies.base import HEAD_STAGE, FitContext, FitResult, Split, Strategy
from headstart.training.engine import EpochRecord, epochs_to_best


class AugmentedFeatures(Dataset):
    """Each access returns the features of one randomly chosen augmented view of the item.

    Because the backbone is frozen, an augmented image always gives the same features; computing a few views
    once and sampling among them costs a few forward passes per image instead of one per epoch. Views are made for
    the first ``views.shape[1]`` items (the labelled ones); the others (pseudo-labelled) have their plain view only.
    """

    def __init__(self, views: np.ndarray, targets: np.ndarray, plain: np.ndarray | None = None) -> None:
        self.views = torch.from_numpy(views)  # (n_views, n_labelled, n_features), the plain view first
        self.plain = torch.from_numpy(plain if plain is not None else views[0])  # (n_items, n_features)
        self.targets = torch.from_numpy(targets)  # class indices, or label sets' 0/1 rows

    def __len__(self) -> int:
        return len(self.plain)

    def __getitem__(self, index: int):
        if index >= self.views.shape[1]:
            return self.plain[index], self.targets[index]
        # The global RNG, which the trainer re-seeds every epoch: an epoch's draws do not depend on earlier ones.
        view = int(torch.randint(len(self.views), ()))
        return self.views[view, index], self.targets[index]


def train_head_on_features(
    model: TransferModel, train: Split, val: Split | None, ctx: FitContext, views: int, epochs: int, lr: float
) -> list[EpochRecord]:
    """Fit ``model.head`` on cached features of ``views`` augmented views plus the plain one (augmented views of the
    labelled items only: a large pseudo-labelled pool would cost ``views`` extra passes over it)."""
    views = views if ctx.task.augments else 0
    plain = ctx.features(model, train, "features (train)")
    labelled = train.labelled_part()
    stacked = [plain[: train.labelled]]
    for view in range(views):
        stacked.append(ctx.features(model, labelled, f"features (view {view + 1}/{views})", view=view))
    train_set = AugmentedFeatures(np.stack(stacked), train.targets, plain)
    val_set = None
    if val is not None and len(val):
        x_val = ctx.features(model, val, "features (val)")
        val_set = TensorDataset(torch.from_numpy(x_val), torch.from_numpy(val.targets))
    trainer = ctx.trainer(model.head, patience=max(5, epochs // 3), features_only=True)
    trainer.run_stage(HEAD_STAGE, train_set, val_set, [{"params": model.head.parameters(), "lr": lr}], epochs)
    trainer.restore_best()
    return trainer.history


class Head(Strategy):
    """Train a new MLP head on the frozen backbone, with augmentation; the backbone never changes."""

    name = "head"
    head = HeadConfig("mlp", dropout=0.2, hidden=512)
    summary = "new MLP head on the frozen backbone, with augmentation"
    frozen_backbone = True
    views = 4
    default_epochs = 30
    default_lr = 1e-3
    options: ClassVar[dict[str, Range]] = {"views": Range(int, 0, 64)}

    def fit(self, model: TransferModel, train: Split, val: Split | None, ctx: FitContext) -> FitResult:
        model.set_trainable(0)
        history = train_head_on_features(
            model, train, val, ctx, self.views, self.epochs or ctx.epochs or self.default_epochs,
            self.lr or ctx.lr or self.default_lr,
        )
        return FitResult(history, {"augmented_views": self.views})

    def refit(self, result: FitResult) -> Strategy:
        return self.with_options(epochs=max(1, epochs_to_best(result.history)))
