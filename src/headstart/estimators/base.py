"""One estimator family for every task: the same knobs where they mean the same thing, the same verbs.

``fit`` (with ``checkpoint_dir``/``resume``), ``predict``, ``score``, ``evaluate`` (a path or data), ``save``,
``export`` and ``headstart.load`` work alike for classifiers and detectors (Ultralytics' one model class across
tasks, in scikit-learn's conventions: ``__init__`` only stores its arguments, ``fit`` validates and works and
returns ``self``, learned attributes end in ``_``). What differs per task is asked of the task (``headstart.tasks``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from accelerate.utils import set_seed
from sklearn.base import BaseEstimator

from headstart import __version__
from headstart.compute.device import PRECISIONS
from headstart.compute.distributed import world
from headstart.compute.speed import Throughput
from headstart.data.dataset import DataSplits, LabeledData
from headstart.digests import digest
from headstart.errors import HeadstartError
from headstart.estimators.changes import measure_changes_safely
from headstart.estimators.guard import guards, plain_probe_guard
from headstart.estimators.unlabeled import (
    TRAINED_POOL_RATIO,
    NewInputs,
    left_out_lines,
    prepare_pool,
    pseudo_labelled,
    refuse_untrained,
)
from headstart.features import FeatureCache
from headstart.features.extract import extraction_precision
from headstart.features.precision_guard import bf16_verdict
from headstart.files import user_path, write_json
from headstart.models import WeightsSource, get_model_spec, has_parameters, list_models
from headstart.models.registry import PREPROCESSING_NOTE
from headstart.models.transfer import HeadConfig
from headstart.onnx import EXPORT_FORMATS, meta_path_for, write_graph
from headstart.options import Range, check_options
from headstart.progress import Reporter
from headstart.rundir import read_config, read_weights, save_run
from headstart.strategies import (
    AUTO,
    FitContext,
    FitResult,
    Strategy,
    get_strategy,
    strategy_name,
    strategy_spec,
)
from headstart.strategies.auto import parse_budget, plan_auto
from headstart.strategies.pseudo_labels import PseudoLabelling
from headstart.tasks import Task, get_task
from headstart.training.checkpoint import Checkpoint
from headstart.training.engine import EpochRecord

# The valid range of every numeric knob, for every estimator (a knob an estimator lacks is never looked up).
RANGES: dict[str, Range] = {
    "epochs": Range(int, 1, 10_000), "lr": Range(float, 0.0, 10.0, low_open=True), "batch_size": Range(int, 1, 65_536),
    "image_size": Range(int, 16, 4096), "max_length": Range(int, 8, 100_000), "val_size": Range(float, 0.0, 0.9),
    "seed": Range(int, 0, 2**32 - 1), "num_workers": Range(int, 0, 256), "freeze": Range(int, 0, 10_000),
    "conf": Range(float, 0.0, 1.0), "iou": Range(float, 0.0, 1.0, low_open=True),
    "crop_pct": Range(float, 0.1, 1.0), "pseudo_limit": Range(int, 1),
}


class Estimator(BaseEstimator):
    """The shared part of every task's estimator. Subclasses set ``task`` and declare their own knobs in
    ``__init__`` (so ``get_params`` lists exactly the knobs that apply: any other is refused, not ignored)."""

    task: ClassVar[str]
    default_batch_size: ClassVar[int] = 32
    ranges: ClassVar[dict[str, Range]] = RANGES

    def __init__(self, model: str | None = None, strategy: str | Strategy = AUTO, *, weights: str | None = None,
                 epochs: int | None = None, lr: float | None = None, batch_size: int | None = None,
                 val_size: float = 0.2, refit: bool = True, seed: int = 0, precision: str = "auto", num_workers: int = 0,
                 cache: bool | str = True, verbose: bool = False) -> None:
        self.model = model
        self.strategy = strategy
        self.weights = weights
        self.epochs = epochs
        self.lr = lr
        self.batch_size = batch_size
        self.val_size = val_size
        self.refit = refit
        self.seed = seed
        self.precision = precision
        self.num_workers = num_workers
        self.cache = cache
        self.verbose = verbose

    # -- options ------------------------------------------------------------------------------------------------
    @classmethod
    def knobs(cls) -> list[str]:
        return cls._get_param_names()

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> Estimator:
        """An estimator with the knobs of ``params`` that are set (None: the default); others refused."""
        given = {k: v for k, v in params.items() if v is not None}
        cls.check_knobs(given)
        return cls(**given)

    @classmethod
    def check_knobs(cls, params: dict[str, Any]) -> None:
        """Refuse knobs this estimator does not have, saying which task they belong to."""
        own = set(cls.knobs())
        for key in params:
            if key not in own:
                owners = [name for name, other in ESTIMATORS.items() if key in other.knobs()]
                where = f"it is for {', '.join(get_task(o).title for o in owners)}" if owners else "no task has it"
                raise HeadstartError(f"--{key.replace('_', '-')} does not apply to {get_task(cls.task).title} "
                                     f"({where}); leave it out")

    def _checked_params(self) -> dict[str, Any]:
        """Every knob, range-checked, with the defaults that depend on the task filled in."""
        params = check_options(self.get_params(), self.ranges)
        if params["precision"] not in PRECISIONS:
            raise HeadstartError(f"unknown precision '{params['precision']}'; use one of {', '.join(PRECISIONS)}")
        if params["batch_size"] is None:
            params["batch_size"] = self.default_batch_size
        if not isinstance(params["refit"], bool):
            raise HeadstartError(f"refit must be True or False, not {params['refit']!r}")
        return params

    @property
    def batch_size_(self) -> int:
        return self.batch_size or self.default_batch_size

    def _task(self) -> Task:
        return get_task(self.task)

    def _feature_cache(self) -> FeatureCache | None:
        """``cache``: True for the default folder, a folder path, or False for none."""
        if self.cache is False or self.cache in ("", "none", "off"):
            return None
        return FeatureCache(None if self.cache is True else self.cache)

    # -- fitting ------------------------------------------------------------------------------------------------
    def fit(self, X: Any, y: Sequence | None = None, *, unlabeled: Any = None,
            checkpoint_dir: str | Path | None = None, resume: bool = False) -> Estimator:
        """Train on ``X`` (a data source such as a folder, CSV or data.yaml, ``DataSplits``, or inputs with labels
        ``y``); returns ``self``. ``unlabeled`` (a folder, glob, CSV or text file, or a list of inputs) is a pool of
        unlabelled inputs: the pre-trained model pseudo-labels them (strategies/pseudo_labels.py) and the strategy
        trains on them beside the labelled examples. With ``checkpoint_dir`` the training state is saved there after
        every epoch, and ``resume=True`` continues from it (same data and parameters), ending as a run that was
        never stopped."""
        params = self._checked_params()
        task = self._task()
        # what cannot work with a pool is refused before anything is read or trained
        pseudo_options = self.check_unlabeled(unlabeled is not None)
        given = self._as_splits(task, X, y)
        task.check_trainable(given.train)
        reporter = Reporter(self.verbose)
        model_name, strategy, reason, auto_details = self._plan(task, given, params, reporter)
        spec = get_model_spec(model_name, self.weights)
        task.check_model(spec)
        reporter.say(f"strategy [bold]{strategy.name}[/] ({strategy.summary}): {reason}")
        # auto's guard rail judges a strategy that trains the backbone on examples it never trained on
        # (and refit on every example after), where the guard applies
        guarded = auto_details is not None and guards(task, spec, given)
        needed = strategy.uses_validation or (guarded and params["refit"] and not strategy.frozen_backbone)
        splits = task.with_validation(given, params["val_size"], self.seed, needed)
        new_inputs = prepare_pool(task, unlabeled, splits, strategy, reporter) if unlabeled is not None else None
        classes = task.classes(splits)
        task.check_labels(splits.val, classes, "validation")
        preprocessing = task.preprocessing(spec, params, splits.train.items)
        self.preprocessing_note_ = preprocessing.pop(PREPROCESSING_NOTE, None)  # why, not how: kept out of the
        # record that keys the feature cache and goes into exports
        inputs_record = task.inputs_record(splits.train.items, preprocessing)
        splits.warnings.extend(task.input_warnings(inputs_record))
        set_seed(self.seed)  # the new head's initial weights, and everything random after them
        model = task.build_model(spec, strategy, len(classes), strategy.pretrained, preprocessing=preprocessing)
        run_precision, self.precision_, self.precision_note_ = self._guarded_precision(
            task, strategy, model, preprocessing, splits.train.items, reporter)
        train = task.encode(splits.train, classes)
        self.throughput_ = Throughput()
        ctx = FitContext(
            task=task, preprocessing=preprocessing, num_classes=len(classes), seed=self.seed,
            batch_size=params["batch_size"], precision=run_precision, epochs=params["epochs"], lr=params["lr"],
            num_workers=params["num_workers"], reporter=reporter, cache=self._feature_cache(),
            class_weight=self._class_weights(train.targets, len(classes)),
            checkpoint=Checkpoint(checkpoint_dir, resume) if checkpoint_dir is not None else None,
            throughput=self.throughput_, task_params=self._task_params(),
        )
        start = time.perf_counter()
        self.pseudo_labels_: LabeledData | None = None
        unlabeled_record = None
        if new_inputs is not None:
            train, unlabeled_record = self._with_pseudo_labels(task, model, strategy, splits, train, new_inputs,
                                                               classes, ctx, reporter, pseudo_options)
        identity = {"strategy": strategy.spec(), "model": spec.name, "classes": list(classes), "examples": len(train),
                    "seed": self.seed}
        if spec.fitted:  # its inputs were fitted on these examples: a checkpoint of other data must not be resumed
            identity["preprocessing"] = digest(json.dumps(preprocessing, sort_keys=True, default=str))
        refits = params["refit"] and splits.val is not None and len(splits.val) > 0
        result = self._first_fit(task, strategy, model, train, task.encode(splits.val, classes), ctx, reporter,
                                 identity if refits else None)
        self.fit_seconds_ = time.perf_counter() - start
        self._set_fitted(model.eval(), spec, preprocessing, classes, strategy, reason)
        self.history_ = [record.to_row() for record in result.history]
        self.out_of_fold_ = result.out_of_fold
        self.fit_details_ = {**result.details, **({"auto": auto_details} if auto_details else {}),
                             **({"inputs": inputs_record} if inputs_record else {}),
                             **({"unlabeled": unlabeled_record} if unlabeled_record else {})}
        if unlabeled_record and "consistency" in self.fit_details_:
            unlabeled_record["consistency"] = self.fit_details_.pop("consistency")
        self.splits_ = splits
        splits.warnings.extend(result.warnings)
        self.holdout_: tuple[dict, Any] | None = None  # scores on the validation split before a refit
        self.unknown_detector_ = None  # an earlier fit's, if any: rebuilt once this fit is settled
        self._after_first_fit(result, splits, reporter)
        if auto_details is None or plain_probe_guard(self, task, spec, splits, reporter) is None:
            refit = self._refit_strategy(strategy, result, splits, params, reporter)
            if refit is not None:
                self._refit(task, refit, spec, classes, ctx, reporter)
        # else the plain probe beat auto's choice: it is now this run, refit as the run would have been
        if self._with_extras:
            self._fit_extras(splits, reporter)
        self.data_record_ = {
            "source": splits.train.source, "splits": splits.record, "warnings": splits.warnings,
            "counts": {part: data.class_counts() for part, data in
                       (("train", splits.train), ("val", splits.val), ("test", splits.test)) if data is not None},
        }
        return self

    def check_unlabeled(self, given: bool = True) -> PseudoLabelling | None:
        """Refuse an unlabelled pool where it cannot work (the task, a strategy that trains from random weights, the
        pseudo-label options), or pool options without a pool (``given`` False), before anything is read or trained;
        return the pseudo-label options."""
        self._checked_params()  # every knob range-checked first, named as the user wrote it
        if not given:
            self._without_pool()
            if strategy_name(self.strategy) != AUTO:
                get_strategy(self.strategy).check_without_pool()
            return None
        self._task().check_unlabeled()
        if strategy_name(self.strategy) != AUTO:
            refuse_untrained(get_strategy(self.strategy))
        return self._pseudo_labelling()

    def _without_pool(self) -> None:
        """Refuse pool options given without a pool (a classifier's pseudo-label knobs)."""

    def _with_pseudo_labels(self, task: Task, model: Any, strategy: Strategy, splits: DataSplits, train: Any,
                            new: NewInputs, classes: Sequence[str], ctx: FitContext, reporter: Reporter,
                            options: PseudoLabelling) -> tuple[Any, dict]:
        """``train`` followed by the pool's pseudo-labelled inputs (``Split.pseudo`` counts them), and the record of
        what was done with the pool; the pseudo-labelled inputs are kept in ``pseudo_labels_`` for the refit."""
        splits.warnings.extend(left_out_lines(new.pool, new.left_out))
        if options.limit is None and not strategy.frozen_backbone:
            options = replace(options, limit=TRAINED_POOL_RATIO * len(train))
            reporter.say(f"  {strategy.name} trains the backbone: at most {options.limit} pseudo-labels "
                         f"({TRAINED_POOL_RATIO} per labelled example; --pseudo-limit to change)")
        chosen, chosen_keys, record, usable = pseudo_labelled(model, train, new, classes, ctx, reporter, options)
        record["limit"] = options.limit
        ctx.unlabeled = usable  # for strategies that learn from the unlabelled inputs themselves (consistency)
        self.pseudo_labels_ = chosen if len(chosen) else None
        if not len(chosen):
            return train, record
        joined = task.encode(splits.train.join(chosen), classes)
        joined.pseudo = len(chosen)
        joined.keys = train.keys + chosen_keys  # the teacher looked up the labelled items' features: keys are set
        return joined, record

    @staticmethod
    def _first_fit(task: Task, strategy: Strategy, model: Any, train: Any, val: Any, ctx: FitContext,
                   reporter: Reporter, identity: dict | None) -> FitResult:
        """``task.fit``; with a checkpoint and a refit to follow (``identity`` says what this fit is), its outcome
        is kept once it ends, and a resume after that (during the refit) takes it from there instead of training it
        again."""
        checkpoint = ctx.checkpoint if identity is not None else None
        saved = checkpoint.first_fit(identity) if checkpoint is not None else None
        if saved is not None:
            weights, record = saved
            if "head" in record and hasattr(model, "replace_head"):  # the fit may have changed the head's layout
                model.replace_head(HeadConfig(**record["head"]))
            model.load_state_dict(weights)
            history = [EpochRecord(**row) for row in record["history"]]
            reporter.say(f"resuming after the first fit ({len(history)} epochs, kept in the checkpoint folder)")
            return FitResult(history, record["details"], record["warnings"])
        result = task.fit(strategy, model, train, val, ctx)
        if checkpoint is not None and checkpoint.trainers and world().is_main:  # it trained: worth keeping
            head = {"head": model.head_config.to_record()} if hasattr(model, "head_config") else {}
            checkpoint.save_first_fit(model.state_dict(), {"history": [r.to_row() for r in result.history],
                                                           "details": result.details, "warnings": result.warnings,
                                                           **head}, identity)
        return result

    def _guarded_precision(self, task: Task, strategy: Strategy, model: Any, preprocessing: dict,
                           items: Sequence[Any], reporter: Reporter) -> tuple[str, str, str | None]:
        """(precision for the fit, precision of its features, why): ``auto`` where it would extract pre-trained
        features in bf16 keeps bf16 only if, on this machine and backbone, it keeps the probe within the guard's
        tolerance of fp32 (see precision_guard); the features' precision is saved, so predictions use the same."""
        backbone = getattr(model, "backbone", None)
        if self.precision != "auto" or not strategy.pretrained or backbone is None:
            return self.precision, self.precision, None
        if not has_parameters(backbone):  # no network to run in bf16 (TF-IDF): nothing to gain
            return "fp32", "fp32", None
        # What "auto" stands for here, judged on one of the run's own inputs (the probe set is read only if needed).
        resolved = extraction_precision("auto", task.inputs_dataset(list(items[:1]), None, preprocessing, train=False))
        probe = task.precision_probe() if resolved == "bf16" else None
        if probe is None:
            return self.precision, resolved, None
        dataset = task.inputs_dataset(probe.items, None, preprocessing, train=False)
        cache = self._feature_cache()
        labels = np.searchsorted(probe.classes, probe.labels)
        verdict = bf16_verdict(backbone, dataset, labels, preprocessing, cache.root if cache else None, reporter)
        reporter.say(verdict.reason())
        return ("auto", "bf16", verdict.reason()) if verdict.precision == "bf16" else ("fp32", "fp32", verdict.reason())

    def _refit_strategy(self, strategy: Strategy, result: FitResult, splits: DataSplits, params: dict,
                        reporter: Reporter) -> Strategy | None:
        """The strategy to train again on every labelled example, or None (and the reason, in ``fit_details_``)."""
        set_aside = splits.val is not None and len(splits.val) > 0
        if not params["refit"]:
            why = "turned off (refit=False)"
        elif not set_aside:
            why = "not needed: no example was set aside"
        else:
            refit = strategy.refit(result)
            if refit is not None:
                return refit
            why = f"{strategy.name} cannot train again with its choices fixed"
            reporter.say(f"  not refit on all data: {why}")
        self.fit_details_["refit"] = {"done": False, "reason": why}
        return None

    def _refit(self, task: Task, refit: Strategy, spec: Any, classes: Sequence[str], ctx: FitContext,
               reporter: Reporter) -> None:
        """Score the model on the validation split it never trained on (the estimate the run reports when no
        test split is given), then train ``refit`` afresh on train + validation: every labelled example counts."""
        if self.holdout_ is None:
            self.holdout_ = self.evaluate_with_outputs(self.splits_.val)
        labelled = self.splits_.train.join(self.splits_.val)
        pseudo = getattr(self, "pseudo_labels_", None)
        pool = task.encode(labelled.join(pseudo) if pseudo is not None else labelled, classes)
        pool.pseudo = len(pseudo) if pseudo is not None else 0
        reporter.say(f"refit on all {len(labelled)} labelled examples"
                     + (f" and {pool.pseudo} pseudo-labelled ones" if pool.pseudo else "") + f": [bold]{refit.spec()}[/]")
        start = time.perf_counter()
        preprocessing = self.preprocessing_
        if spec.fitted:  # a model fitted on the data (a TF-IDF vocabulary) is fitted again on every labelled example
            preprocessing = task.preprocessing(spec, self._checked_params(), labelled.items)
            preprocessing.pop(PREPROCESSING_NOTE, None)
        set_seed(self.seed)
        model = task.build_model(spec, refit, len(classes), refit.pretrained, preprocessing=preprocessing)
        ctx = replace(ctx, preprocessing=preprocessing, class_weight=self._class_weights(pool.targets, len(classes)))
        result = task.fit(refit, model, pool, None, ctx)
        self.preprocessing_ = preprocessing  # with the model it goes with, once it is trained
        seconds = time.perf_counter() - start
        self.splits_.warnings.extend(w for w in result.warnings if w not in self.splits_.warnings)
        self.model_ = model.eval()
        self.history_ += [{**record.to_row(), "stage": f"refit {record.stage}"} for record in result.history]
        self.fit_details_["refit"] = {"done": True, "strategy": refit.spec(), "examples": pool.labelled,
                                      "pseudo_labelled": pool.pseudo,
                                      "seconds": round(seconds, 2), **{f"refit_{k}": v for k, v in result.details.items()}}
        self.fit_seconds_ += seconds

    _with_extras = True  # the guard rail's sibling fit leaves them out (False)
    _measure_changes = True  # what training changed; learning curves (compare) leave it out: their points are scored only

    def _after_first_fit(self, result: FitResult, splits: DataSplits, reporter: Reporter) -> None:
        """What a task's estimator settles on the first fit, before it is scored and refit (a multi-label
        classifier: its thresholds); nothing by default."""

    def _fit_extras(self, splits: DataSplits, reporter: Reporter) -> None:
        """What a task's estimator learns from the fitted model beside it: what training changed in the
        pre-trained network (estimators/changes.py), where it trained; a classifier adds its unknown-input
        detector."""
        strategy = get_strategy(self.strategy_)
        if strategy.pretrained and not strategy.frozen_backbone and self._measure_changes:
            self.fit_details_["changes"] = measure_changes_safely(self, splits, reporter)

    def _plan(self, task: Task, given: DataSplits, params: dict, reporter: Reporter
              ) -> tuple[str, Strategy, str, dict | None]:
        """(model, strategy, why, auto's details): the user's choice, or what ``auto`` picks."""
        if strategy_name(self.strategy) != AUTO:
            strategy = get_strategy(self.strategy)
            task.check_strategy(strategy.name)
            return self.model or task.default_model, strategy, "chosen by the user", None
        fixed = task.auto_plan(given.train)
        if fixed is not None:
            return self.model or task.default_model, get_strategy(fixed[0]), fixed[1], None
        candidates = [self.model] if self.model else [spec.name for spec in list_models(task.model_task)]
        plan = plan_auto(given.train, task, candidates, params, parse_budget(params.get("budget")),
                         self._feature_cache(), reporter)
        return plan.model, get_strategy(plan.strategy), plan.reason, plan.details

    def _class_weights(self, targets: Any, num_classes: int) -> np.ndarray | None:
        return None

    def _pseudo_labelling(self) -> PseudoLabelling:
        """How an unlabelled pool is pseudo-labelled (the defaults; a classifier's knobs change them)."""
        return PseudoLabelling()

    def _task_params(self) -> dict[str, Any]:
        return {}

    def _as_splits(self, task: Task, X: Any, y: Sequence | None) -> DataSplits:
        if isinstance(X, DataSplits):
            return X
        if y is None:
            if isinstance(X, str | Path):
                return task.read(X, seed=self.seed)
            if hasattr(X, "items") and hasattr(X, "ids"):  # LabeledData, BoxData
                return DataSplits(X)
            raise HeadstartError("fit needs a data source (folder, CSV, data.yaml, dataset name) or inputs X with "
                                 "labels y")
        items = list(X)
        if len(items) != len(y):
            raise HeadstartError(f"X has {len(items)} inputs but y has {len(y)} labels; pass one label per input")
        if any(isinstance(label, list | tuple | set | frozenset | np.ndarray) for label in y):
            raise HeadstartError("y holds label sets: use ImageMultiLabelClassifier or TextMultiLabelClassifier "
                                 "(the CLI: --multi-label)")
        labels = [str(label) for label in y]
        return DataSplits(LabeledData(items, labels, [str(i) for i in range(len(items))], source="arrays"))

    def _set_fitted(self, model: torch.nn.Module, spec, preprocessing: dict, classes: Sequence[str],
                    strategy: Strategy | str, reason: str) -> None:
        self.model_ = model
        self.precision_ = getattr(self, "precision_", self.precision)  # fit sets it first (the guard's)
        self.precision_note_ = getattr(self, "precision_note_", None)
        self.spec_ = spec
        self.preprocessing_ = preprocessing
        self.classes_ = np.asarray(classes)
        self.strategy_ = strategy.name if isinstance(strategy, Strategy) else strategy
        self.strategy_spec_ = strategy.spec() if isinstance(strategy, Strategy) else strategy
        self.strategy_reason_ = reason

    # -- using --------------------------------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "model_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit() or headstart.load()")

    def _items(self, X: Any) -> list[Any]:
        if isinstance(X, str | Path):
            return self._task().expand_inputs([str(X)])
        if hasattr(X, "items") and hasattr(X, "ids"):
            return list(X.items)
        return list(X)

    def evaluation_data(self, data: Any) -> tuple[str, Any]:
        """(split name, what ``evaluate`` scores): labelled data as it is ("given"); of a path or ``DataSplits``, the
        test split, else the validation split, else all of it."""
        if isinstance(data, str | Path):
            data = self._task().read(data, seed=self.seed)
        return evaluation_split(data) if isinstance(data, DataSplits) else ("given", data)

    def evaluate(self, data: Any) -> dict:
        """The task's scores on ``data``: labelled data, ``DataSplits``, or a path (its test split when it has
        one, else its validation split, else all of it)."""
        return self.evaluate_with_outputs(self.evaluation_data(data)[1])[0]

    def evaluate_with_outputs(self, data: Any) -> tuple[dict, Any]:
        """:meth:`evaluate`'s scores and the outputs they come from (probabilities, or detections)."""
        raise NotImplementedError

    def write_evaluation(self, run_dir: Path, data: Any, outputs: Any) -> None:
        """Save what the report shows of the evaluated split (predictions, mistakes, drawn examples)."""

    def score(self, X: Any, y: Sequence | None = None) -> float:
        """Accuracy on inputs ``X`` with labels ``y``; given data alone, the task's main score on it (accuracy for
        classifiers, mAP@0.5 for detectors)."""
        return float(self.evaluate(X)[self._task().curve_score[0]])

    def prediction_rows(self, items: Sequence[Any], top_k: int = 3, conf: float | None = None,
                        unknown: bool = True) -> list[dict]:
        """One JSON-ready row per input, as ``headstart predict`` prints them."""
        raise NotImplementedError

    @classmethod
    def pretrained(cls, model: str, **params: Any) -> Estimator:
        raise HeadstartError(f"{get_task(cls.task).title} has no zero-shot model; train a run first and predict "
                             "with it")

    # -- saving and loading ---------------------------------------------------------------------------------------
    def _config(self, preprocessing: dict) -> dict:
        params = {**self.get_params(), "strategy": strategy_spec(self.strategy)}
        return {
            "headstart_version": __version__, "task": self.task, "model": self.spec_.to_record(),
            "preprocessing": preprocessing, "classes": self.classes_.tolist(), "strategy": self.strategy_,
            "strategy_spec": self.strategy_spec_, "strategy_reason": self.strategy_reason_, "params": params,
            "data": self.data_record_, "fit_details": self.fit_details_,
            "features_precision": {"precision": self.precision_, "note": self.precision_note_}, **self._config_extra(),
        }

    def _config_extra(self) -> dict:
        return {}

    def save(self, path: str | Path, summary: dict | None = None) -> Path:
        """Write a run directory (config.json, model.safetensors, metrics.csv) that ``headstart.load`` reads."""
        self._check_fitted()
        from headstart.rundir import start_run_dir

        root = start_run_dir(path)
        preprocessing = self._task().save_assets(self.model_, self.preprocessing_, root)
        self._save_extra(root)
        return save_run(root, self._config(preprocessing), self.model_.state_dict(), self.history_, summary)

    def _save_extra(self, root: Path) -> None:
        pass

    @classmethod
    def load(cls, path: str | Path) -> Estimator:
        """Rebuild a fitted estimator of any task from its run directory, without pre-trained weights or pickles."""
        config = read_config(path)
        task_name = config.get("task")
        if task_name not in ESTIMATORS:
            raise HeadstartError(f"{path} holds a '{task_name}' run, which this headstart cannot load; "
                                 f"it loads {', '.join(ESTIMATORS)} runs")
        estimator_cls = ESTIMATORS[task_name]
        if cls is not Estimator and not issubclass(estimator_cls, cls):
            raise HeadstartError(f"{path} is a {get_task(task_name).title} run; load it with headstart.load()")
        known = estimator_cls.knobs()
        estimator = estimator_cls(**{k: v for k, v in config.get("params", {}).items() if k in known})
        task = get_task(task_name)
        record = config["model"]
        spec = get_model_spec(record["name"]).with_weights(WeightsSource(**record["weights"]))
        arch_spec, preprocessing = task.load_assets(spec, config["preprocessing"], user_path(path))
        model = task.build_model(arch_spec, None, len(config["classes"]), pretrained=False, head=config.get("head"),
                                 preprocessing=preprocessing)
        try:
            model.load_state_dict(read_weights(path), strict=True)
        except RuntimeError as exc:
            raise HeadstartError(f"the weights in {path} do not match its config ({str(exc)[:120]}...)") from exc
        estimator._set_fitted(model.eval(), spec, preprocessing, config["classes"], config["strategy"],
                              config.get("strategy_reason", ""))
        estimator.strategy_spec_ = config.get("strategy_spec", config["strategy"])
        estimator.history_ = []
        estimator.fit_details_ = config.get("fit_details", {})
        chosen = config.get("features_precision") or {}
        estimator.precision_ = chosen.get("precision", estimator.precision)
        estimator.precision_note_ = chosen.get("note")
        estimator.data_record_ = config.get("data", {})
        estimator._load_extras(user_path(path), config)
        return estimator

    def _load_extras(self, root: Path, config: dict) -> None:
        """Read back what ``_save_extra`` wrote; nothing by default."""

    # -- exporting ------------------------------------------------------------------------------------------------
    def export(self, path: str | Path, format: str = "onnx", *, extra: dict | None = None) -> Path:
        """Write the model as one ``onnx`` or ``torchscript`` file that runs without headstart, with ``model.json``
        beside it (classes, inputs, outputs, what the graph does inside) and what else it needs (a tokenizer)."""
        self._check_fitted()
        if format not in EXPORT_FORMATS:
            raise HeadstartError(f"unknown export format '{format}'; use {' or '.join(EXPORT_FORMATS)}")
        path = Path(path).expanduser()
        if path.suffix != EXPORT_FORMATS[format]:
            raise HeadstartError(f"the {format} file must end in {EXPORT_FORMATS[format]}: rename {path}")
        path.parent.mkdir(parents=True, exist_ok=True)
        task = self._task()
        graph = task.export_graph(self.model_.eval().requires_grad_(False), self.preprocessing_)
        write_graph(graph.module, graph.example, path, list(graph.inputs), list(graph.outputs), graph.dynamic_axes,
                    format)
        meta = {"format": format, "task": self.task, "classes": self.classes_.tolist(), "inputs": graph.inputs,
                "outputs": graph.outputs, **graph.description, **task.export_assets(self.preprocessing_, path),
                **self._export_extra(), **(extra or {}), "headstart_version": __version__}
        write_json(meta_path_for(path), meta)
        return path

    def _export_extra(self) -> dict:
        return {}


def evaluation_split(splits: DataSplits) -> tuple[str, Any]:
    """What to score a model on when given a dataset: its test split, else its validation split, else all of it."""
    name, split = splits.evaluation_split()
    return (name, split) if split is not None and len(split) else ("all", splits.train)


ESTIMATORS: dict[str, type[Estimator]] = {}


def register_estimator(cls: type[Estimator]) -> type[Estimator]:
    """Class decorator: ``cls`` is the estimator of ``cls.task`` (what ``headstart.load`` and ``train`` build)."""
    ESTIMATORS[cls.task] = cls
    return cls


def estimator_for(task: str) -> type[Estimator]:
    from headstart.estimators import classifier, detector, multilabel  # noqa: F401 - they register themselves

    if task not in ESTIMATORS:
        raise HeadstartError(f"unknown task '{task}'; use one of {', '.join(ESTIMATORS)}")
    return ESTIMATORS[task]


def load(path: str | Path) -> Estimator:
    """Load any saved run, of any task: ``model = headstart.load("runs/my-run")``."""
    estimator_for(read_config(path).get("task", ""))  # registers the estimators, and names an unknown task
    return Estimator.load(path)
