"""A task says how its data is read and turned into model inputs; everything else is shared by all tasks."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from headstart.data.dataset import DataSplits
from headstart.data.splits import sample_per_class, split_validation
from headstart.errors import HeadstartError
from headstart.models.registry import ModelSpec


class Task(ABC):
    """The task-specific part of a pipeline: readers, input encoding, default model."""

    name: str
    default_model: str
    augments: bool = False  # whether training inputs are randomly augmented (views differ from the plain input)
    # What ``auto`` trains with few examples per class, and with enough, strongest first (docs/benchmarks.md).
    few_shot_strategy: str = "linear-probe"
    adapting_strategies: tuple[str, ...] = ("fine-tune", "head")
    # What learning curves (``compare``) plot: the score (a key of ``evaluate``'s result and its name), and how the
    # amount of labelled data is counted.
    curve_score: tuple[str, str] = ("accuracy", "test accuracy")
    size_unit: str = "per_class"
    compare_strategies: tuple[str, ...] = ("linear-probe", "fine-tune", "scratch")

    @abstractmethod
    def read(self, source: str | Path, **options: Any) -> DataSplits:
        """Read labelled data from a path (or a named dataset such as ``fashion-mnist``)."""

    @abstractmethod
    def preprocessing(self, spec: ModelSpec, params: dict[str, Any]) -> dict:
        """The model's preprocessing record, with the user's overrides (``params``: the classifier's params)."""

    def save_assets(self, model: Any, preprocessing: dict, run_dir: Path) -> dict:
        """Write what the run needs besides weights (e.g. a tokenizer); return the preprocessing record to save."""
        return preprocessing

    def load_assets(self, spec: ModelSpec, preprocessing: dict, run_dir: Path) -> tuple[ModelSpec, dict]:
        """Undo ``save_assets``: the spec to rebuild the architecture from, and the preprocessing to use."""
        return spec, preprocessing

    def input_warnings(self, items: Sequence[Any], preprocessing: dict) -> list[str]:
        """What the user should know about these inputs under this preprocessing (e.g. truncated texts)."""
        return []

    def profile(self, items: Sequence[Any]) -> dict:
        """A short description of the inputs for reports (image sizes, text lengths)."""
        return {}

    def preview(self, item: Any) -> Any:
        """What a report shows of one input: a small PIL image, or a text snippet."""
        return str(item)[:300]

    def baseline(self, train: Any, test: Any) -> tuple[str, float] | None:
        """A classical, non-transfer baseline's name and accuracy on ``test``, or None."""
        return None

    @abstractmethod
    def inputs_dataset(
        self, items: Sequence[Any], targets: Sequence[int] | None, preprocessing: dict, train: bool
    ) -> Dataset:
        """A torch Dataset of ``(input tensor, target)`` pairs (target -1 when unknown)."""

    @abstractmethod
    def content_key(self, item: Any) -> str:
        """A digest of the item's content (not of its name): the key of its features in the feature cache."""

    @abstractmethod
    def expand_inputs(self, inputs: Sequence[str]) -> list[Any]:
        """Turn what a user typed for ``predict`` (files, folders, globs, texts) into items."""

    def draw_train(self, pool: Any, size: int, seed: int) -> Any:
        """``size`` labelled examples per class of ``pool`` (seeded, nested: a larger draw contains a smaller)."""
        return sample_per_class(pool, size, seed)

    def hold_out(self, pool: Any, share: float, seed: int) -> tuple[Any, Any | None]:
        """(rest, a seeded stratified ``share`` of ``pool``); None when it is too small to give one."""
        rest, held, _ = split_validation(pool, share, seed)
        return rest, held

    def check_model(self, spec: ModelSpec) -> None:
        if spec.task != self.name:
            raise HeadstartError(
                f"model '{spec.name}' is for {spec.task} data, not {self.name}; `headstart models` lists the "
                f"{self.name} models"
            )


def fit_logistic_baseline(x_train: Any, y_train: Sequence, x_test: Any, y_test: Sequence) -> float:
    """Test accuracy of a standardised logistic regression (the classical baseline every task reports)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    model = make_pipeline(StandardScaler(with_mean=not hasattr(x_train, "tocsr")), LogisticRegression(max_iter=2000))
    with threadpool_limits(limits=1, user_api="blas"):  # faster for lbfgs here: see strategies/linear_probe.py
        model.fit(x_train, list(y_train))
    return float((model.predict(x_test) == np.asarray(y_test)).mean())


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    from headstart.tasks import detect, image, text  # noqa: F401 - they register themselves

    if name not in _TASKS:
        raise HeadstartError(f"unknown task '{name}'; use one of {', '.join(sorted(_TASKS))}")
    return _TASKS[name]
