"""Issue 33's benchmark: what "fine-tune at a lower learning rate" keeps, measured.

    python bench/forgetting.py                       # Fashion-MNIST, 100 per class, seed 0, the three recipes below
    python bench/forgetting.py --variants default --seeds 0,1

Fine-tunes EfficientNet-Lite0 on N labelled Fashion-MNIST images per class with headstart's recipe (head warm-up,
gradual unfreezing, each layer group 0.85 times the rate of the one above: ``default``), without the layer-wise
decay (``no-decay``: every group at the top rate) and at a 10x higher rate (``lr-10x``), and reports beside the
test accuracy (2,000 official test images, 200 per class) what each run says it changed (summary's ``changes``):
per-group weight change and CKA, and how many of its ImageNet answers it kept on the inputs it measured. Rows go to
bench/results/forgetting.jsonl, one per run, as they finish (a run already there with the same commit is skipped).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from headstart import ImageClassifier
from headstart.data.fashion_mnist import load_fashion_mnist

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "forgetting.jsonl"
VARIANTS = {"default": ("fine-tune", None), "no-decay": ("fine-tune(layer_decay=1.0)", None),
            "lr-10x": ("fine-tune", 5e-3)}


def done(per_class: int, seed: int, variant: str, image_size: int) -> bool:
    if not RESULTS.is_file():
        return False
    for line in RESULTS.read_text().splitlines():
        row = json.loads(line)
        if (row["per_class"], row["seed"], row["variant"], row["image_size"], row["commit"]) == (
                per_class, seed, variant, image_size, commit()):
            return True
    return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--image-size", type=int, default=160)
    args = parser.parse_args()
    test = load_fashion_mnist(per_class=1, test_per_class=200, seed=0).test
    for seed in (int(s) for s in args.seeds.split(",")):
        train = load_fashion_mnist(per_class=args.per_class, test_per_class=1, seed=seed)
        train.test = None
        for variant in args.variants.split(","):
            if done(args.per_class, seed, variant, args.image_size):
                continue
            strategy, lr = VARIANTS[variant]
            start = time.perf_counter()
            clf = ImageClassifier("efficientnet_lite0", strategy=strategy, image_size=args.image_size, seed=seed,
                                  verbose=False, **({"lr": lr} if lr else {})).fit(train)
            fit_seconds = time.perf_counter() - start
            accuracy = float(np.mean(clf.predict(test.items) == np.asarray(test.labels)))
            changes = clf.fit_details_["changes"]
            groups = changes["groups"]
            append_row(RESULTS, {
                "dataset": "fashion-mnist", "per_class": args.per_class, "seed": seed, "variant": variant,
                "strategy": clf.strategy_spec_, "lr": lr or "default", "image_size": args.image_size,
                "test_accuracy": round(accuracy, 4), "n_test": len(test),
                "imagenet_answers_kept": changes["source"]["agreement"], "measured_on": changes["split"],
                "measured_inputs": changes["inputs"],
                "weight_change": {g["group"]: g["weight_change"] for g in groups},
                "cka": {g["group"]: g["cka"] for g in groups},
                "min_cka": min(g["cka"] for g in groups if g["cka"] is not None),
                "fit_seconds": round(fit_seconds, 1), "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()
