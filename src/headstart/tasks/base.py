"""A task says what differs per task: how its data is read and encoded, the model it builds, how a strategy adapts
it, how it is scored and shown, and its export graph. Everything else (estimators, runs, reports, export, compare)
is shared, and asks the task through these methods: no code outside ``tasks/`` branches on a task's name.

Adding a task: a module here with a ``Task`` subclass registered by ``register_task``, its estimator in
``headstart/estimators/`` registered by ``register_estimator``, and its name in ``get_task``'s import list.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from torch import nn
from torch.utils.data import Dataset

from headstart.data.dataset import DataSplits, Unlabeled
from headstart.data.splits import sample_per_class, split_validation
from headstart.errors import HeadstartError
from headstart.features.probe_recipe import SINGLE_LABEL
from headstart.models.registry import ModelSpec
from headstart.progress import Reporter
from headstart.training.engine import Trainer

if TYPE_CHECKING:
    from headstart.strategies.base import FitContext, FitResult, Split, Strategy


@dataclass
class ExportGraph:
    """What a task exports: the module, example inputs, their names and dynamic axes, and how to read them."""

    module: nn.Module
    example: tuple
    inputs: dict[str, str]  # name -> description
    outputs: dict[str, str]
    dynamic_axes: dict[str, dict[int, str]]
    description: dict[str, Any]  # preprocessing done inside the graph, input sizes, ...


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
    # The strategies that apply to this task (``auto`` is always accepted).
    strategies: tuple[str, ...] = ("linear-probe", "head", "fine-tune", "contrastive", "lora", "scratch")
    # The options of ``read`` a user may give (e.g. per_class); any other is refused for this task.
    read_options: tuple[str, ...] = ("per_class", "test_per_class")
    named_data: tuple[str, ...] = ()  # dataset names this task reads (``sample``, ``detect-sample``)
    report_layout: str = "classification"  # which page reports/html draws for its runs
    quantization: str | None = None  # how ``export --quantize int8`` quantises: static, dynamic, or None
    title: str = ""  # how people call it, for messages
    gives_features: bool = True  # whether its models give pooled features: rank, embed and similar apply
    trainer_class: type[Trainer] = Trainer  # the training loop's loss and validation score for this task's targets
    probe_recipe: Any = SINGLE_LABEL  # how the linear probe fits this task's targets (features/probe_recipe.py)
    multi_label: bool = False  # whether each input has a set of labels (the task a --multi-label run uses)
    baseline_standardised: bool = True  # whether the baseline's features are standardised before its regression
    # Why an unlabelled pool cannot add pseudo-labelled examples to this task's training (issue 30); None: it can.
    unlabeled_refusal: str | None = "its pseudo-labels are not written yet"

    @property
    def model_task(self) -> str:
        """The task its models are registered for (a multi-label task uses its single-label sibling's)."""
        return self.name

    @abstractmethod
    def read(self, source: str | Path, **options: Any) -> DataSplits:
        """Read labelled data from a path (or a named dataset such as ``fashion-mnist``)."""

    @abstractmethod
    def preprocessing(self, spec: ModelSpec, params: dict[str, Any], items: Sequence[Any] | None = None) -> dict:
        """The model's preprocessing record, with the user's overrides (``params``: the estimator's knobs) and,
        given the training ``items``, what suits them (a ``note`` in the record says what was changed and why)."""

    def save_assets(self, model: Any, preprocessing: dict, run_dir: Path) -> dict:
        """Write what the run needs besides weights (e.g. a tokenizer); return the preprocessing record to save."""
        return preprocessing

    def load_assets(self, spec: ModelSpec, preprocessing: dict, run_dir: Path) -> tuple[ModelSpec, dict]:
        """Undo ``save_assets``: the spec to rebuild the architecture from, and the preprocessing to use."""
        return spec, preprocessing

    def input_warnings(self, record: dict | None) -> list[str]:
        """What the user should be warned of in ``inputs_record``'s record (e.g. truncated texts)."""
        return []

    def source_agreement(self, reference: nn.Module, trained: nn.Module, items: Sequence[Any],
                         preprocessing: dict) -> dict | None:
        """How much of its pre-training task ``trained`` still does as ``reference`` (the pre-trained network) did,
        on ``items``, where the task has a source head of its own that the shared measurement does not find (a
        detector's output layers): ``{"name", "unit", "agreement", ...}``; None where it has none."""
        return None

    def inputs_record(self, items: Sequence[Any], preprocessing: dict) -> dict | None:
        """What was done to the training inputs that the user should see counted (e.g. long texts read in windows),
        for the summary; None when nothing was."""
        return None

    def inputs_sentence(self, record: dict) -> str:
        """``inputs_record``'s record in one sentence."""
        return ""

    def profile(self, items: Sequence[Any]) -> dict:
        """A short description of the inputs for reports (image sizes, text lengths)."""
        return {}

    def preview(self, item: Any) -> Any:
        """What a report shows of one input: a small PIL image, or a text snippet."""
        return str(item)[:300]

    def baseline(self, train: Any, test: Any) -> tuple[str, float] | None:
        """A classical, non-transfer baseline's name and accuracy on ``test``, or None."""
        return None

    def plain_probe(self, spec: ModelSpec, train: Any, test: Any, cache: Any) -> dict | None:
        """The naive transfer recipe's score on ``test`` (see ClassificationTask), or None where it has none."""
        return None

    def plain_probe_knobs(self, spec: ModelSpec) -> dict[str, Any] | None:
        """The estimator knobs that give the plain probe's preprocessing (the model's own), or None where the task
        has no plain probe (auto's guard rail then does not apply)."""
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

    def check_unlabeled(self, what: str = "--unlabeled") -> None:
        """Refuse an unlabelled pool where this task cannot use one (``what``: the option or command), saying why."""
        if self.unlabeled_refusal is not None:
            raise HeadstartError(f"{what} does not apply to {self.title or self.name}: {self.unlabeled_refusal}; "
                                 "leave it out")

    def read_unlabeled(self, source: str | Path, text_column: str | None = None,
                       reporter: Reporter | None = None) -> Unlabeled:
        """The inputs of an unlabelled pool (the same kinds of source as ``expand_inputs``, and tables); a long read
        shows its progress through ``reporter``."""
        self.check_unlabeled()
        raise NotImplementedError

    def consistency_views(self, items: Sequence[Any], preprocessing: dict) -> Dataset | None:
        """Unlabelled ``items`` as (weak view, strong view) pairs for consistency training (FixMatch); None where the
        task has no strong augmentation: its strategies then learn from the pool through pseudo-labels alone."""
        return None

    input_column: str = "path"  # the column naming each input in the tables headstart writes and reads

    def table_cell(self, item: Any, name: str) -> str:
        """How ``item`` (called ``name`` in its data) is written in such a table, so that reading it back finds it."""
        return name

    def draw_train(self, pool: Any, size: int, seed: int) -> Any:
        """``size`` labelled examples per class of ``pool`` (seeded, nested: a larger draw contains a smaller)."""
        return sample_per_class(pool, size, seed)

    def hold_out(self, pool: Any, share: float, seed: int) -> tuple[Any, Any | None]:
        """(rest, a seeded stratified ``share`` of ``pool``); None when it is too small to give one."""
        rest, held, _ = split_validation(pool, share, seed)
        return rest, held

    # -- fitting ----------------------------------------------------------------------------------------------
    def auto_plan(self, train: Any) -> tuple[str, str] | None:
        """``auto``'s strategy and why, for tasks that do not rank and probe (None: the shared plan applies)."""
        return None

    def check_strategy(self, name: str) -> None:
        if name not in self.strategies:
            raise HeadstartError(f"the {name} strategy does not apply to {self.title or self.name}; use one of "
                                 f"{', '.join(self.strategies)} or auto")

    def check_read_options(self, options: dict[str, Any]) -> None:
        """Refuse data options this task does not read (one line naming the option), rather than ignore them."""
        for key, value in options.items():
            if value is not None and key not in self.read_options:
                flag = "--" + key.replace("_", "-")
                raise HeadstartError(f"{flag} does not apply to {self.title or self.name}; leave it out")

    @abstractmethod
    def check_trainable(self, train: Any) -> None:
        """Refuse training data nothing can be learned from, saying what to add."""

    @abstractmethod
    def with_validation(self, splits: DataSplits, val_size: float, seed: int, needed: bool) -> DataSplits:
        """``splits`` with a validation split drawn from train when one is ``needed`` and none is given."""

    @abstractmethod
    def classes(self, splits: DataSplits) -> list[str]:
        """The output classes, in the order of the model's outputs."""

    def check_labels(self, data: Any, classes: Sequence[str], what: str) -> None:
        """Refuse ``data`` whose labels the model does not know."""

    @abstractmethod
    def encode(self, data: Any, classes: Sequence[str]) -> Split | None:
        """Items with their targets as the model's loss reads them (None for no data)."""

    @abstractmethod
    def build_model(self, spec: ModelSpec, strategy: Strategy | None, num_classes: int, pretrained: bool,
                    head: dict | None = None, preprocessing: dict | None = None) -> nn.Module:
        """The network to adapt: the backbone with a new head for ``num_classes`` (``head``: a saved head's record;
        ``preprocessing``: the run's, which a model fitted on the run's data is built from)."""

    def fit(self, strategy: Strategy, model: nn.Module, train: Split, val: Split | None, ctx: FitContext) -> FitResult:
        """Adapt ``model`` with ``strategy`` (a task with its own recipe, e.g. detection, overrides this)."""
        return strategy.fit(model, train, val, ctx)

    def leakage_model(self, spec: ModelSpec) -> tuple[str, str]:
        """(model, task) whose pre-trained embeddings judge near-duplicate test items (the task's default model's for a
        model fitted on the run's data, which has none)."""
        from headstart.models.layers import uncut

        return (self.default_model if spec.fitted else uncut(spec.name)), self.model_task

    # -- showing and exporting ---------------------------------------------------------------------------------
    @abstractmethod
    def score_line(self, scores: dict) -> str:
        """The scores in one line (rich markup), as ``headstart train`` prints them."""

    @abstractmethod
    def prediction_table(self, rows: list[dict]) -> tuple[list[str], list[list[str]]]:
        """(header, rows of text) for ``predict --format table``, from the rows ``predict`` gives."""

    @abstractmethod
    def prediction_csv(self, rows: list[dict]) -> tuple[list[str], list[list[Any]]]:
        """(header, rows) for ``predict --format csv``."""

    @abstractmethod
    def evaluation_tables(self, metrics: dict) -> tuple[str, list[tuple[str, list[str], list[list[str]]]]]:
        """``evaluate``'s scores as a headline (rich markup) and (title, header, rows) tables."""

    @abstractmethod
    def export_graph(self, model: nn.Module, preprocessing: dict) -> ExportGraph:
        """The module a deployment runs (preprocessing inside where it can be), with example inputs."""

    def export_assets(self, preprocessing: dict, path: Path) -> dict:
        """Write what the exported file ``path`` needs beside it (a tokenizer); returns what model.json says of it."""
        return {}

    def precision_probe(self) -> Any:
        """Labelled data shipped with headstart on which bf16 features are checked against fp32 (None: no check)."""
        return None

    def claims(self, data: str | Path) -> bool:
        """Whether ``data`` (a dataset name or a path) is this task's kind of data."""
        return str(data) in self.named_data

    def headline_score(self, value: float) -> str:
        """A value of the task's main score (``curve_score``), as messages show it."""
        return f"{value:.1%}"

    def check_model(self, spec: ModelSpec) -> None:
        if spec.task != self.model_task:
            raise HeadstartError(
                f"model '{spec.name}' is for {spec.task} data, not {self.model_task}; `headstart models` lists the "
                f"{self.model_task} models"
            )


def fit_logistic_baseline(x_train: Any, y_train: Sequence, x_test: Any, y_test: Sequence,
                          standardise: bool = True) -> float:
    """Test accuracy of a (standardised) logistic regression (the classical baseline every task reports)."""
    import numpy as np
    from threadpoolctl import threadpool_limits

    model = baseline_regression(x_train, standardise)
    with threadpool_limits(limits=1, user_api="blas"):  # faster for lbfgs here: see strategies/linear_probe.py
        model.fit(x_train, list(y_train))
    return float((model.predict(x_test) == np.asarray(y_test)).mean())


def baseline_regression(x_train: Any, standardise: bool = True) -> Any:
    """The classical baseline's model: standardised features (not centred when sparse) unless ``standardise`` is
    False (TF-IDF rows, of unit length already), then scikit-learn's logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if not standardise:
        return LogisticRegression(max_iter=2000)
    return make_pipeline(StandardScaler(with_mean=not hasattr(x_train, "tocsr")), LogisticRegression(max_iter=2000))


_TASKS: dict[str, Task] = {}


def register_task(task: Task) -> Task:
    _TASKS[task.name] = task
    return task


def get_task(name: str) -> Task:
    _register_all()
    if name not in _TASKS:
        raise HeadstartError(f"unknown task '{name}'; use one of {', '.join(sorted(_TASKS))}")
    return _TASKS[name]


def all_tasks() -> list[Task]:
    _register_all()
    return list(_TASKS.values())


def _register_all() -> None:
    from headstart.tasks import detect, image, multilabel, text  # noqa: F401 - they register themselves


def infer_task(data: str | Path, model: str | None = None, multi_label: bool | None = None, **read: Any) -> str:
    """The task a run is for: the model's when one is named, else what the data looks like (each task says which
    named datasets and files it reads); then its multi-label sibling with ``multi_label``, or, when None, if the
    data holds label sets (``read``: the reading options, e.g. the label column, that say where to look)."""
    from headstart.models import get_model_spec

    single = [task for task in all_tasks() if not task.multi_label]
    base = get_model_spec(model).task if model else next((t.name for t in single if t.claims(data)), "image")
    if multi_label is None:
        sibling = _multi_label_sibling(base)
        return sibling.name if sibling is not None and data and sibling.claims(data, **read) else base
    return task_variant(base, multi_label)


def resolve_task(task: str | None, data: str | Path | None, model: str | None = None,
                 multi_label: bool | None = None, **read: Any) -> str:
    """The task a command runs: ``task`` as given (its multi-label or single-label sibling when ``multi_label``
    says so), else the one ``infer_task`` finds."""
    if task:
        return task if multi_label is None else task_variant(task, multi_label)
    return infer_task(data or "", model, multi_label, **read)


def _multi_label_sibling(base: str) -> Task | None:
    return next((t for t in all_tasks() if t.multi_label and t.model_task == base), None)


def task_variant(name: str, multi_label: bool) -> str:
    """``name``'s multi-label sibling (``multi_label``) or single-label one; refused where there is none."""
    task = get_task(name)
    if task.multi_label == multi_label:
        return name
    if not multi_label:
        return task.model_task
    sibling = _multi_label_sibling(task.model_task)
    if sibling is None:
        raise HeadstartError(f"--multi-label does not apply to {task.title}; leave it out")
    return sibling.name
