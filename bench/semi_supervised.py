"""Issue 30's benchmark: the same strategy with and without an unlabelled pool (pseudo-labels, strategies/pseudo_labels.py).

    python bench/semi_supervised.py --sizes 10 100 --seeds 0 --strategies linear-probe head
    python bench/semi_supervised.py --set rotten-tomatoes --sizes 16 64 --strategies linear-probe contrastive

Fashion-MNIST with EfficientNet-Lite0 at 160 px: N labelled images per class drawn from the official training split
with the seed; every other training image (59,900 or 59,000) is the unlabelled pool, passed with its true labels held
back (they only measure the pseudo-labels); scored on 2,000 official test images (200 per class, seed 0), the same
as bench/every_example.py. The pool's features are extracted once into the cache (--cache): the first row that uses
the pool pays for it (its ``fit_seconds`` include the extraction), the others read them. Rotten Tomatoes with
MiniLM-L6: N labelled reviews per class, the rest of the training split the pool, its fixed test split of 2,550.
Rows go to bench/results/semi_supervised.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from headstart import ImageClassifier, TextClassifier
from headstart.data.dataset import DataSplits
from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.data.rotten_tomatoes import load_rotten_tomatoes
from headstart.data.splits import sample_per_class

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "semi_supervised.jsonl"
IMAGE_SIZE = 160


def fashion_mnist(per_class: int, seed: int):
    """(labelled, pool with its true labels, test) as the docstring says."""
    full = load_fashion_mnist()
    labelled = sample_per_class(full.train, per_class, seed)
    taken = set(labelled.ids)
    pool = full.train.subset([i for i, name in enumerate(full.train.ids) if name not in taken])
    return labelled, pool, sample_per_class(full.test, 200, 0)


def rotten_tomatoes(per_class: int, seed: int):
    """Rotten Tomatoes' fixed test split (2,550 reviews); N labelled reviews per class, the other ~8,100 training
    reviews the pool."""
    full = load_rotten_tomatoes()
    labelled = sample_per_class(full.train, per_class, seed)
    taken = set(labelled.ids)
    pool = full.train.subset([i for i, name in enumerate(full.train.ids) if name not in taken])
    return labelled, pool, full.test


SETS = {"fashion-mnist": (fashion_mnist, ImageClassifier, "efficientnet_lite0", {"image_size": IMAGE_SIZE}),
        "rotten-tomatoes": (rotten_tomatoes, TextClassifier, "minilm-l6", {})}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=list(SETS), default="fashion-mnist")
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--strategies", nargs="+", default=["linear-probe", "head"])
    parser.add_argument("--pool", choices=["without", "with"], nargs="+", default=["without", "with"])
    parser.add_argument("--teacher", default="auto", help="auto, probe, propagation or both")
    parser.add_argument("--limit", type=int, help="at most this many pseudo-labels (the most confident, balanced)")
    parser.add_argument("--cache", default="/tmp/headstart-bench-cache")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    load, estimator, model, knobs = SETS[args.set]
    for per_class in args.sizes:
        for seed in args.seeds:
            labelled, pool, test = load(per_class, seed)
            for strategy in args.strategies:
                for with_pool in args.pool:
                    row = {"set": args.set, "model": model, **knobs, "per_class": per_class, "seed": seed,
                           "strategy": strategy, "pool": with_pool, "n_test": len(test),
                           "pool_size": len(pool) if with_pool == "with" else 0}
                    clf = estimator(model, strategy, seed=seed, cache=args.cache, **knobs, **(
                        {"pseudo_teacher": args.teacher, "pseudo_limit": args.limit} if with_pool == "with" else {}))
                    start = time.perf_counter()
                    clf.fit(DataSplits(labelled, None, test), unlabeled=pool if with_pool == "with" else None)
                    row["seconds"] = round(time.perf_counter() - start, 1)
                    row["fit_seconds"] = round(clf.fit_seconds_, 1)
                    row["accuracy"] = float((clf.predict(test.items) == np.asarray(test.labels)).mean())
                    record = clf.fit_details_.get("unlabeled")
                    if record:
                        row.update({key: record.get(key) for key in (
                            "pseudo_labels", "pseudo_label_accuracy", "teacher", "teacher_reason", "cv_accuracy",
                            "left_out", "limit")})
                        row["pool_seconds"] = record["seconds"]
                    append_row(args.out, {**row, "teacher_option": args.teacher, "limit_option": args.limit,
                                          "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()
