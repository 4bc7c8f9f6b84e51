"""Benchmark: does the ranking before training agree with the accuracy the candidates then reach?

    python bench/ranking_validation.py                 # 3 datasets, linear-probe accuracy as the truth
    python bench/ranking_validation.py --truths linear-probe,fine-tune --image-size 160   # and fine-tuned accuracy

For each dataset, every candidate is scored on the labelled training examples (LogME, LEEP, NCE, H-score, as
`headstart rank` does) and then actually trained as a linear probe (logistic regression on its frozen features, C
cross-validated as headstart's linear-probe does) and scored on held-out test examples. The agreement between each
score and the test accuracy is the weighted Kendall's tau (scipy.stats.weightedtau: rank-weighted, so the top of
the ranking counts most); 1 means the same order. With ``--truths ...,fine-tune`` each candidate is also adapted
as a whole and scored on the same test examples: the task's first adapting strategy from the pre-trained weights
(images: ``fine-tune``; text: ``contrastive``, which fine-tunes the whole encoder), ``scratch`` for ``NAME@random``;
TF-IDF has nothing to fine-tune and is left out of that truth. ``--image-size`` sets the input size of every image
candidate (scores and training alike; default: each model's own). ``--layers`` adds every pre-trained candidate
cut after each of its intermediate layers (``NAME@LAYER``), as ``headstart rank --layers`` does.

Datasets: Fashion-MNIST (100 training images per class, 200 test images per class from the official test split),
scikit-learn's handwritten digits (50 per class; the rest for test), Rotten Tomatoes (200 reviews per class; 500 per
class of the fixed test split). Candidates: EfficientNet-Lite0/1/2 and Lite0 with random weights for images;
MiniLM-L6, MiniLM-L6 with random weights, and TF-IDF (reduced to 384 dimensions by truncated SVD, so that LogME
sees a dense matrix) for text. Results are appended to bench/results/ranking_validation.jsonl.
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
from scipy.stats import weightedtau
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from headstart.data.dataset import DataSplits, LabeledData
from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.data.rotten_tomatoes import load_rotten_tomatoes
from headstart.data.splits import sample_per_class, split_validation
from headstart.estimators import estimator_for
from headstart.features import FeatureCache, cached_features
from headstart.models import create_backbone, get_model_spec
from headstart.ranking.rank import RANDOM_SUFFIX, score_features, split_source_head, with_layers
from headstart.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ranking_validation.jsonl"
C_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)  # the linear probe's grid when these rows were measured
IMAGE_CANDIDATES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "efficientnet_lite0@random"]
TEXT_CANDIDATES = ["minilm-l6", "minilm-l6@random", "tfidf"]
SCORES = ("logme", "leep", "nce", "hscore")


def digits(seed: int) -> DataSplits:
    from sklearn.datasets import load_digits

    raw = load_digits()
    images = [np.kron(img * 255 / 16, np.ones((4, 4))).astype(np.uint8) for img in raw.images]  # 32 x 32 pixels
    data = LabeledData(images, [str(t) for t in raw.target], [f"digits/{i}" for i in range(len(images))], "digits")
    train, test, _ = split_validation(data, 0.5, seed)
    return DataSplits(sample_per_class(train, 50, seed), None, test)


def datasets(seed: int) -> dict[str, tuple[str, DataSplits]]:
    fashion = load_fashion_mnist(per_class=100, seed=seed)
    fashion.test = sample_per_class(fashion.test, 200, seed)
    text = load_rotten_tomatoes(per_class=200, seed=seed)
    text.test = sample_per_class(text.test, 500, seed)
    return {"fashion-mnist": ("image", fashion), "digits": ("image", digits(seed)), "rotten-tomatoes": ("text", text)}


def features(name: str, task_name: str, splits: DataSplits, cache: FeatureCache, seed: int, params: dict):
    """(train features, test features, source probabilities of the training examples or None)."""
    if name == "tfidf":
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(splits.train.items)
        svd = TruncatedSVD(384, random_state=seed).fit(vectorizer.transform(splits.train.items))
        return (svd.transform(vectorizer.transform(splits.train.items)),
                svd.transform(vectorizer.transform(splits.test.items)), None)
    task = get_task(task_name)
    spec = get_model_spec(name.removesuffix(RANDOM_SUFFIX))
    preprocessing = task.preprocessing(spec, params)
    torch.manual_seed(seed)
    backbone = create_backbone(spec, pretrained=not name.endswith(RANDOM_SUFFIX), keep_source_head=True)
    source = None if name.endswith(RANDOM_SUFFIX) else split_source_head(backbone)

    def extract(data: LabeledData) -> np.ndarray:
        dataset = task.inputs_dataset(data.items, None, preprocessing, train=False)
        keys = [task.content_key(item) for item in data.items]
        return cached_features(backbone, dataset, keys, cache, preprocessing, batch_size=64)

    x_train, x_test = extract(splits.train), extract(splits.test)
    probs = None
    if source is not None:
        with torch.inference_mode():
            probs = torch.softmax(source(torch.from_numpy(x_train)).double(), 1).numpy()
    return x_train, x_test, probs


def probe_accuracy(x_train, y_train, x_test, y_test, seed: int) -> float:
    cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    pipeline = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    search = GridSearchCV(pipeline, {"logisticregression__C": list(C_GRID)}, cv=cv).fit(x_train, y_train)
    return float((search.predict(x_test) == np.asarray(y_test)).mean())


def fine_tuned_accuracy(name: str, task_name: str, splits: DataSplits, seed: int, params: dict) -> float | None:
    """Test accuracy once the whole candidate is adapted (see the module's docstring); None for TF-IDF."""
    if name == "tfidf":
        return None
    random_init = name.endswith(RANDOM_SUFFIX)
    strategy = "scratch" if random_init else get_task(task_name).adapting_strategies[0]
    with tempfile.TemporaryDirectory() as cache:  # every candidate pays for its own features
        clf = estimator_for(task_name)(name.removesuffix(RANDOM_SUFFIX), strategy=strategy, seed=seed, cache=cache,
                                     verbose=False, **params)
        clf.fit(DataSplits(splits.train, None, None, splits.record))  # 20% of the training examples validate
        return float((clf.predict(splits.test.items) == np.asarray(splits.test.labels)).mean())


def weighted_taus(rows: list[dict], truth: str) -> dict[str, float]:
    """Weighted Kendall's tau of every score against ``truth``, over the candidates that have both."""
    taus = {}
    for score in SCORES:
        known = [r for r in rows if r[score] is not None and r.get(truth) is not None]
        if len(known) >= 2:
            taus[score] = float(weightedtau(np.array([r[score] for r in known]), np.array([r[truth] for r in known]))[0])
    return taus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", default="fashion-mnist,digits,rotten-tomatoes")
    parser.add_argument("--truths", default="linear-probe", help="linear-probe and/or fine-tune")
    parser.add_argument("--image-size", type=int, default=None, help="input size of the image candidates")
    parser.add_argument("--layers", action="store_true", help="add each pre-trained candidate cut after every layer")
    args = parser.parse_args()
    truths = args.truths.split(",")
    cache = FeatureCache()
    all_data = datasets(args.seed)
    for dataset_name in args.datasets.split(","):
        task_name, splits = all_data[dataset_name]
        rows = []
        candidates = IMAGE_CANDIDATES if task_name == "image" else TEXT_CANDIDATES
        if args.layers:  # the cuts, as `headstart rank --layers` scores them (TF-IDF has no layers)
            candidates = [c for name in candidates for c in ([name] if name == "tfidf" else with_layers([name], {}))]
        for candidate in candidates:
            start = time.perf_counter()
            params = {"image_size": args.image_size} if task_name == "image" and args.image_size else {}
            x_train, x_test, probs = features(candidate, task_name, splits, cache, args.seed, params)
            scores, _ = score_features(x_train, splits.train.labels, probs, SCORES)
            row = {"candidate": candidate, **scores}
            if "linear-probe" in truths:
                row["linear_probe_accuracy"] = probe_accuracy(x_train, splits.train.labels, x_test,
                                                              splits.test.labels, args.seed)
            if "fine-tune" in truths:
                row["fine_tune_accuracy"] = fine_tuned_accuracy(candidate, task_name, splits, args.seed, params)
            rows.append({**row, "seconds": round(time.perf_counter() - start, 1)})
            print(json.dumps(rows[-1]), flush=True)
        record = {"dataset": dataset_name + (" + layers" if args.layers else ""),
                  "n_train": len(splits.train), "n_test": len(splits.test),
                  "candidates": rows, "image_size": args.image_size if task_name == "image" else None, "seed": args.seed,
                  "weighted_tau": weighted_taus(rows, "linear_probe_accuracy"),
                  "weighted_tau_fine_tune": weighted_taus(rows, "fine_tune_accuracy"),
                  "machine": machine(), "commit": commit()}
        append_row(RESULTS, record)


if __name__ == "__main__":
    main()
