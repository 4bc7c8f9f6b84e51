"""Benchmark: headstart's strategies on Fashion-MNIST with few labels, scored on the official 10,000-image test split.

    python bench/fashion_mnist.py                       # the full grid (about an hour on 2 cores at 160 px)
    python bench/fashion_mnist.py --sizes 10 --strategies linear-probe

Each cell trains EfficientNet-Lite0 with one strategy on N labelled images per class (drawn with the seed; for the
strategies that select on a validation split, 20% of them become it) and scores it on all 10,000 test images.
Baselines beside them: logistic regression on raw pixels, and the issue's reference linear probe (Lite0 features
at 224 px in bf16 + logistic regression on all labelled images; ``--strategies reference-probe``). Results go to
bench/results/fashion_mnist.jsonl (one line per cell); ``python bench/report.py`` turns them into the table of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from headstart import ImageClassifier
from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.data.splits import sample_per_class
from headstart.features import extract_features
from headstart.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "fashion_mnist.jsonl"
FROZEN_BACKBONE = {"linear-probe", "head"}


def pixel_baseline(train, test) -> float:
    def flat(data):
        return np.stack([np.asarray(x, np.float32).ravel() / 255 for x in data.items])

    scaler = StandardScaler().fit(flat(train))
    clf = LogisticRegression(C=0.1, max_iter=3000).fit(scaler.transform(flat(train)), train.labels)
    return float((clf.predict(scaler.transform(flat(test))) == np.asarray(test.labels)).mean())


def reference_probe(train, test, cache: dict) -> float:
    """The issue's reference recipe: Lite0 features at 224 px in bf16, logistic regression on all labelled images
    (no validation split, no search), scored on the same test split."""
    from headstart.models import create_backbone, get_model_spec

    spec = get_model_spec("efficientnet_lite0")
    backbone = create_backbone(spec)
    task = get_task("image")

    def features(data) -> np.ndarray:
        dataset = task.inputs_dataset(data.items, None, spec.preprocessing, train=False)
        return extract_features(backbone, dataset, batch_size=128, precision="bf16")

    key = "reference-224-bf16"
    if key not in cache:
        cache[key] = features(test)
    scaler = StandardScaler().fit(x_train := features(train))
    clf = LogisticRegression(max_iter=3000).fit(scaler.transform(x_train), train.labels)
    return float((clf.predict(scaler.transform(cache[key])) == np.asarray(test.labels)).mean())


def test_features(clf: ImageClassifier, test, cache: dict) -> np.ndarray:
    """Backbone features of the test split, computed once per preprocessing (the backbone of these strategies
    is the pre-trained one, unchanged)."""
    key = json.dumps([clf.model, clf.preprocessing_], sort_keys=True, default=str)
    if key not in cache:
        dataset = get_task("image").inputs_dataset(test.items, None, clf.preprocessing_, train=False)
        cache[key] = extract_features(clf.model_.backbone, dataset, batch_size=128, precision=clf.precision)
    return cache[key]


def score(clf: ImageClassifier, test, cache: dict) -> float:
    truth = np.asarray(test.labels)
    if clf.strategy_ in FROZEN_BACKBONE:
        with torch.inference_mode():
            logits = clf.model_.head(torch.from_numpy(test_features(clf, test, cache)))
        predicted = clf.classes_[logits.argmax(1).numpy()]
        # Guard: the shortcut must agree with the public predict on a slice of the test set.
        check = slice(0, 200)
        assert (clf.predict(test.items[check]) == predicted[check]).mean() >= 0.99
    else:
        predicted = clf.predict(test.items)
    return float((predicted == truth).mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,1000", help="labelled images per class")
    parser.add_argument("--strategies", default="linear-probe,head,fine-tune,scratch")
    parser.add_argument("--model", default="efficientnet_lite0", help="the backbone of every strategy (and of auto)")
    parser.add_argument("--image-size", type=int, default=160)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--precision", default="fp32")
    parser.add_argument("--no-baselines", action="store_true")
    parser.add_argument("--out", type=Path, default=RESULTS, help="the JSON-lines file rows are appended to")
    args = parser.parse_args()

    def fit(strategy: str, splits, test, cache: dict, epochs: int | None = None) -> tuple[float, dict]:
        # auto too chooses among the one model's strategies here, so that it is judged against them. Each cell
        # starts from an empty feature cache: it pays for its own features, as a user running only it would.
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as features:
            clf = ImageClassifier(
                args.model, strategy=strategy, image_size=args.image_size, seed=args.seed,
                precision=args.precision, batch_size=32, cache=features, epochs=epochs,
            ).fit(splits)
            fit_seconds = time.perf_counter() - start
            accuracy = score(clf, test, cache)
        return accuracy, {"fit_seconds": round(fit_seconds, 1), "epochs_run": len(clf.history_),
                          **({"chosen": clf.strategy_} if strategy == "auto" else {})}

    strategies = args.strategies.split(",")
    # Every strategy once on a tiny draw, untimed, so that no timed cell pays for first-time imports and loads.
    tiny = load_fashion_mnist(per_class=4, seed=args.seed)
    for strategy in (s for s in strategies if s != "reference-probe"):
        fit(strategy, tiny, sample_per_class(tiny.test, 2, args.seed), {}, epochs=1)
    test = load_fashion_mnist().test
    cache: dict = {}
    for size in (int(s) for s in args.sizes.split(",")):
        splits = load_fashion_mnist(per_class=size, seed=args.seed)
        cells = [] if args.no_baselines else ["pixels"]
        cells += strategies
        for strategy in cells:
            start = time.perf_counter()
            if strategy == "pixels":
                accuracy, details = pixel_baseline(splits.train, test), {}
            elif strategy == "reference-probe":
                accuracy, details = reference_probe(splits.train, test, cache), {"image_size_used": 224}
            else:
                accuracy, details = fit(strategy, splits, test, cache)
            row = {
                "dataset": "fashion-mnist", "per_class": size, "strategy": strategy, "test_accuracy": accuracy,
                "seconds": round(time.perf_counter() - start, 1), "image_size": args.image_size,
                "seed": args.seed, "precision": args.precision, "n_test": len(test), "machine": machine(),
                **({} if args.model == "efficientnet_lite0" else {"model": args.model}),
                "commit": commit(), **details,
            }
            append_row(args.out, row)


if __name__ == "__main__":
    main()
