"""The run-level API the CLI is a thin layer over: train (fit, score, save), evaluate, rank, embed, similar, demo."""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.images import PATH_COLUMNS
from headstart.data.texts import TEXT_COLUMNS
from headstart.embedding import leakage_warnings, load_embedder
from headstart.errors import HeadstartError, Interrupted
from headstart.features.embeddings import Embeddings
from headstart.files import user_path, write_json
from headstart.models import get_model_spec, list_models
from headstart.models.layers import uncut
from headstart.progress import Reporter
from headstart.ranking.rank import RANDOM_SUFFIX, Ranking
from headstart.reports.html import write_report
from headstart.reports.predictions import save_predictions
from headstart.rundir import is_run_dir, start_run_dir
from headstart.search import Neighbour, SimilarityIndex
from headstart.tasks import get_task
from headstart.training import speed
from headstart.training.checkpoint import CHECKPOINT
from headstart.training.distributed import world

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
    path = user_path(text)
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
    resume: bool = False,
    **params: Any,
) -> TrainResult:
    """Fit a classifier on ``data``, score it on the test (else validation) split and save a run directory.

    ``task`` is inferred from the model or the data when not given. ``params`` are the classifier's own (epochs,
    lr, batch_size, image_size, max_length, seed, precision, weights, ...). With ``baseline``, a classical
    non-transfer model (logistic regression on pixels, or on TF-IDF for text) is scored on the same split. With
    ``check_leakage``, test items that repeat training items (exactly, or nearly by the pre-trained model's
    embeddings) are reported in the warnings.

    The run folder is made first and holds a checkpoint while training; a run stopped part-way (Ctrl-C, a kill,
    a crash) continues with ``train(..., out=RUN, resume=True)`` or ``headstart train --resume RUN``.
    """
    from headstart.classifier import CLASSIFIERS

    task = task or infer_task(data, model)
    if task == "detect":
        from headstart.detection.run import train_detection

        if resume:
            raise HeadstartError("--resume works for classification runs; start the detection run again")
        return train_detection(data, model, strategy, out, **params)
    if task not in CLASSIFIERS:
        raise HeadstartError(f"unknown task '{task}'; use one of {', '.join(CLASSIFIERS)}, detect")
    here = world()  # under torchrun every process trains (on its share of each batch); only the first writes
    if not here.is_main:
        params["verbose"] = False
    clf = CLASSIFIERS[task](model=model, strategy=strategy, **params)
    start = time.perf_counter()
    columns = {k: v for k, v in (("text_column", text_column), ("label_column", label_column)) if v}
    splits = get_task(task).read(data, per_class=per_class, test_per_class=test_per_class, seed=clf.seed, **columns)
    data_args = {"data": str(data), "task": task, "per_class": per_class, "test_per_class": test_per_class, **columns}
    run_dir = Path(out) if out else default_run_dir(model or "auto", strategy)
    launch = {"params": clf.get_params(), "data": {"args": data_args}, "counts": splits.counts()}
    if resume:
        check_resumable(run_dir, launch)
    elif here.is_main:
        start_run_dir(run_dir)
        write_json(run_dir / LAUNCH, {"format": LAUNCH_FORMAT, **launch})
    throughput = speed.reset()
    try:
        clf.fit(splits, checkpoint_dir=run_dir, resume=resume)
    except KeyboardInterrupt:
        again = f" --nproc {here.size}" if here.size > 1 else ""
        raise Interrupted(f"interrupted; continue with `headstart train --resume {run_dir}{again}`") from None
    split_name, split = clf.splits_.evaluation_split()
    scores, proba = clf.evaluate_with_probabilities(split) if split is not None and len(split) else (None, None)
    speed_record = speed.speed_report(throughput, model_flops(clf, clf.splits_.train.items[:4]))
    baseline_score = None
    if baseline and scores:
        name, accuracy = get_task(task).baseline(clf.splits_.train, split)
        baseline_score = {"name": name, "accuracy": accuracy}
    leakage: dict = {}
    if check_leakage and split_name == "test":
        # Near duplicates are judged on the whole pre-trained network's embeddings (the threshold was measured on
        # them), also when the run trains on a cut of it.
        embedder = load_embedder(uncut(clf.spec_.name), task, {**clf.get_params(), "verbose": False},
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
        "speed": speed_record,
        "total_seconds": round(time.perf_counter() - start, 2),
        "data_args": data_args,
        "warnings": clf.splits_.warnings,
        "leakage": leakage,
        "profile": {name: get_task(task).profile(part.items)
                    for name, part in (("train", clf.splits_.train), (split_name, split)) if scores and part is not None},
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "python": platform.python_version()},
    }
    clf.data_record_["args"] = data_args
    if not here.is_main:
        return TrainResult(clf, run_dir, summary)
    clf.save(run_dir, summary)
    if scores is not None:
        save_predictions(run_dir, get_task(task), split, clf.classes_, proba)
    write_report(run_dir)
    for name in (CHECKPOINT, LAUNCH):  # the run is complete: config.json has everything the launch record had
        (run_dir / name).unlink(missing_ok=True)
    return TrainResult(clf, run_dir, summary)


