"""The run-level API the CLI is a thin layer over: train (fit, score, save), evaluate, predict, rank, embed,
similar, demo. Every task goes through the same functions; what differs is asked of its task and estimator."""

from __future__ import annotations

import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headstart.compute.distributed import world
from headstart.compute.speed import flops_per_input, speed_report
from headstart.data.dataset import LabeledData
from headstart.embedding import leakage_warnings, load_embedder
from headstart.errors import HeadstartError, Interrupted
from headstart.estimators import Estimator, estimator_for, load
from headstart.estimators.incremental import require_kept_features
from headstart.estimators.unlabeled import as_pool, with_added_labels
from headstart.evaluation.changes import changes_summary
from headstart.features.embeddings import Embeddings
from headstart.files import user_path
from headstart.labelling import Suggestions, suggest
from headstart.models import list_models
from headstart.options import Range, check_range
from headstart.progress import Reporter
from headstart.ranking.rank import RANDOM_SUFFIX, Ranking
from headstart.reports.html import write_report
from headstart.reports.page import unknown_summary, unlabeled_summary
from headstart.rundir import (
    LAUNCH,
    check_resumable,
    default_run_dir,
    start_run_dir,
    write_launch,
)
from headstart.search import Neighbour, SimilarityIndex
from headstart.serving.runtime import PREDICT_CHUNK, exported_run, prediction_chunks
from headstart.strategies import strategy_name, strategy_spec
from headstart.tasks import get_task, infer_task, resolve_task
from headstart.training.checkpoint import CHECKPOINT, FIRST_FIT

__all__ = ["Evaluation", "Suggestions", "TrainResult", "add_classes", "demo", "embed", "evaluate", "infer_task", "predict", "rank", "similar",
           "suggest", "train"]


@dataclass
class TrainResult:
    """A fitted estimator, where its run directory is, and the summary written there."""

    estimator: Estimator
    run_dir: Path
    summary: dict = field(default_factory=dict)

    def lines(self) -> list[str]:
        """What ``headstart train`` prints about the run (rich markup), warnings aside."""
        summary = self.summary
        line = f"[bold]{summary['model']}[/] + [bold]{summary['strategy']}[/]"
        if summary.get("scores"):
            line += f": {summary['evaluated_on']} " + get_task(summary["task"]).score_line(summary["scores"])
        lines = [line]
        if summary.get("multi_label"):
            lines.append(summary["multi_label"])
        if summary.get("baseline"):
            base, handler = summary["baseline"], get_task(summary["task"])
            lines.append(f"baseline without transfer ({base['name']}): "
                         f"{handler.headline_score(base[handler.curve_score[0]])}")
        plain = summary.get("plain_probe") or {}
        if plain.get("accuracy") is not None:
            lines.append(f"{plain['name']}: {plain['accuracy']:.1%}")
        elif plain:
            lines.append(f"{plain['name']}: {plain['note']}")
        if summary.get("preprocessing_note"):
            lines.append(f"preprocessing: {summary['preprocessing_note']}")
        if summary.get("inputs"):
            lines.append(f"inputs: {get_task(summary['task']).inputs_sentence(summary['inputs'])}")
        if summary.get("precision_note"):
            lines.append(f"precision: {summary['precision_note']}")
        if summary.get("guard"):
            lines.append(f"guard rail: {summary['guard']['message']}")
        if (unknown := unknown_summary(summary)) is not None:
            lines.append(f"unknown inputs: {unknown}")
        if summary.get("unlabeled"):
            lines.append(f"unlabelled pool: {unlabeled_summary(summary)}")
        if added := summary.get("added_classes"):
            lines.append(f"added {len(added['new_classes'])} class(es) ({', '.join(added['new_classes']) or 'none'}) to "
                         f"the run's {len(added['old_classes'])}, from the features it kept of "
                         f"{added['kept_examples']} examples and {added['new_examples']} new ones; backbone "
                         f"{added['backbone']}")
        if (changed := changes_summary(summary.get("changes"))) is not None:
            lines.append(f"what training changed: {changed}")
        refit = summary.get("refit") or {}
        if refit.get("done"):
            pseudo = f" and {refit['pseudo_labelled']} pseudo-labelled ones" if refit.get("pseudo_labelled") else ""
            lines.append(f"refit on all {refit['examples']} labelled examples{pseudo} as {refit['strategy']} "
                         f"(+{refit['seconds']:.1f}s); score: {summary['estimate']}")
        elif refit:
            lines.append(f"not refit: {refit['reason']}")
        lines.append(f"time: fit {summary['fit_seconds']:.1f}s, total {summary['total_seconds']:.1f}s")
        rate = summary.get("speed", {})
        if rate.get("items_per_second"):
            lines.append(f"speed: {rate['items_per_second']:.1f} inputs/s extracting or predicting "
                         f"({rate['precision']}, {rate.get('engine', 'pytorch')}), {rate['gflops_per_item']:.2f} "
                         f"GFLOP each: {rate['fraction_of_peak']:.0%} of this machine's {rate['precision']} matmul "
                         f"peak ({rate['peak_gflops']:.0f} GFLOP/s)")
        lines += [f"run: {self.run_dir}", f"report: {self.run_dir / 'report.html'}"]
        return lines


