"""A task says how its data is read and turned into model inputs; everything else is shared by all tasks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from headstart.data.dataset import DataSplits
from headstart.errors import HeadstartError
from headstart.models.registry import ModelSpec


class Task(ABC):
    """The task-specific part of a pipeline: readers, input encoding, default model."""

    name: str
    default_model: str

    @abstractmethod
    def read(self, source: str | Path, **options: Any) -> DataSplits:
        """Read labelled data from a path (or a named dataset such as ``fashion-mnist``)."""

    @abstractmethod
    def inputs_dataset(
        self, items: Sequence[Any], targets: Sequence[int] | None, preprocessing: dict, train: bool
    ) -> Dataset:
        """A torch Dataset of ``(input tensor, target)`` pairs (target -1 when unknown)."""

    @abstractmethod
    def expand_inputs(self, inputs: Sequence[str]) -> list[Any]:
        """Turn what a user typed for ``predict`` (files, folders, globs, texts) into items."""

    def check_model(self, spec: ModelSpec) -> None:
        if spec.task != self.name:
            raise HeadstartError(
                f"model '{spec.name}' is for {spec.task} data, not {self.name}; `headstart models` lists the "
                f"{self.name} models"
            )


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    from headstart.tasks import image  # noqa: F401 - registers itself

    if name not in _TASKS:
        raise HeadstartError(f"unknown task '{name}'; use one of {', '.join(sorted(_TASKS))}")
    return _TASKS[name]
