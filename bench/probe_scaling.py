"""How the linear probe should scale frozen features (issue 34): per feature, not at all, or chosen by CV.

    python bench/probe_scaling.py --sets fashion-mnist rotten-tomatoes --seeds 0 1 2

Each cell draws N labelled examples per class with the seed, extracts fp32 features with the model's preprocessing
as headstart chooses it for the input (EfficientNet-Lite0 for Fashion-MNIST, MiniLM-L6 for Rotten Tomatoes) and
scores every variant on the same test set (Fashion-MNIST's official test images, 200 per class; Rotten Tomatoes'
fixed 20% split). The variants: the naive recipe (scikit-learn's default logistic regression on raw features),
StandardScaler with the cross-validated C grid (headstart's probe until now), raw features with a wider grid, one
scale for all features (their root mean square) with the grid, and the scaling chosen by the same cross-validation
as C. Rows go to bench/results/probe_scaling.jsonl.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from headstart.data.fashion_mnist import load_fashion_mnist
from headstart.data.rotten_tomatoes import load_rotten_tomatoes
from headstart.features import FeatureCache, cached_features
from headstart.models import create_backbone, get_model_spec
from headstart.models.registry import PREPROCESSING_NOTE
from headstart.tasks import get_task

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import append_row, commit, machine

RESULTS = Path(__file__).resolve().parent / "results" / "probe_scaling.jsonl"
SETS = {  # name: (task, model, loader, sizes per class)
    "fashion-mnist": ("image", "efficientnet_lite0", lambda n, s: load_fashion_mnist(per_class=n, test_per_class=200,
                                                                                      seed=s), (10, 20, 100)),
    "rotten-tomatoes": ("text", "minilm-l6", lambda n, s: load_rotten_tomatoes(per_class=n, seed=s), (8, 16, 64)),
}
GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def variants(seed: int, folds: int) -> dict[str, object]:
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    logreg = LogisticRegression(max_iter=2000, random_state=seed)

    def search(scaler, grid=GRID, scoring=None) -> GridSearchCV:
        return GridSearchCV(Pipeline([("scale", scaler), ("clf", logreg)]), {"clf__C": list(grid)}, cv=cv,
                            scoring=scoring)

    def both(scoring=None) -> GridSearchCV:
        return GridSearchCV(Pipeline([("scale", StandardScaler()), ("clf", logreg)]),
                            {"scale": [StandardScaler(), "passthrough"], "clf__C": list(GRID)}, cv=cv, scoring=scoring)

    return {
        "naive": LogisticRegression(max_iter=2000),
        "standard_grid5": search(StandardScaler(), (0.01, 0.03, 0.1, 0.3, 1.0)),
        "standard_grid": search(StandardScaler()),
        "raw_grid": search("passthrough"),
        "rms_grid": search(RmsScaler()),
        "chosen": both(),
        "rms_c1": Pipeline([("scale", RmsScaler()), ("clf", LogisticRegression(max_iter=2000))]),
        "raw_grid_logloss": search("passthrough", scoring="neg_log_loss"),
        "rms_grid_logloss": search(RmsScaler(), scoring="neg_log_loss"),
        "standard_grid_logloss": search(StandardScaler(), scoring="neg_log_loss"),
        "chosen_logloss": both("neg_log_loss"),
        "sqrt_rms_grid_logloss": GridSearchCV(Pipeline([("power", SignedPower(0.5)), ("scale", RmsScaler()),
                                                        ("clf", logreg)]), {"clf__C": list(GRID)}, cv=cv,
                                              scoring="neg_log_loss"),
    }


class RmsScaler(TransformerMixin, BaseEstimator):
    """Divide every feature by one number: the features' root mean square on the training data."""

    def fit(self, x, y=None):
        self.scale_ = float(np.sqrt(np.mean(np.square(x)))) or 1.0
        return self

    def transform(self, x):
        return x / self.scale_


class SignedPower(TransformerMixin, BaseEstimator):
    """sign(x) |x|^power, feature by feature (Hu et al. 2021's power transform, for features of either sign)."""

    def __init__(self, power: float = 0.5):
        self.power = power

    def fit(self, x, y=None):
        return self

    def transform(self, x):
        return np.sign(x) * np.abs(x) ** self.power


def features(task, spec, backbone, data, cache, params=None) -> np.ndarray:
    preprocessing = task.preprocessing(spec, params or {}, data.items)
    preprocessing.pop(PREPROCESSING_NOTE, None)
    dataset = task.inputs_dataset(data.items, None, preprocessing, train=False)
    keys = [task.content_key(item) for item in data.items]
    return cached_features(backbone, dataset, keys, cache, preprocessing, precision="fp32", batch_size=64)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), choices=list(SETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--variants", nargs="+", help="only these recipes (default: all)")
    parser.add_argument("--sizes", type=int, nargs="+", help="per class (default: each set's three sizes)")
    parser.add_argument("--image-size", type=int, help="images: the network's input side [the model's]")
    parser.add_argument("--cache", default="/tmp/headstart-bench-cache", help="feature cache folder")
    args = parser.parse_args()
    cache = FeatureCache(args.cache)
    for name in args.sets:
        task_name, model, load, sizes = SETS[name]
        task, spec = get_task(task_name), get_model_spec(model)
        backbone = create_backbone(spec).eval()
        for per_class in args.sizes or sizes:
            for seed in args.seeds:
                splits = load(per_class, seed)
                classes = sorted(set(splits.train.labels))
                y, y_test = (np.searchsorted(classes, d.labels) for d in (splits.train, splits.test))
                params = {"image_size": args.image_size} if args.image_size and task_name == "image" else {}
                x, x_test = (features(task, spec, backbone, d, cache, params) for d in (splits.train, splits.test))
                row = {"set": name, "model": model, "per_class": per_class, "seed": seed, "n_test": len(y_test),
                       **params}
                folds = min(5, int(np.bincount(y).min()))
                chosen = {k: v for k, v in variants(seed, folds).items() if k in (args.variants or [k])}
                for variant, clf in chosen.items():
                    start = time.perf_counter()
                    with warnings.catch_warnings(), threadpool_limits(limits=1, user_api="blas"):
                        warnings.simplefilter("ignore", ConvergenceWarning)
                        clf.fit(x, y)
                    row[variant] = float((clf.predict(x_test) == y_test).mean())
                    row[variant + "_seconds"] = round(time.perf_counter() - start, 2)
                    if isinstance(clf, GridSearchCV):
                        row[variant + "_choice"] = {k: str(v) for k, v in clf.best_params_.items()}
                append_row(RESULTS, {**row, "machine": machine(), "commit": commit()})


if __name__ == "__main__":
    main()