def train(
    data: str | Path,
    model: str | None = None,
    strategy: Any = "auto",
    *,
    task: str | None = None,
    multi_label: bool | None = None,
    out: str | Path | None = None,
    per_class: int | None = None,
    test_per_class: int | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    baseline: bool = True,
    check_leakage: bool = True,
    resume: bool = False,
    unlabeled: str | Path | None = None,
    labels: str | Path | None = None,
    **params: Any,
) -> TrainResult:
    """Fit the task's estimator on ``data``, score it on the test (else validation) split, save a run directory.

    ``task`` is inferred from the model or the data when not given, and so is ``multi_label`` (label sets: the
    multi-label sibling of the task; detected from the data when None, and said so). ``params`` are the estimator's own knobs
    (epochs, lr, batch_size, image_size, max_length, freeze, seed, precision, weights, ...); a knob that does not
    apply to the task is refused. With ``baseline``, a classical non-transfer model (logistic regression on
    pixels, or on TF-IDF for text) is scored on the same split, where the task has one. With ``check_leakage``,
    test items that repeat training items (exactly, or nearly by pre-trained embeddings) are reported. ``unlabeled``
    (a folder, glob, CSV or text file of unlabelled inputs) adds the pool's pseudo-labelled inputs to the training;
    ``labels`` (a table ``headstart suggest`` wrote, filled in) adds its labelled rows to the training split.

    The run folder is made first and holds a checkpoint while training; a run stopped part-way (Ctrl-C, a kill,
    a crash) continues with ``train(..., out=RUN, resume=True)`` or ``headstart train --resume RUN``.
    """
    detected = None
    columns = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
    if task is None and multi_label is None:
        task = infer_task(data, model, **columns)
        if get_task(task).multi_label:
            detected = f"read as multi-label data: {get_task(task).sets_reason(data, **columns)} (--single-label not to)"
    task = resolve_task(task, data, model, multi_label, **columns)
    handler = get_task(task)
    estimator_cls = estimator_for(task)
    estimator_cls.check_knobs(params)
    read_args = {"per_class": per_class, "test_per_class": test_per_class, "text_column": text_column,
                 "label_column": label_column}
    handler.check_read_options(read_args)
    read_args = {k: v for k, v in read_args.items() if v is not None}
    for key in ("per_class", "test_per_class"):
        if key in read_args:
            read_args[key] = check_range(f"--{key.replace('_', '-')}", read_args[key], Range(int, 1))
    here = world()  # under torchrun every process trains (on its share of each batch); only the first writes
    if not here.is_main:
        params["verbose"] = False
    estimator = estimator_cls(model=model, strategy=strategy, **params)
    start = time.perf_counter()
    splits = handler.read(data, seed=estimator.seed, **read_args)
    if labels is not None:
        splits = with_added_labels(handler, splits, labels, estimator.seed)
    if detected:
        splits.record["multi_label"] = detected
        Reporter(estimator.verbose).say(detected)
    data_args = {"data": str(data), "task": task, **read_args, **{k: str(v) for k, v in (("unlabeled", unlabeled), ("labels", labels)) if v}}
    # The pool read, and what cannot work with it (or pool options without one) refused, before the run folder is
    # touched.
    estimator.check_unlabeled(unlabeled is not None)
    pool = as_pool(handler, unlabeled, text_column, Reporter(estimator.verbose)) if unlabeled is not None else None
    run_dir = Path(out) if out else default_run_dir(model or "auto", strategy_name(strategy))
    launch = {"params": {**estimator.get_params(), "strategy": strategy_spec(strategy)},
              "data": {"args": data_args}, "counts": splits.counts()}
    if resume:
        check_resumable(run_dir, launch)
    elif here.is_main:
        start_run_dir(run_dir)
        write_launch(run_dir, launch)
    try:
        estimator.fit(splits, unlabeled=pool, checkpoint_dir=run_dir, resume=resume)
    except KeyboardInterrupt:
        again = f" --nproc {here.size}" if here.size > 1 else ""
        raise Interrupted(f"interrupted; continue with `headstart train --resume {run_dir}{again}`") from None
    return _finish_run(estimator, run_dir, handler, data_args, start, detected, baseline, check_leakage)


