"""Benchmark: does the ranking before training agree with the accuracy the candidates then reach?

    python bench/ranking_validation.py                 # 3 datasets, linear-probe accuracy as the truth

For each dataset, every candidate is scored on the labelled training examples (LogME, LEEP, NCE, H-score, as
`headstart rank` does) and then actually trained as a linear probe (logistic regression on its frozen features, C
cross-validated as headstart's linear-probe does) and scored on held-out test examples. The agreement between each
score and the test accuracy is the weighted Kendall's tau (scipy.stats.weightedtau: rank-weighted, so the top of
the ranking counts most); 1 means the same order.

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
from headstart.features import FeatureCache, cached_features
from headstart.models import create_backbone, get_model_spec
from headstart.ranking.rank import RANDOM_SUFFIX, score_features, split_source_head
from headstart.strategies.linear_probe import C_GRID
from headstart.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results" / "ranking_validation.jsonl"
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


def features(name: str, task_name: str, splits: DataSplits, cache: FeatureCache, seed: int):
    """(train features, test features, source probabilities of the training examples or None)."""
    if name == "tfidf":
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(splits.train.items)
        svd = TruncatedSVD(384, random_state=seed).fit(vectorizer.transform(splits.train.items))
        return (svd.transform(vectorizer.transform(splits.train.items)),
                svd.transform(vectorizer.transform(splits.test.items)), None)
    task = get_task(task_name)
    spec = get_model_spec(name.removesuffix(RANDOM_SUFFIX))
    preprocessing = task.preprocessing(spec, {})
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--datasets", default="fashion-mnist,digits,rotten-tomatoes")
    args = parser.parse_args()
    cache = FeatureCache()
    all_data = datasets(args.seed)
    for dataset_name in args.datasets.split(","):
        task_name, splits = all_data[dataset_name]
        rows = []
        for candidate in IMAGE_CANDIDATES if task_name == "image" else TEXT_CANDIDATES:
            start = time.perf_counter()
            x_train, x_test, probs = features(candidate, task_name, splits, cache, args.seed)
            scores, _ = score_features(x_train, splits.train.labels, probs, SCORES)
            accuracy = probe_accuracy(x_train, splits.train.labels, x_test, splits.test.labels, args.seed)
            rows.append({"candidate": candidate, **scores, "linear_probe_accuracy": accuracy,
                         "seconds": round(time.perf_counter() - start, 1)})
            print(json.dumps(rows[-1]), flush=True)
        truth = np.array([r["linear_probe_accuracy"] for r in rows])
        taus = {}
        for score in SCORES:
            values = [r[score] for r in rows]
            known = [i for i, v in enumerate(values) if v is not None]
            if len(known) >= 2:
                taus[score] = float(weightedtau(np.array([values[i] for i in known]), truth[known])[0])
        record = {"dataset": dataset_name, "n_train": len(splits.train), "n_test": len(splits.test),
                  "candidates": rows, "weighted_tau": taus, "truth": "linear-probe test accuracy",
                  "seed": args.seed, "machine": machine(), "commit": commit()}
        append_row(RESULTS, record)


if __name__ == "__main__":
    main()
