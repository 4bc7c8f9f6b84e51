"""The run-level API the CLI is a thin layer over: train (fit, score, save), evaluate, rank, embed, similar, demo."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.images import PATH_COLUMNS
from headstart.data.texts import TEXT_COLUMNS
from headstart.embedding import leakage_warnings, load_embedder
from headstart.errors import HeadstartError
from headstart.features.embeddings import Embeddings
from headstart.models import get_model_spec, list_models
from headstart.progress import Reporter
from headstart.ranking.rank import RANDOM_SUFFIX, Ranking
from headstart.reports.html import write_report
from headstart.reports.predictions import save_predictions
from headstart.search import Neighbour, SimilarityIndex
from headstart.tasks import get_task

DEFAULT_RUNS_DIR = Path("runs")


@dataclass
class TrainResult:
    """A fitted classifier, where its run directory is, and the summary written there."""

    classifier: Any
    run_dir: Path
    summary: dict = field(default_factory=dict)


def default_run_dir(model: str, strategy: str, root: Path = DEFAULT_RUNS_DIR) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    path = root / f"{stamp}-{model}-{strategy}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = root / f"{stamp}-{model}-{strategy}-{suffix}"
    return path


def evaluation_data(splits: DataSplits) -> tuple[str, LabeledData]:
    """What to score a model on when given a dataset: its test split, else its validation split, else all of it."""
    name, split = splits.evaluation_split()
    return (name, split) if split is not None and len(split) else ("all", splits.train)


NAMED_DATA = {"sample": "image", "fashion-mnist": "image", "text-sample": "text", "rotten-tomatoes": "text",
              "detect-sample": "detect"}


def infer_task(data: str | Path, model: str | None = None) -> str:
    """The task a run is for: the model's when one is named, else what the data looks like."""
    if model:
        return get_model_spec(model).task
    text = str(data)
    if text in NAMED_DATA:
        return NAMED_DATA[text]
    path = Path(text).expanduser()
    suffix = path.suffix.lower()
    if suffix in (".yaml", ".yml") or (path / "data.yaml").is_file():
        return "detect"
    if suffix in (".jsonl", ".ndjson", ".json", ".tsv", ".txt"):
        return "text"
    if suffix == ".csv" and path.is_file():
        with path.open(encoding="utf-8", errors="replace") as handle:
            header = {h.strip().lower() for h in handle.readline().split(",")}
        if not header & set(PATH_COLUMNS) and header & set(TEXT_COLUMNS):
            return "text"
    return "image"


def train(
    data: str | Path,
    model: str | None = None,
    strategy: str = "auto",
    *,
    task: str | None = None,
    out: str | Path | None = None,
    per_class: int | None = None,
    test_per_class: int | None = None,
    text_column: str | None = None,
    label_column: str | None = None,
    baseline: bool = True,
    check_leakage: bool = True,
    **params: Any,
) -> TrainResult:
    """Fit a classifier on ``data``, score it on the test (else validation) split and save a run directory.

    ``task`` is inferred from the model or the data when not given. ``params`` are the classifier's own (epochs,
    lr, batch_size, image_size, max_length, seed, precision, weights, ...). With ``baseline``, a classical
    non-transfer model (logistic regression on pixels, or on TF-IDF for text) is scored on the same split. With
    ``check_leakage``, test items that repeat training items (exactly, or nearly by the pre-trained model's
    embeddings) are reported in the warnings.
    """
    from headstart.classifier import CLASSIFIERS

    task = task or infer_task(data, model)
    if task == "detect":
        from headstart.detection.run import train_detection

        return train_detection(data, model, strategy, out, **params)
    if task not in CLASSIFIERS:
        raise HeadstartError(f"unknown task '{task}'; use one of {', '.join(CLASSIFIERS)}, detect")
    clf = CLASSIFIERS[task](model=model, strategy=strategy, **params)
    start = time.perf_counter()
    columns = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
    splits = get_task(task).read(data, per_class=per_class, test_per_class=test_per_class, seed=clf.seed, **columns)
    clf.fit(splits)
    split_name, split = clf.splits_.evaluation_split()
    scores, proba = clf.evaluate_with_probabilities(split) if split is not None and len(split) else (None, None)
    baseline_score = None
    if baseline and scores:
        name, accuracy = get_task(task).baseline(clf.splits_.train, split)
        baseline_score = {"name": name, "accuracy": accuracy}
    leakage: dict = {}
    if check_leakage and split_name == "test":
        embedder = load_embedder(clf.spec_.name, task, {**clf.get_params(), "verbose": False},
                                 Reporter(clf.verbose))
        warnings, leakage = leakage_warnings(embedder, clf.splits_)
        clf.splits_.warnings.extend(warnings)
    summary = {
        "strategy": clf.strategy_,
        "strategy_reason": clf.strategy_reason_,
        "model": clf.spec_.name,
        "evaluated_on": split_name if scores else None,
        "scores": scores,
        "baseline": baseline_score,
        "fit_seconds": round(clf.fit_seconds_, 2),
        "total_seconds": round(time.perf_counter() - start, 2),
        "data_args": {
            "data": str(data), "task": task, "per_class": per_class, "test_per_class": test_per_class, **columns,
        },
        "warnings": clf.splits_.warnings,
        "leakage": leakage,
        "profile": {name: get_task(task).profile(part.items)
                    for name, part in (("train", clf.splits_.train), (split_name, split)) if scores and part is not None},
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "python": platform.python_version()},
    }
    clf.data_record_["args"] = summary["data_args"]
    run_dir = Path(out) if out else default_run_dir(clf.spec_.name, clf.strategy_)
    clf.save(run_dir, summary)
    if scores is not None:
        save_predictions(run_dir, get_task(task), split, clf.classes_, proba)
    write_report(run_dir)
    return TrainResult(clf, run_dir, summary)