def add_classes(
    run: str | Path,
    data: str | Path,
    *,
    out: str | Path | None = None,
    per_class: int | None = None,
    test_per_class: int | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    check_leakage: bool = True,
    verbose: bool = False,
) -> TrainResult:
    """The run at ``run`` with the classes of ``data`` added, without its old examples
    (``TransferClassifier.add_classes``), saved as a new run at ``out`` (``run`` is never modified) and scored on
    ``data``'s test split (else not scored; the probe's cross-validated score, on kept features the backbone may have
    trained on, is in config.json's ``fit_details``)."""
    source = user_path(run)
    estimator = load(source)
    estimator.verbose = verbose
    require_kept_features(estimator, str(source))  # before anything is read or written
    handler = get_task(estimator.task)
    columns = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
    found = infer_task(data, None, **columns)
    if found != estimator.task:
        raise HeadstartError(f"{source} is a run of {handler.title}, and {data} holds {get_task(found).title}: add "
                             "classes from data of the run's kind")
    read_args = {"per_class": per_class, "test_per_class": test_per_class, **columns}
    handler.check_read_options(read_args)
    read_args = {k: check_range(f"--{k.replace('_', '-')}", v, Range(int, 1)) if k.endswith("per_class") else v
                 for k, v in read_args.items() if v is not None}
    run_dir = user_path(out) if out else default_run_dir(estimator.spec_.name, "added")
    if run_dir.resolve() == source.resolve() or run_dir.resolve().is_relative_to(source.resolve()):
        raise HeadstartError(f"--out {run_dir} is the run classes are added to (or inside it); give a new folder: the "
                             "old run is kept as it is")
    start = time.perf_counter()
    splits = handler.read(data, seed=estimator.seed, **read_args)
    if world().is_main:
        start_run_dir(run_dir)
    estimator.add_classes(splits)
    data_args = {"data": str(data), "task": estimator.task, "from": str(source), **read_args}
    # No baseline beside it: trained on the new classes alone, it would not have to tell them from the old ones.
    return _finish_run(estimator, run_dir, handler, data_args, start, None, False, check_leakage)


