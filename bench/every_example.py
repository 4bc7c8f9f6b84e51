"""Issue 34's benchmark: the default and the linear probe against the naive recipe, with and without a test split.

    python bench/every_example.py --label after                          # this checkout
    git worktree add /tmp/before be7eb2a                                 # the code before issue 34
    cp bench/every_example.py /tmp/before/bench/ && cd /tmp/before && PYTHONPATH=src \
        python bench/every_example.py --label before --out /work/main/bench/results/every_example.jsonl

Each cell draws N labelled examples per class with the seed (Fashion-MNIST with EfficientNet-Lite0; Rotten Tomatoes
with MiniLM-L6) and trains headstart on them as a user would: ``default`` is ``strategy="auto"`` with the model
named (``default-any-model``: without it, so auto ranks the task's models), ``linear-probe`` the probe. ``test
given`` passes the data with a test split (nothing needs setting aside); ``no test`` passes the labelled examples
alone (the run sets some aside to report a score). Every model is scored on
the same test examples it never saw: 2,000 official Fashion-MNIST test images (200 per class, seed 0), Rotten
Tomatoes' fixed 20% split. The naive recipe: the model's own preprocessing, fp32 features, scikit-learn's default
``LogisticRegression`` on every labelled example. Rows go to bench/results/every_example.jsonl.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression

import headstart
from headstart import ImageClassifier, TextClassifier
from headstart.data.dataset import DataSplits
from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.data.rotten_tomatoes import load_rotten_tomatoes
from headstart.features import FeatureCache, cached_features
from headstart.models import create_backbone, get_model_spec
from headstart.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, machine

RESULTS = Path(__file__).resolve().parent / "results" / "every_example.jsonl"


def fashion_mnist(per_class: int, seed: int) -> tuple[DataSplits, object]:
    test = load_fashion_mnist(per_class=1, test_per_class=200, seed=0).test
    return load_fashion_mnist(per_class=per_class, test_per_class=1, seed=seed), test


def rotten_tomatoes(per_class: int, seed: int) -> tuple[DataSplits, object]:
    splits = load_rotten_tomatoes(per_class=per_class, seed=seed)
    return splits, splits.test


SETS = {"fashion-mnist": ("image", "efficientnet_lite0", ImageClassifier, fashion_mnist),
        "rotten-tomatoes": ("text", "minilm-l6", TextClassifier, rotten_tomatoes)}


def naive(task_name: str, model: str, train, test, cache: FeatureCache) -> float:
    task, spec = get_task(task_name), get_model_spec(model)
    backbone, preprocessing = create_backbone(spec), task.preprocessing(spec, {})  # the model's own

    def features(data) -> np.ndarray:
        dataset = task.inputs_dataset(data.items, None, preprocessing, train=False)
        keys = [task.content_key(item) for item in data.items]
        return cached_features(backbone, dataset, keys, cache, preprocessing, precision="fp32")

    classes = sorted(set(train.labels))
    clf = LogisticRegression(max_iter=1000).fit(features(train), np.searchsorted(classes, train.labels))
    return float((clf.predict(features(test)) == np.searchsorted(classes, test.labels)).mean())


def code_version() -> str:
    folder = Path(headstart.__file__).resolve().parent
    result = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=folder,
                            check=False)
    return result.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="before or after: which code the row measures")
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--sizes", type=int, nargs="+", help="per class (default: 10 100 images, 8 16 texts)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", nargs="+", default=["naive", "default", "linear-probe"])
    parser.add_argument("--data", nargs="+", default=["test given", "no test"], choices=["test given", "no test"],
                        help="with the test split passed in, without it, or both")
    parser.add_argument("--cache", default="/tmp/headstart-bench-cache")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON-lines file rows are appended to")
    args = parser.parse_args()
    cache, version = FeatureCache(args.cache), code_version()
    for name in args.sets:
        task_name, model, estimator, load = SETS[name]
        for per_class in args.sizes or ((10, 100) if task_name == "image" else (8, 16)):
            for seed in args.seeds:
                splits, test = load(per_class, seed)
                for method in args.methods:
                    for given in args.data if method != "naive" else ("all labelled",):
                        row = {"set": name, "model": model, "per_class": per_class, "seed": seed, "method": method,
                               "data": given, "label": args.label, "n_test": len(test)}
                        start = time.perf_counter()
                        if method == "naive":
                            row["accuracy"] = naive(task_name, model, splits.train, test, cache)
                        else:
                            data = DataSplits(splits.train, None, test) if given == "test given" else \
                                DataSplits(splits.train)
                            strategy = "auto" if method.startswith("default") else method
                            named = None if method == "default-any-model" else model  # auto ranks every model
                            clf = estimator(named, strategy, seed=seed, cache=args.cache).fit(data)
                            row["accuracy"] = float((clf.predict(test.items) == np.asarray(test.labels)).mean())
                            row["strategy"] = getattr(clf, "strategy_spec_", clf.strategy_)
                            row["chosen_model"] = clf.spec_.name
                            guard = clf.fit_details_.get("auto", {}).get("guard")
                            row.update({"guard": guard} if guard else {})
                        row["seconds"] = round(time.perf_counter() - start, 1)
                        append_row(args.out, {**row, "machine": machine(), "commit": version})


if __name__ == "__main__":
    main()
