"""The run-level API the CLI is a thin layer over: train (fit, score, save), evaluate, demo."""

from __future__ import annotations

import platform
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from headstart.data.dataset import DataSplits, LabeledData
from headstart.errors import HeadstartError
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
    if splits.test is not None and len(splits.test):
        return "test", splits.test
    if splits.val is not None and len(splits.val):
        return "val", splits.val
    return "all", splits.train


def train(
    data: str | Path,
    model: str | None = None,
    strategy: str = "auto",
    *,
    task: str = "image",
    out: str | Path | None = None,
    per_class: int | None = None,
    test_per_class: int | None = None,
    **params: Any,
) -> TrainResult:
    """Fit a classifier on ``data``, score it on the test (else validation) split and save a run directory.

    ``params`` are the classifier's own (epochs, lr, batch_size, image_size, seed, precision, weights, ...).
    """
    from headstart.classifier import CLASSIFIERS

    if task not in CLASSIFIERS:
        raise HeadstartError(f"unknown task '{task}'; use one of {', '.join(CLASSIFIERS)}")
    clf = CLASSIFIERS[task](model=model, strategy=strategy, **params)
    start = time.perf_counter()
    splits = get_task(task).read(data, per_class=per_class, test_per_class=test_per_class, seed=clf.seed)
    clf.fit(splits)
    split_name, split = clf.splits_.evaluation_split()
    scores = clf.evaluate(split) if split is not None and len(split) else None
    summary = {
        "strategy": clf.strategy_,
        "strategy_reason": clf.strategy_reason_,
        "model": clf.spec_.name,
        "evaluated_on": split_name if scores else None,
        "scores": scores,
        "fit_seconds": round(clf.fit_seconds_, 2),
        "total_seconds": round(time.perf_counter() - start, 2),
        "data_args": {"data": str(data), "task": task, "per_class": per_class, "test_per_class": test_per_class},
        "warnings": clf.splits_.warnings,
        "machine": {"platform": platform.platform(), "processor": platform.processor(), "python": platform.python_version()},
    }
    clf.data_record_["args"] = summary["data_args"]
    run_dir = Path(out) if out else default_run_dir(clf.spec_.name, clf.strategy_)
    clf.save(run_dir, summary)
    return TrainResult(clf, run_dir, summary)


def evaluate(run: str | Path, data: str | Path) -> tuple[str, dict]:
    """Score a saved run on ``data`` (its test split when it has one); returns (split used, metrics)."""
    from headstart.classifier import load

    clf = load(run)
    split_name, split = evaluation_data(get_task(clf.task).read(data, seed=clf.seed))
    return split_name, clf.evaluate(split)


def demo(out: str | Path | None = None, verbose: bool = True) -> dict[str, TrainResult]:
    """Transfer (linear probe on EfficientNet-Lite0) against the same network trained from scratch, on the
    Fashion-MNIST sample that ships inside the package."""
    root = Path(out) if out else default_run_dir("efficientnet_lite0", "demo")
    results = {}
    for name, strategy in (("transfer", "linear-probe"), ("scratch", "scratch")):
        results[name] = train("sample", strategy=strategy, out=root / name, verbose=verbose)
    return results
