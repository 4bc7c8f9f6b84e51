"""Labelled data as every task sees it: items (image paths, in-memory images, texts), labels and stable ids."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class LabeledData:
    """Inputs with their labels. ``ids`` name each item stably (a relative path, or ``train/00042``)."""

    items: list[Any]
    labels: list[str]
    ids: list[str]
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not (len(self.items) == len(self.labels) == len(self.ids)):
            raise ValueError("items, labels and ids must have the same length")

    def __len__(self) -> int:
        return len(self.items)

    @property
    def classes(self) -> list[str]:
        return sorted(set(self.labels))

    def class_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))

    def subset(self, indices: Sequence[int]) -> LabeledData:
        return LabeledData(
            items=[self.items[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            ids=[self.ids[i] for i in indices],
            source=self.source,
        )

    def join(self, other: LabeledData) -> LabeledData:
        """This data followed by ``other`` (e.g. a training and a validation split as one pool)."""
        return LabeledData(self.items + other.items, self.labels + other.labels, self.ids + other.ids, self.source)


@dataclass
class DataSplits:
    """Train, validation and test parts of one dataset, with a record of how they were made."""

    train: LabeledData
    val: LabeledData | None = None
    test: LabeledData | None = None
    record: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def classes(self) -> list[str]:
        return self.train.classes

    def counts(self) -> dict[str, dict[str, int]]:
        """Examples per class in each split that is there."""
        parts = (("train", self.train), ("val", self.val), ("test", self.test))
        return {name: part.class_counts() for name, part in parts if part is not None}

    def evaluation_split(self) -> tuple[str, LabeledData | None]:
        """The split final scores are reported on: test when there is one, else validation."""
        if self.test is not None and len(self.test):
            return "test", self.test
        return "val", self.val