def evaluate(run: str | Path, data: str | Path) -> tuple[str, dict]:
    """Score a saved run on ``data`` (its test split when it has one); returns (split used, metrics)."""
    from headstart.classifier import load
    from headstart.rundir import read_config

    if read_config(run).get("task") == "detect":
        from headstart.detection.run import evaluate_detection

        return evaluate_detection(run, data)
    clf = load(run)
    split_name, split = evaluation_data(get_task(clf.task).read(data, seed=clf.seed))
    return split_name, clf.evaluate(split)


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
    **params: Any,
) -> Ranking:
    """Score candidate models on the labelled (training and validation) part of ``data`` without training them.

    ``models`` defaults to every registered model of the task; ``NAME@random`` adds that architecture with random
    weights. ``params`` are classifier params (image_size, max_length, batch_size, precision, seed, weights, cache).
    """
    from headstart.classifier import CLASSIFIERS
    from headstart.ranking.rank import rank_models

    task = task or infer_task(data, models[0].removesuffix(RANDOM_SUFFIX) if models else None)
    if task not in CLASSIFIERS:
        raise HeadstartError(f"unknown task '{task}'; use one of {', '.join(CLASSIFIERS)}")
    clf = CLASSIFIERS[task](**params)
    columns = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
    splits = get_task(task).read(data, per_class=per_class, seed=clf.seed, **columns)
    labelled = splits.train
    if splits.val is not None and len(splits.val):
        labelled = LabeledData(
            splits.train.items + splits.val.items, splits.train.labels + splits.val.labels,
            splits.train.ids + splits.val.ids, source=splits.train.source,
        )
    models = models or [spec.name for spec in list_models(task)]
    return rank_models(labelled, models, get_task(task), clf.get_params(), scores, by, clf._feature_cache(),
                       Reporter(verbose))


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
    embedder = load_embedder(model, task or (None if model else infer_task(data)), params, Reporter(verbose))
    columns = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
    splits = embedder.task.read(data, per_class=per_class, seed=int(params.get("seed", 0)), **columns)
    embeddings = embedder.embed_splits(splits)
    if out is not None:
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
        embedder = load_embedder(model, task or (None if model else infer_task(data)), params, Reporter(verbose))
        stored = embedder.embed_splits(embedder.task.read(data, seed=int(params.get("seed", 0))))
    items = embedder.task.expand_inputs(queries)
    if not items:
        raise HeadstartError("no queries given: pass image files, folders or globs, or texts")
    index = SimilarityIndex(stored.vectors, stored.ids, stored.labels)
    found = index.search(embedder(items, "embedding (queries)"), k)
    return [(str(item), neighbours) for item, neighbours in zip(items, found, strict=True)]


DEMO_IMAGE_SIZE = 160
DEMO_SCRATCH_EPOCHS = 10


def demo(out: str | Path | None = None, verbose: bool = True) -> dict[str, TrainResult]:
    """Transfer (linear probe on EfficientNet-Lite0) against the same network trained from scratch, on the
    Fashion-MNIST sample that ships inside the package. Both run at 160 px (near 224 px accuracy for these 28 px
    photos, at a third of the time), scratch for 10 epochs, so the demo takes about two minutes on 2 cores."""
    root = Path(out) if out else default_run_dir("efficientnet_lite0", "demo")
    runs = {
        "transfer": {"strategy": "linear-probe"},
        "scratch": {"strategy": "scratch", "epochs": DEMO_SCRATCH_EPOCHS},
    }
    return {
        name: train("sample", out=root / name, verbose=verbose, baseline=name == "transfer",
                    image_size=DEMO_IMAGE_SIZE, **options)
        for name, options in runs.items()
    }
