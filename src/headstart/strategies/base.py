"""The strategy interface: how a pre-trained model is adapted to the user's labelled data."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from torch import nn
from torch.utils.data import Dataset

from headstart.compute.speed import Throughput
from headstart.errors import HeadstartError
from headstart.features.cache import FeatureCache, cached_features
from headstart.models.transfer import HeadConfig, TransferModel
from headstart.options import Range, check_range
from headstart.progress import Reporter
from headstart.training.checkpoint import Checkpoint
from headstart.training.engine import EpochRecord, Trainer, epochs_to_best

if TYPE_CHECKING:
    from headstart.tasks.base import Task

HEAD_STAGE = "head"  # the stage name of a head trained on cached features (warm-ups included)


@dataclass
class Split:
    """Items with their targets: class indices (classification), an items x labels 0/1 matrix (multi-label), or a
    task's own (boxes for detection)."""

    items: Sequence[Any]
    targets: Any
    keys: list[str] | None = None  # content digests of the items, filled when features are first looked up
    pseudo: int = 0  # the last ``pseudo`` items carry pseudo-labels (an unlabelled pool's, issue 30), not labels

    def __len__(self) -> int:
        return len(self.items)

    @property
    def labelled(self) -> int:
        """How many items (the first ones) carry real labels."""
        return len(self.items) - self.pseudo

    def labelled_part(self) -> Split:
        """The items with real labels (all of them when none is pseudo-labelled)."""
        if not self.pseudo:
            return self
        end = self.labelled
        return Split(self.items[:end], self.targets[:end], None if self.keys is None else self.keys[:end])


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
    throughput: Throughput | None = None  # forward-only passes (feature extraction) are added here
    task_params: dict[str, Any] = field(default_factory=dict)  # a task's own knobs (detection: freeze)
    unlabeled: Sequence[Any] | None = None  # an unlabelled pool's usable inputs, for consistency training (issue 30)

    def trainer(self, model: nn.Module, patience: int = 3, features_only: bool = False,
                trainer_class: type[Trainer] | None = None) -> Trainer:
        """A training loop with this context's knobs (on cached features: no autocast, no loader workers), with the
        task's loss and validation score (``Task.trainer_class``) unless ``trainer_class`` is given."""
        trainer_class = trainer_class or self.task.trainer_class
        return trainer_class(
            model, batch_size=self.batch_size, precision="fp32" if features_only else self.precision, seed=self.seed,
            patience=patience, num_workers=0 if features_only else self.num_workers,
            class_weight=self.class_weight, reporter=self.reporter, checkpoint=self.checkpoint,
        )

    def dataset(self, split: Split, train: bool) -> Dataset:
        targets = split.targets
        if isinstance(targets, np.ndarray):  # class indices as ints; a label set's 0/1 row as a float32 array
            targets = targets.tolist() if targets.ndim == 1 else list(targets)
        return self.task.inputs_dataset(split.items, targets, self.preprocessing, train)

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
            throughput=self.throughput,
        )


def budget_epochs(n_train: int, low: int = 5, high: int = 20, examples: int = 16_000) -> int:
    """Full-network epochs for ``n_train`` training examples: about ``examples`` examples seen in all, so small
    sets get more passes (up to ``high``) and large ones at least ``low``."""
    return int(min(high, max(low, math.ceil(examples / max(n_train, 1)))))


@dataclass
class FitResult:
    history: list[EpochRecord] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)  # what the user should know (shown with the run's warnings)
    out_of_fold: np.ndarray | None = None  # each training example's class predicted by the cross-validation