def _finish_run(estimator: Estimator, run_dir: Path, handler: Any, data_args: dict, start: float,
                detected: str | None = None, baseline: bool = True, check_leakage: bool = True) -> TrainResult:
    """Score the fitted ``estimator`` on its evaluation split (beside the baseline and the plain probe), and save
    the run directory: its summary, predictions and report."""
    here, task = world(), estimator.task
    split_name, split = estimator.splits_.evaluation_split()
    scored = split is not None and len(split) > 0
    refit = estimator.fit_details_.get("refit", {})
    if scored and split_name == "val" and estimator.holdout_ is not None and refit.get("done"):
        scores, outputs = estimator.holdout_  # the refit model trained on this split: its score is from before
        estimate = f"validation split held out, scored before the refit on all {refit['examples']} examples"
    else:
        scores, outputs = estimator.evaluate_with_outputs(split) if scored else (None, None)
        estimate = f"{split_name} split, never trained on" if scored else None
    if scores and split_name != "test":  # the unknown-input detector compares with these very examples
        scores.pop("unknown_flagged", None)
    speed_record = speed_report(estimator.throughput_, model_flops(estimator, estimator.splits_.train.items[:4]))
    baseline_score, plain = None, None
    if baseline and scores:
        # The references train on what the saved model trained on: train + validation when a test split scores.
        labelled = estimator.splits_.train
        if split_name == "test" and estimator.splits_.val is not None and refit.get("done"):
            labelled = labelled.join(estimator.splits_.val)
        found = handler.baseline(labelled, split)
        baseline_score = {"name": found[0], handler.curve_score[0]: found[1]} if found else None
        plain = handler.plain_probe(estimator.spec_, labelled, split, estimator._feature_cache())
    leakage: dict = {}
    if check_leakage and split_name == "test":
        name, embed_task = handler.leakage_model(estimator.spec_)
        embedder_params = {"verbose": False, "cache": estimator.cache, "precision": estimator.precision_}
        embedder = load_embedder(name, embed_task, embedder_params, Reporter(estimator.verbose))
        warnings, leakage = leakage_warnings(embedder, estimator.splits_)
        estimator.splits_.warnings.extend(warnings)
    summary = {
        "task": task,
        "multi_label": detected,
        "strategy": estimator.strategy_,
        "strategy_spec": estimator.strategy_spec_,
        "strategy_reason": estimator.strategy_reason_,
        "model": estimator.spec_.name,
        "evaluated_on": split_name if scores else None,
        "scores": scores,
        "estimate": estimate,
        "preprocessing_note": estimator.preprocessing_note_,
        "inputs": estimator.fit_details_.get("inputs"),
        "precision_note": estimator.precision_note_,
        "refit": refit,
        "guard": estimator.fit_details_.get("auto", {}).get("guard"),
        "unknown": estimator.fit_details_.get("unknown"),
        "unlabeled": estimator.fit_details_.get("unlabeled"),
        "changes": estimator.fit_details_.get("changes"),
        "added_classes": estimator.fit_details_.get("added_classes"),
        "baseline": baseline_score,
        "plain_probe": plain,
        "fit_seconds": round(estimator.fit_seconds_, 2),
        "speed": speed_record,
        "total_seconds": round(time.perf_counter() - start, 2),
        "data_args": data_args,
        "warnings": estimator.splits_.warnings,
        "leakage": leakage,
        "profile": {name: handler.profile(part.items)
                    for name, part in (("train", estimator.splits_.train), (split_name, split))
                    if scores and part is not None},
        "machine": {"platform": platform.platform(), "processor": platform.processor(),
                    "python": platform.python_version()},
    }
    estimator.data_record_["args"] = data_args
    if not here.is_main:
        return TrainResult(estimator, run_dir, summary)
    estimator.save(run_dir, summary)
    if scores is not None:
        estimator.write_evaluation(run_dir, split, outputs)
    write_report(run_dir)
    for name in (CHECKPOINT, FIRST_FIT, LAUNCH):  # the run is complete: config.json has everything the launch had
        (run_dir / name).unlink(missing_ok=True)
    return TrainResult(estimator, run_dir, summary)


def model_flops(estimator: Estimator, items: list[Any]) -> float:
    """FLOPs of one forward pass of the fitted model per input, counted on a few real inputs."""
    from torch.utils.data import DataLoader

    dataset = get_task(estimator.task).inputs_dataset(items, None, estimator.preprocessing_, train=False)
    batch = next(iter(DataLoader(dataset, batch_size=len(items), collate_fn=getattr(dataset, "collate_fn", None))))
    return flops_per_input(estimator.model_, batch[0], len(items))



def predict(
    run: str | Path | None,
    inputs: list[str],
    top_k: int = 3,
    chunk: int = PREDICT_CHUNK,
    verbose: bool = False,
    runtime: str = "torch",
    *,
    model: str | None = None,
    conf: float | None = None,
    predictor: Any = None,
    unknown: bool = True,
) -> Iterator[list[dict]]:
    """Predictions of a saved run (or, with ``model``, of a pre-trained model zero-shot) for ``inputs`` (files,
    folders, globs; texts), one list of rows per ``chunk`` inputs. Classifier rows have the input, its label and
    probability, and the ``top_k`` classes; detector rows the boxes above ``conf``. Only one chunk is in memory at
    a time, so 10,000 inputs cost what 512 do. ``runtime="onnx"`` runs the run's exported ONNX file in ONNX
    Runtime (exporting it first when it is not there yet). ``predictor``: one loaded already. With ``unknown``, a
    classifier run's rows say whether each input is like none of its classes (torch runtime)."""
    top_k = check_range("--top-k", top_k, Range(int, 1))
    chunk = check_range("chunk", chunk, Range(int, 1))
    if conf is not None:
        conf = check_range("--conf", conf, Range(float, 0.0, 1.0))
    predictor = predictor or load_predictor(run, runtime, Reporter(verbose), model)
    items = get_task(predictor.task).expand_inputs(inputs)
    yield from prediction_chunks(predictor, items, top_k, chunk, verbose, conf, unknown)


