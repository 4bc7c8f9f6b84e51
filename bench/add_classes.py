"""Issue 33's benchmark: adding classes to a trained run without its old images.

    python bench/add_classes.py                      # Fashion-MNIST, 100 per class, seed 0, probe and fine-tune runs

Trains a run on 5 Fashion-MNIST classes (N labelled images each), then adds the other 5 (N each) with the old images
withheld (``clf.add_classes``: a linear probe on the features the run kept and the new images' features), and scores
on 2,000 official test images (200 per class): the old classes' accuracy before and after (each model choosing among
all the classes it knows), the new classes', and all 10. Against (a) the naive way, a second fine-tune of the old
run's network on the new images alone (its head knows only the new classes, so every old image is wrong), and (b)
the ceiling, the same strategy trained on all 10 classes' images. Goal (issue 33): the old classes keep at least
95% of their accuracy and the 10-class accuracy is within 2 points of the ceiling. Rows go to
bench/results/add_classes.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from headstart import ImageClassifier
from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.models import create_backbone
from headstart.rundir import save_tensors

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "add_classes.jsonl"


def only(data: LabeledData, classes: list[str]) -> LabeledData:
    rows = [i for i, label in enumerate(data.labels) if label in classes]
    return LabeledData([data.items[i] for i in rows], [data.labels[i] for i in rows], [data.ids[i] for i in rows],
                       source=data.source)


def accuracy(estimator, test: LabeledData, classes: list[str]) -> float:
    part = only(test, classes)
    return round(float(np.mean(estimator.predict(part.items) == np.asarray(part.labels))), 4)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--strategies", default="linear-probe,fine-tune")
    parser.add_argument("--image-size", type=int, default=160)
    args = parser.parse_args()
    test = load_fashion_mnist(per_class=1, test_per_class=200, seed=0).test
    train = load_fashion_mnist(per_class=args.per_class, test_per_class=1, seed=args.seed).train
    classes = sorted(set(train.labels))
    old, new = classes[::2], classes[1::2]  # alternate: the old half has ankle boots and 4 garments
    everything = old + new
    base = {"image_size": args.image_size, "seed": args.seed, "verbose": False}
    start = time.perf_counter()
    fine_tuned = ImageClassifier("efficientnet_lite0", strategy="fine-tune", **base).fit(DataSplits(only(train, old)))
    fine_tune_seconds = round(time.perf_counter() - start, 1)
    # (a) the naive way: the old run's network fine-tuned again on the new images alone
    with tempfile.TemporaryDirectory() as folder:
        weights = Path(folder) / "old-run-backbone.safetensors"
        # a whole timm checkpoint (its ImageNet classifier included, as --weights expects) with the fine-tuned backbone
        state = create_backbone("efficientnet_lite0", keep_source_head=True).state_dict()
        state.update(fine_tuned.model_.backbone.state_dict())
        save_tensors(weights, {k: v.contiguous() for k, v in state.items()})
        start = time.perf_counter()
        naive = ImageClassifier("efficientnet_lite0", strategy="fine-tune", weights=str(weights), **base).fit(
            DataSplits(only(train, new)))
        naive_row = {"naive_seconds": round(time.perf_counter() - start, 1), "naive_old_after": accuracy(naive, test, old),
                     "naive_new_after": accuracy(naive, test, new), "naive_all_after": accuracy(naive, test, everything)}
    for strategy in args.strategies.split(","):
        row = {"dataset": "fashion-mnist", "per_class": args.per_class, "seed": args.seed, "strategy": strategy,
               "image_size": args.image_size, "old_classes": old, "new_classes": new, "n_test": len(test), **naive_row}
        if strategy == "fine-tune":
            first, row["first_fit_seconds"] = fine_tuned, fine_tune_seconds
        else:
            start = time.perf_counter()
            first = ImageClassifier("efficientnet_lite0", strategy=strategy, **base).fit(DataSplits(only(train, old)))
            row["first_fit_seconds"] = round(time.perf_counter() - start, 1)
        row["old_before"] = accuracy(first, test, old)
        start = time.perf_counter()
        first.add_classes(DataSplits(only(train, new)))
        row["add_seconds"] = round(time.perf_counter() - start, 1)
        row.update(old_after=accuracy(first, test, old), new_after=accuracy(first, test, new),
                   all_after=accuracy(first, test, everything))
        row["old_kept_share"] = round(row["old_after"] / row["old_before"], 4)
        # (b) the ceiling: the same strategy on every class's images
        start = time.perf_counter()
        ceiling = ImageClassifier("efficientnet_lite0", strategy=strategy, **base).fit(DataSplits(only(train, everything)))
        row["ceiling_seconds"] = round(time.perf_counter() - start, 1)
        row.update(ceiling_all=accuracy(ceiling, test, everything), ceiling_old=accuracy(ceiling, test, old))
        row["gap_to_ceiling"] = round(row["all_after"] - row["ceiling_all"], 4)
        append_row(RESULTS, {**row, "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()