LAUNCH = "launch.json"
LAUNCH_FORMAT = "headstart-launch"


def read_launch(run_dir: str | Path) -> dict:
    """How an unfinished run was started (``params``, ``data.args``), for ``headstart train --resume RUN``."""
    root = user_path(run_dir)
    if is_run_dir(root):
        raise HeadstartError(f"{root} is a finished run; nothing to resume (train a new one with --out)")
    try:
        launch = json.loads((root / LAUNCH).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise HeadstartError(f"{root} has no readable {LAUNCH}; it is not an unfinished headstart run") from exc
    if not isinstance(launch, dict) or launch.get("format") != LAUNCH_FORMAT:
        raise HeadstartError(f"{root / LAUNCH} is not a headstart launch record; start the run again")
    return launch


def check_resumable(run_dir: Path, launch: dict) -> None:
    """Refuse to resume with other data or parameters than the run was started with."""
    saved = read_launch(run_dir)
    if saved.get("counts") != launch["counts"]:
        raise HeadstartError(
            f"the data changed since {run_dir} started ({saved.get('counts')} then, {launch['counts']} now); "
            "start a new run"
        )
    changed = sorted(k for k, v in launch["params"].items() if k != "verbose" and saved["params"].get(k) != v)
    if changed:
        raise HeadstartError(f"{', '.join(changed)} differ from the run at {run_dir}; resume with the same options")


PREDICT_CHUNK = 512


def predict(
    run: str | Path,
    inputs: list[str],
    top_k: int = 3,
    chunk: int = PREDICT_CHUNK,
    verbose: bool = False,
    runtime: str = "torch",
) -> Iterator[list[dict]]:
    """Predictions of a saved run for ``inputs`` (files, folders, globs; texts), one list of rows per ``chunk``
    inputs: each row has the input, its label and probability, and the ``top_k`` classes. Only one chunk is in
    memory at a time, so 10,000 inputs cost what 512 do. ``runtime="onnx"`` runs the run's exported ONNX file in
    ONNX Runtime (exporting it first when it is not there yet)."""
    clf = load_predictor(run, runtime, Reporter(verbose))
    items = get_task(clf.task).expand_inputs(inputs)
    k = max(1, min(top_k, len(clf.classes_)))
    starts = range(0, len(items), chunk)
    if hasattr(clf, "verbose"):
        clf.verbose = verbose and len(starts) == 1  # one bar: per batch for one chunk, else per chunk
    for start in Reporter(verbose).track(starts, len(starts), f"predicting {len(items)} inputs"):
        part = items[start : start + chunk]
        rows = []
        for item, p in zip(part, clf.predict_proba(part), strict=True):
            top = [{"label": str(clf.classes_[i]), "probability": round(float(p[i]), 6)} for i in p.argsort()[::-1][:k]]
            rows.append({"input": str(item), "label": top[0]["label"], "probability": top[0]["probability"], "top_k": top})
        yield rows
def model_flops(clf: Any, items: list[Any]) -> float:
    """FLOPs of one forward pass of the fitted model per input, counted on a few real inputs."""
    from torch.utils.data import DataLoader

    dataset = get_task(clf.task).inputs_dataset(items, None, clf.preprocessing_, train=False)
    inputs, _ = next(iter(DataLoader(dataset, batch_size=len(items), collate_fn=getattr(dataset, "collate_fn", None))))
    return speed.flops_per_input(clf.model_, inputs, len(items))


def load_predictor(run: str | Path, runtime: str = "torch", reporter: Reporter | None = None) -> Any:
    """The run's classifier or detector (torch), or its exported ONNX file in ONNX Runtime (exported now if not
    yet)."""
    from headstart.rundir import read_config

    detection = read_config(run).get("task") == "detect"
    if runtime == "torch":
        if detection:
            from headstart.detector import ObjectDetector

            return ObjectDetector.load(run)
        from headstart.classifier import load

        return load(run)
    if runtime != "onnx":
        raise HeadstartError(f"unknown runtime '{runtime}'; use torch or onnx")
    from headstart.export import export_run
    from headstart.export.runtime import OnnxDetector, OnnxModel
    from headstart.export.writer import default_export_path

    path = default_export_path(user_path(run), "onnx")
    if not path.is_file():
        (reporter or Reporter()).say(f"exporting {run} to {path} first (once; `headstart export` does it explicitly)")
        export_run(run, "onnx")
    return OnnxDetector(path) if detection else OnnxModel(path)


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
    layers: bool = False,
    **params: Any,
) -> Ranking:
    """Score candidate models on the labelled (training and validation) part of ``data`` without training them.

    ``models`` defaults to every registered model of the task; ``NAME@random`` adds that architecture with random
    weights, ``NAME@LAYER`` the network cut after that layer; ``layers=True`` scores every such cut of each
    candidate. ``params`` are classifier params (image_size, max_length, batch_size, precision, seed, weights, cache).
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
    embedder = load_embedder(model, task or (None if model else infer_task(data)), params, Reporter(verbose))
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