def load_predictor(run: str | Path | None, runtime: str = "torch", reporter: Reporter | None = None,
                   model: str | None = None) -> Any:
    """The run's estimator (torch), its exported ONNX file in ONNX Runtime (exported now if not yet), or with
    ``model`` a pre-trained model as it is (zero-shot)."""
    if runtime not in ("torch", "onnx"):
        raise HeadstartError(f"unknown runtime '{runtime}'; use torch or onnx")
    if model is not None:
        if runtime != "torch":
            raise HeadstartError("--runtime onnx runs a trained run's export; for a zero-shot --model use --runtime torch")
        return estimator_for(infer_task("", model)).pretrained(model)
    if runtime == "torch":
        return load(run)
    from headstart.export import default_export_path, export_run

    exported = exported_run(run)
    if exported is None:
        path = default_export_path(Path(run).expanduser(), "onnx")
        (reporter or Reporter()).say(f"exporting {run} to {path} first (once; `headstart export` does it explicitly)")
        export_run(run, "onnx")
        exported = exported_run(run)
    return exported


@dataclass
class Evaluation:
    """A saved run's scores on some data: which split, the metrics, and the task (which says how to show them)."""

    split: str
    metrics: dict
    task: str
    note: str | None = None  # e.g. that the run trained on these examples

    def headline(self) -> str:
        return f"{self.split} split, " + self.tables()[0]

    def unknown_line(self) -> str | None:
        """How the run told the outliers from the split, when ``evaluate`` was given some."""
        found = self.metrics.get("unknown")
        if not found:
            return None
        return (f"unknown inputs: AUROC {found['auroc']:.3f} ({found['n_known']} {self.split} inputs against "
                f"{found['n_outliers']} outliers); at the run's threshold {found['known_flagged']:.1%} of the known "
                f"inputs are flagged and {found['outliers_caught']:.1%} of the outliers caught")

    def tables(self) -> tuple[str, list[tuple[str, list[str], list[list[str]]]]]:
        return get_task(self.task).evaluation_tables(self.metrics)

    def to_dict(self) -> dict:
        return {"split": self.split, **self.metrics, **({"note": self.note} if self.note else {})}


def evaluate(run: str | Path, data: str | Path, outliers: str | Path | None = None) -> Evaluation:
    """Score a saved run of any task on ``data`` (its test split when it has one, else validation, else all), and
    say so when the run trained on those examples. ``outliers`` (a folder, file or glob of inputs of no class the
    run knows): how well a classifier run tells them from the evaluated split (``metrics["unknown"]``)."""
    estimator = load(run)
    split_name, split = estimator.evaluation_data(data)
    metrics = estimator.evaluate(split)
    note = trained_on_note(estimator, split_name, split, data, run)
    if note is not None:  # the unknown-input detector compares with these very examples: no false-alarm rate
        metrics.pop("unknown_flagged", None)
    if outliers is not None:
        if not hasattr(estimator, "evaluate_unknown"):
            raise HeadstartError(f"--outliers is for classification runs; {run} is a {estimator.task} run")
        strange = get_task(estimator.task).expand_inputs([str(outliers)])
        metrics["unknown"] = estimator.evaluate_unknown(list(split.items), strange)
    return Evaluation(split_name, metrics, estimator.task, note)


def trained_on_note(estimator: Any, split_name: str, split: Any, data: str | Path, run: str | Path) -> str | None:
    """Why a score is no estimate for new data: the run trained on the data scored, all of it ("all": the data has
    no validation or test split) or its validation split (taken by the refit on every labelled example)."""
    record = estimator.data_record_
    trained = record.get("args", {}).get("data")
    same = getattr(split, "source", None) == record.get("source") or (
        trained is not None and Path(str(trained)).expanduser().resolve() == Path(str(data)).expanduser().resolve())
    refit = (estimator.fit_details_.get("refit") or {}).get("done")
    if not same or split_name not in ("all", "val") or (split_name == "val" and not refit):
        return None
    how = {("all", True): "every example", ("all", False): "all but the part it set aside to validate on",
           ("val", True): "the validation split too, in the refit on every example"}[(split_name, bool(refit))]
    return (f"{run} was trained on this data ({how}): the score is not an estimate for new data; evaluate on a test "
            "split it never saw")