class Strategy(ABC):
    """Adapts a model in place. Subclasses set ``name``, their head and whether weights are pre-trained.

    A strategy is a name (``"fine-tune"``) or an object with its options (``FineTune(layer_decay=0.9, epochs=10)``,
    Keras-style progressive disclosure): ``options`` lists each tunable attribute with its valid range, and
    ``spec()`` writes it as the CLI reads it (``fine-tune(layer_decay=0.9,epochs=10)``), which config.json keeps.
    ``epochs`` and ``lr`` given here win over the estimator's.
    """

    name: ClassVar[str]
    head: ClassVar[HeadConfig] = HeadConfig("linear", dropout=0.2)
    pretrained: ClassVar[bool] = True
    summary: ClassVar[str] = ""
    uses_validation: ClassVar[bool] = True  # early stopping and model selection on the validation split
    frozen_backbone: ClassVar[bool] = False  # the backbone keeps its pre-trained weights (its features can be cached)
    trains_epochs: ClassVar[bool] = True  # whether ``epochs``/``lr`` mean anything to it (not for a linear probe)
    options: ClassVar[dict[str, Range]] = {}
    pool_options: ClassVar[tuple[str, ...]] = ()  # options that only mean something with an unlabelled pool
    epochs: int | None = None
    lr: float | None = None

    def __init__(self, **options: Any) -> None:
        allowed = self.all_options()
        for key, value in options.items():
            if key not in allowed:
                known = ", ".join(allowed) or "none"
                raise HeadstartError(f"{self.name} has no option '{key}'; its options: {known}")
            setattr(self, key, check_range(f"{self.name} {key}", value, allowed[key]))

    @classmethod
    def all_options(cls) -> dict[str, Range]:
        shared = {"epochs": Range(int, 1, 10_000), "lr": Range(float, 0.0, 10.0, low_open=True)}
        return {**(shared if cls.trains_epochs else {}), **cls.options}

    def get_params(self) -> dict[str, Any]:
        """The options set away from their defaults."""
        return {k: getattr(self, k) for k in self.all_options() if getattr(self, k) != getattr(type(self), k)}

    def spec(self) -> str:
        """``name`` or ``name(key=value,...)``: what ``--strategy`` and config.json hold."""
        params = self.get_params()
        return self.name + (f"({','.join(f'{k}={v}' for k, v in params.items())})" if params else "")

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({params})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.get_params() == self.get_params()

    def __hash__(self) -> int:
        return hash(self.spec())

    @abstractmethod
    def fit(self, model: TransferModel, train: Split, val: Split | None, ctx: FitContext) -> FitResult:
        """Train ``model`` on ``train`` (selecting on ``val`` when given); return its history and choices."""

    def check_without_pool(self) -> None:
        """Refuse options set for an unlabelled pool when there is none (they would be silently ignored); 0 turns the
        pool's use off, which is what happens anyway."""
        params = self.get_params()
        given = [key for key in self.pool_options if key in params and params[key] != 0]
        if given:
            verb, them = ("applies", "it") if len(given) == 1 else ("apply", "them")
            raise HeadstartError(f"{self.name}'s {' and '.join(given)} {verb} only with an unlabelled pool; give "
                                 f"--unlabeled POOL or leave {them} out")

    def with_options(self, **options: Any) -> Strategy:
        """A copy of this strategy with ``options`` set on top of its own."""
        return type(self)(**{**self.get_params(), **options})

    def refit(self, result: FitResult) -> Strategy | None:
        """This strategy with the choices a fit made on the validation split fixed (the number of epochs it
        kept, ...), to train again on every labelled example; None when it cannot."""
        return None

    def refit_epochs(self, result: FitResult) -> Strategy:
        """The usual refit of a trained strategy: as many epochs as led to the best validation epoch (a head
        warm-up, when there is one, counted apart as ``warmup_epochs``)."""
        warmup = [r for r in result.history if r.stage == HEAD_STAGE]
        main = [r for r in result.history if r.stage != HEAD_STAGE]
        options: dict[str, int] = {"epochs": max(1, epochs_to_best(main))} if main else {}
        if warmup and "warmup_epochs" in self.all_options():
            options["warmup_epochs"] = epochs_to_best(warmup)
        return self.with_options(**options)


SPEC = re.compile(r"^\s*([a-z_-]+)\s*(?:\((.*)\))?\s*$", re.IGNORECASE)


def parse_spec(text: str) -> tuple[str, dict[str, str]]:
    """``"fine-tune(layer_decay=0.9, epochs=10)"`` -> ("fine-tune", {"layer_decay": "0.9", "epochs": "10"})."""
    match = SPEC.match(text)
    if not match:
        raise HeadstartError(f"cannot read the strategy '{text}'; write NAME or NAME(option=value,...), "
                             "e.g. fine-tune(layer_decay=0.9)")
    name, inside = match.group(1).lower().replace("_", "-"), (match.group(2) or "").strip()
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in inside.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise HeadstartError(f"cannot read '{part}' in the strategy '{text}'; write option=value")
        options[key.strip()] = value.strip()
    return name, options
