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
        return type(self)(
            items=[self.items[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            ids=[self.ids[i] for i in indices],
            source=self.source,
        )

    def join(self, other: LabeledData) -> LabeledData:
        """This data followed by ``other`` (e.g. a training and a validation split as one pool)."""
        return type(self)(self.items + other.items, self.labels + other.labels, self.ids + other.ids, self.source)


@dataclass
class Unlabeled:
    """Inputs without labels: a pool for semi-supervised training or for choosing what to label next. ``skipped``
    says which inputs of the source were left out and why; ``labels`` holds true labels that must never be trained
    on, kept only to measure pseudo-labels against (benchmarks: a labelled set passed as a pool)."""

    items: list[Any]
    source: str = ""
    skipped: list[str] = field(default_factory=list)
    ids: list[str] | None = None  # how each input is named (None: its path or text, else its position)
    labels: list[str] | None = None

    def __post_init__(self) -> None:
        if self.ids is None:
            self.ids = [item if isinstance(item, str) else f"unlabelled/{i}" for i, item in enumerate(self.items)]

    def __len__(self) -> int:
        return len(self.items)

    def subset(self, indices: Sequence[int]) -> Unlabeled:
        labels = None if self.labels is None else [self.labels[i] for i in indices]
        return Unlabeled([self.items[i] for i in indices], self.source, list(self.skipped),
                         [self.ids[i] for i in indices], labels)


NO_LABEL = "(no label)"  # how an empty label set is counted in data summaries


@dataclass
class LabelSets(LabeledData):
    """Inputs with a set of labels each (multi-label data): ``labels`` holds sorted tuples, possibly empty (an
    input showing none of the labels, such as an X-ray with no finding)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        # A plain string is one label (not the set of its characters).
        self.labels = [tuple(sorted({labels} if isinstance(labels, str) else set(map(str, labels))))
                       for labels in self.labels]

    @property
    def classes(self) -> list[str]:
        return sorted({label for labels in self.labels for label in labels})

    def class_counts(self) -> dict[str, int]:
        """Inputs carrying each label, and under ``NO_LABEL`` those with none."""
        counts = Counter(label for labels in self.labels for label in labels)
        empty = sum(not labels for labels in self.labels)
        return {**dict(sorted(counts.items())), **({NO_LABEL: empty} if empty else {})}

    def indicator(self, classes: Sequence[str]) -> Any:
        """The inputs x ``classes`` 0/1 matrix (float32), columns in the order of ``classes``."""
        import numpy as np

        index = {c: j for j, c in enumerate(classes)}
        matrix = np.zeros((len(self.labels), len(classes)), np.float32)
        for i, labels in enumerate(self.labels):
            matrix[i, [index[label] for label in labels]] = 1.0
        return matrix


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

    def parts(self) -> list[LabeledData]:
        """Train, validation and test, those that are there."""
        return [part for part in (self.train, self.val, self.test) if part is not None]

    def joined(self) -> LabeledData:
        """Every example of every split, in one: train, then validation, then test."""
        joined = self.train
        for part in self.parts()[1:]:
            joined = joined.join(part)
        return joined

    def evaluation_split(self) -> tuple[str, LabeledData | None]:
        """The split final scores are reported on: test when there is one, else validation."""
        if self.test is not None and len(self.test):
            return "test", self.test
        return "val", self.val