def rank(
    data: str | Path,
    models: list[str] | None = None,
    *,
    task: str | None = None,
    scores: tuple[str, ...] = ("logme", "leep", "nce", "hscore"),
    by: str = "logme",
    per_class: int | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    verbose: bool = False,
    layers: bool = False,
    **params: Any,
) -> Ranking:
    """Score candidate models on the labelled (training and validation) part of ``data`` without training them.

    ``models`` defaults to every registered model of the task; ``NAME@random`` adds that architecture with random
    weights, ``NAME@LAYER`` the network cut after that layer; ``layers=True`` scores every such cut of each
    candidate. ``params`` are classifier params (image_size, max_length, batch_size, precision, seed, weights, cache).
    """
    from headstart.ranking.rank import rank_models

    # One label per item: the ranking's scores (LogME, ...) read classes, so label sets are read as they are written.
    task = task or infer_task(data, models[0].removesuffix(RANDOM_SUFFIX) if models else None, multi_label=False)
    if not get_task(task).gives_features:
        raise HeadstartError(f"ranking scores classifiers' features; {get_task(task).title} has none to rank")
    clf = estimator_for(task).from_params(params)
    columns = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
    splits = get_task(task).read(data, per_class=per_class, seed=clf.seed, **columns)
    labelled = splits.train
    if splits.val is not None and len(splits.val):
        labelled = LabeledData(
            splits.train.items + splits.val.items, splits.train.labels + splits.val.labels,
            splits.train.ids + splits.val.ids, source=splits.train.source,
        )
    models = models or [spec.name for spec in list_models(get_task(task).model_task) if not spec.fitted]
    return rank_models(labelled, models, get_task(task), clf._checked_params(), scores, by, clf._feature_cache(),
                       Reporter(verbose), layers)


def embed(
    data: str | Path,
    model: str | None = None,
    out: str | Path | None = None,
    *,
    task: str | None = None,
    per_class: int | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    verbose: bool = False,
    **params: Any,
) -> Embeddings:
    """Embeddings of every item of ``data`` (all splits) by ``model``: a registered model, or a run directory
    (its trained backbone). Written to ``out`` as Parquet (id, label, split, embedding) when given."""
    embedder = load_embedder(model, task or (None if model else infer_task(data, multi_label=False)), params,
                             Reporter(verbose))
    columns = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
    splits = embedder.task.read(data, per_class=per_class, seed=int(params.get("seed", 0)), **columns)
    embeddings = embedder.embed_splits(splits)
    if out is not None and world().is_main:
        embeddings.to_parquet(out)
    return embeddings


def similar(
    data: str | Path,
    queries: list[str],
    model: str | None = None,
    k: int = 5,
    *,
    task: str | None = None,
    verbose: bool = False,
    **params: Any,
) -> list[tuple[str, list[Neighbour]]]:
    """The ``k`` items of ``data`` most similar to each query (image files, folders or globs; or texts). ``data``
    is a dataset, or a Parquet file from :func:`embed` (its model then embeds the queries)."""
    if str(data).endswith(".parquet"):
        stored = Embeddings.from_parquet(data)
        embedder = load_embedder(model or stored.model, task, params, Reporter(verbose))
    else:
        embedder = load_embedder(model, task or (None if model else infer_task(data, multi_label=False)), params,
                                 Reporter(verbose))
        stored = embedder.embed_splits(embedder.task.read(data, seed=int(params.get("seed", 0))))
    items = embedder.task.expand_inputs(queries)
    if not items:
        raise HeadstartError("no queries given: pass image files, folders or globs, or texts")
    index = SimilarityIndex(stored.vectors, stored.ids, stored.labels)
    found = index.search(embedder(items, "embedding (queries)"), k)
    return [(str(item), neighbours) for item, neighbours in zip(items, found, strict=True)]


DEMO_IMAGE_SIZE = 160
DEMO_SCRATCH_IMAGE_SIZE = 96
DEMO_SCRATCH_EPOCHS = 10


def demo(out: str | Path | None = None, verbose: bool = True) -> dict[str, TrainResult]:
    """Transfer (linear probe on EfficientNet-Lite0) against the same network trained from scratch, on the
    Fashion-MNIST sample that ships inside the package. The probe reads 160 px (near 224 px accuracy for these 28 px
    photos, at a third of the time); scratch reads 96 px (64.8% against 65.2% at 160 px on this sample, mean of 3
    seeds, in a third of the time: bench/demo_scratch.py) for up to 10 epochs, then again on every image
    (the refit)."""
    root = Path(out) if out else default_run_dir("efficientnet_lite0", "demo")
    runs = {
        "transfer": {"strategy": "linear-probe", "image_size": DEMO_IMAGE_SIZE},
        "scratch": {"strategy": "scratch", "epochs": DEMO_SCRATCH_EPOCHS, "image_size": DEMO_SCRATCH_IMAGE_SIZE},
    }
    return {
        name: train("sample", out=root / name, verbose=verbose, baseline=name == "transfer", **options)
        for name, options in runs.items()
    }
