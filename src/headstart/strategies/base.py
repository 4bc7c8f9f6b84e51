"""The strategy interface: how a pre-trained model is adapted to the user's labelled data."""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
from torch import nn
from torch.utils.data import Dataset

from headstart.features.cache import FeatureCache, cached_features
from headstart.models.transfer import HeadConfig, TransferModel
from headstart.progress import Reporter
from headstart.tasks.base import Task
from headstart.training.checkpoint import Checkpoint
from headstart.training.engine import EpochRecord, Trainer


@dataclass
class Split:
    """Items with integer targets (indices into the classifier's classes)."""

    items: Sequence[Any]
    targets: np.ndarray
    keys: list[str] | None = None  # content digests of the items, filled when features are first looked up

    def __len__(self) -> int:
        return len(self.items)


@dataclass
class FitContext:
    """What every strategy needs besides the model and the data: task, preprocessing and training knobs."""

    task: Task
    preprocessing: dict
    num_classes: int
    seed: int = 0
    batch_size: int = 32
    precision: str = "auto"
    epochs: int | None = None
    lr: float | None = None
    num_workers: int = 0
    reporter: Reporter = field(default_factory=Reporter)
    cache: FeatureCache | None = None
    class_weight: np.ndarray | None = None  # per class, for the loss; None: every example counts the same
    checkpoint: Checkpoint | None = None  # where trainers save their state every epoch (and resume from)

    def trainer(self, model: nn.Module, patience: int = 3, features_only: bool = False) -> Trainer:
        """A training loop with this context's knobs (on cached features: no autocast, no loader workers)."""
        return Trainer(
            model, batch_size=self.batch_size, precision="fp32" if features_only else self.precision, seed=self.seed,
            patience=patience, num_workers=0 if features_only else self.num_workers,
            class_weight=self.class_weight, reporter=self.reporter, checkpoint=self.checkpoint,
        )

    def dataset(self, split: Split, train: bool) -> Dataset:
        return self.task.inputs_dataset(split.items, split.targets.tolist(), self.preprocessing, train)

    def features(self, model: TransferModel, split: Split, description: str, view: int | None = None) -> np.ndarray:
        """Backbone features of ``split``: the plain inputs, or with ``view=k`` the k-th augmented view (seeded by
        item, so that it is the same whatever else is extracted with it); cached items are not extracted again."""
        if split.keys is None:
            split.keys = [self.task.content_key(item) for item in split.items]
        return cached_features(
            model.backbone,
            self.dataset(split, train=view is not None),
            split.keys,
            self.cache,
            self.preprocessing,
            view=view,
            seed=self.seed,
            batch_size=max(self.batch_size, 64),
            precision=self.precision,
            num_workers=self.num_workers,
            reporter=self.reporter,
            description=description,
        )


def budget_epochs(n_train: int, low: int = 5, high: int = 20, examples: int = 16_000) -> int:
    """Full-network epochs for ``n_train`` training examples: about ``examples`` examples seen in all, so small
    sets get more passes (up to ``high``) and large ones at least ``low``."""
    return int(min(high, max(low, math.ceil(examples / max(n_train, 1)))))


@dataclass
class FitResult:
    history: list[EpochRecord] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)


class Strategy(ABC):
    """Adapts a ``TransferModel`` in place. Subclasses set ``name``, their head and whether weights are pre-trained."""

    name: ClassVar[str]
    head: ClassVar[HeadConfig] = HeadConfig("linear", dropout=0.2)
    pretrained: ClassVar[bool] = True
    summary: ClassVar[str] = ""
    uses_validation: ClassVar[bool] = True  # early stopping and model selection on the validation split
    frozen_backbone: ClassVar[bool] = False  # the backbone keeps its pre-trained weights (its features can be cached)

    @abstractmethod
    def fit(self, model: TransferModel, train: Split, val: Split | None, ctx: FitContext) -> FitResult:
        """Train ``model`` on ``train`` (selecting on ``val`` when given); return its history and choices."""
